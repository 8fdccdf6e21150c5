"""The broker -> agent contract: round trips, versions, and malformed answers refused by name."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hosted_engine.broker_contract import (
    BREAKDOWN_KEY,
    CONTRACT_VERSION,
    MONITOR_NAMES,
    BrokerSnapshot,
    Monitors,
    Reading,
    RemoteRecord,
    ScoreBreakdown,
    VmLease,
    breakdown_from_extra,
)
from hosted_engine.errors import ContractError, ContractVersionError
from hosted_engine.vm.engine_status import EngineStatus

UP = EngineStatus("up", "good", "Up")
DOWN = EngineStatus("down", "bad", "Down", "vm not running on this host")


def snapshot(**overrides: Any) -> BrokerSnapshot:
    fields: dict[str, Any] = dict(
        host_id=1,
        broker_now=1234.5,
        global_maintenance=False,
        enough_data=True,
        hosts=(RemoteRecord(2, "host2", 3400, UP, True, False, False, "EngineUp"),),
        monitors=Monitors.from_readings(
            {
                "engine-health": Reading(DOWN, 1230.0),
                "network": Reading(1.0, 1231.0),
                "bridge": Reading(True, 1231.0),
                "mem-free": Reading(8192.0, 1231.0),
                "cpu-load": Reading(0.25, 1231.0),
                "storage-domain": Reading(False, 1232.0, "storage I/O failed: EIO"),
                "config-age": Reading(3.0, 1233.0),
            }
        ),
        vm_lease=VmLease(known=True, held=True, holder_host_id=2, holder_pid=4242),
    )
    fields.update(overrides)
    return BrokerSnapshot(**fields)


def wire(**overrides: Any) -> dict[str, Any]:
    return snapshot(**overrides).to_json()


def test_a_snapshot_survives_the_wire() -> None:
    original = snapshot()
    assert BrokerSnapshot.from_json(original.to_json()) == original
    assert original.to_json()["version"] == CONTRACT_VERSION


def test_each_monitor_keeps_its_value_time_and_error() -> None:
    decoded = BrokerSnapshot.from_json(wire())
    assert decoded.monitors.storage_domain == Reading(False, 1232.0, "storage I/O failed: EIO")
    assert decoded.monitors.engine_health.value == DOWN
    assert decoded.monitors.engine_health.measured_at == 1230.0
    assert set(wire()["monitors"]) == set(MONITOR_NAMES)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.builds(
            RemoteRecord,
            host_id=st.integers(1, 2000),
            hostname=st.text(max_size=20),
            score=st.integers(0, 3400),
            engine=st.builds(
                EngineStatus,
                st.sampled_from(["up", "down", "unknown"]),
                st.sampled_from(["good", "bad"]),
                st.text(max_size=10),
                st.none() | st.text(max_size=10),
            ),
            alive=st.booleans(),
            maintenance=st.booleans(),
            stopped=st.booleans(),
            state=st.none() | st.text(max_size=20),
        ),
        max_size=4,
    ),
    st.none() | st.booleans(),
    st.none() | st.floats(allow_nan=False, allow_infinity=False),
)
def test_round_trip_of_any_snapshot(
    hosts: list[RemoteRecord], maintenance: bool | None, network: float | None
) -> None:
    original = snapshot(
        hosts=tuple(hosts),
        global_maintenance=maintenance,
        monitors=Monitors.from_readings({"network": Reading(network, 1.0)}),
    )
    assert BrokerSnapshot.from_json(original.to_json()) == original


def test_a_monitor_the_broker_lacks_reads_as_never_measured() -> None:
    monitors = Monitors.from_readings({})
    assert monitors.config_age.value is None
    assert monitors.config_age.measured_at is None
    assert monitors.config_age.error is not None and "not monitored" in monitors.config_age.error


def test_a_broker_value_of_the_wrong_type_becomes_an_error_not_a_value() -> None:
    """The reference's 'False' string was truthy (D2): a typed field refuses it."""
    monitors = Monitors.from_readings({"storage-domain": Reading("False", 5.0)})
    assert monitors.storage_domain.value is None
    assert (
        monitors.storage_domain.error is not None and "wrong type" in monitors.storage_domain.error
    )


def test_unknown_extra_fields_are_ignored() -> None:
    data = wire()
    data["future_field"] = {"anything": 1}
    data["hosts"][0]["rack"] = "r12"
    data["monitors"]["gpu-temperature"] = {"value": 40, "measured_at": 1.0, "error": None}
    data["monitors"]["network"]["unit"] = "fraction"
    data["vm_lease"]["generation"] = 7
    data["version"] = f"{CONTRACT_VERSION.split('.')[0]}.9"  # a newer minor only adds fields
    assert BrokerSnapshot.from_json(data).hosts == snapshot().hosts


def test_a_newer_major_version_is_refused_clearly() -> None:
    data = wire()
    data["version"] = "2.0"
    with pytest.raises(ContractVersionError) as e:
        BrokerSnapshot.from_json(data)
    assert str(e.value) == (
        "the broker speaks contract version 2.0; this agent understands 1.x only "
        "(upgrade the agent along with the broker)"
    )
    assert "\n" not in str(e.value)


def _without(data: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return data


def _with(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (("version",), "version is missing"),
        (("host_id",), "host_id is missing"),
        (("hosts",), "hosts is missing"),
        (("hosts", 0, "score"), "hosts[0].score is missing"),
        (("hosts", 0, "engine", "vm"), "hosts[0].engine.vm is missing"),
        (("monitors", "engine-health"), "monitors.engine-health is missing"),
        (("monitors", "network", "measured_at"), "monitors.network.measured_at is missing"),
        (("vm_lease", "known"), "vm_lease.known is missing"),
    ],
)
def test_a_missing_field_is_named(path: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ContractError) as e:
        BrokerSnapshot.from_json(_without(wire(), path))
    assert str(e.value) == f"broker snapshot: {message}"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("host_id",), "1", "host_id must be an integer (got str)"),
        (("host_id",), True, "host_id must be an integer (got bool)"),
        (("broker_now",), None, "broker_now must be a number (got null)"),
        (("enough_data",), "False", "enough_data must be true or false (got str)"),
        (("global_maintenance",), 0, "global_maintenance must be true or false (got int)"),
        (("hosts",), {"2": {}}, "hosts must be a list (got dict)"),
        (("hosts", 0), "host2", "hosts[0] must be an object (got str)"),
        (("hosts", 0, "alive"), "yes", "hosts[0].alive must be true or false (got str)"),
        (("hosts", 0, "engine"), "up", "hosts[0].engine must be an object (got str)"),
        (("monitors",), [], "monitors must be an object (got list)"),
        (
            ("monitors", "bridge", "value"),
            "None",
            "monitors.bridge.value must be true or false (got str)",
        ),
        (
            ("monitors", "cpu-load", "value"),
            [0.5],
            "monitors.cpu-load.value must be a number (got list)",
        ),
        (
            ("monitors", "engine-health", "value", "health"),
            3,
            "monitors.engine-health.value.health must be a string (got int)",
        ),
        (("monitors", "network", "error"), 5, "monitors.network.error must be a string (got int)"),
        (
            ("vm_lease", "holder_host_id"),
            "2",
            "vm_lease.holder_host_id must be an integer (got str)",
        ),
        (("version",), "one", "version must look like 1.0 (got 'one')"),
        (("version",), 1, "version must be a string (got int)"),
    ],
)
def test_a_field_of_the_wrong_type_is_named(
    path: tuple[Any, ...], value: Any, message: str
) -> None:
    with pytest.raises(ContractError) as e:
        BrokerSnapshot.from_json(_with(wire(), path, value))
    assert str(e.value) == f"broker snapshot: {message}"


@pytest.mark.parametrize("answer", [None, "pong", 42, [1, 2], {}])
def test_an_answer_that_is_no_snapshot_at_all(answer: Any) -> None:
    with pytest.raises(ContractError):
        BrokerSnapshot.from_json(answer)


def test_a_lease_probe_that_failed_is_never_free() -> None:
    assert VmLease(known=False).free is None
    assert VmLease(known=True).free is True
    assert VmLease(known=True, held=True, holder_host_id=3).free is False
    # a holder that did not say who it is still holds the lease
    assert VmLease(known=True, held=True).free is False


# --- the score breakdown --------------------------------------------------------------------


def test_the_breakdown_fits_one_metadata_line_and_comes_back() -> None:
    breakdown = ScoreBreakdown(3400, (("network", 800), ("2 failed start attempts", 100)), None)
    text = breakdown.to_metadata()
    assert "\n" not in text and "\0" not in text
    extra = f"metadata_parse_version=1\nstate=EngineUp\n{BREAKDOWN_KEY}={text}\nstopped=False\n"
    assert breakdown_from_extra(extra) == breakdown
    assert breakdown.total == 2500
    assert str(breakdown) == "3400 - network 800 - 2 failed start attempts 100 = 2500"


def test_a_forced_zero_is_kept_with_its_reason() -> None:
    breakdown = ScoreBreakdown(3400, (("cpu load", 200),), "state LocalMaintenance")
    assert ScoreBreakdown.from_metadata(breakdown.to_metadata()) == breakdown
    assert breakdown.total == 0


def test_no_breakdown_published() -> None:
    assert breakdown_from_extra("metadata_parse_version=1\nstate=EngineUp\n") is None


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"base": "3400", "penalties": [], "zero": null}',
        '{"base": 3400, "penalties": [["network"]], "zero": null}',
        '{"base": 3400, "penalties": [["network", true]], "zero": null}',
        '{"base": 3400, "penalties": [], "zero": 0}',
    ],
)
def test_a_malformed_breakdown_is_refused(text: str) -> None:
    with pytest.raises(ContractError):
        ScoreBreakdown.from_metadata(text)
