"""``--vm-status``: the reference's text layout (ha-anchor 7.1) and JSON shape (7.2)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from .conftest import (
    ENGINE_DOWN,
    ENGINE_UP,
    EPOCH_OFFSET,
    Broker,
    Cli,
    Domain,
    MakeConf,
    assert_one_line_error,
    write_conf,
)

BANNER = "\n\n!! Cluster is in GLOBAL MAINTENANCE mode !!\n\n"
NO_BROKER = "unknown (no local broker; read from storage)"


def _ctime(mono: int) -> str:
    return time.ctime(mono + EPOCH_OFFSET)


def reference_host_block(
    host_id: int,
    ts: int,
    conf_ts: int,
    engine: str,
    crc: str,
    state: str,
    up_to_date: str = NO_BROKER,
) -> str:
    """One host as the reference prints it, written out by hand from ha-anchor 7.1."""
    return (
        f"\n\n--== Host host{host_id}.example.com (id: {host_id}) status ==--\n\n"
        f"Host ID                            : {host_id}\n"
        f"Host timestamp                     : {ts}\n"
        f"Score                              : 3400\n"
        f"Engine status                      : {engine}\n"
        f"Hostname                           : host{host_id}.example.com\n"
        f"Local maintenance                  : False\n"
        f"stopped                            : False\n"
        f"crc32                              : {crc}\n"
        f"conf_on_shared_storage             : True\n"
        f"local_conf_timestamp               : {conf_ts}\n"
        f"Status up-to-date                  : {up_to_date}\n"
        f"Extra metadata (valid at timestamp):\n"
        f"\tmetadata_parse_version=1\n"
        f"\tmetadata_feature_version=1\n"
        f"\ttimestamp={ts} ({_ctime(ts)})\n"
        f"\thost-id={host_id}\n"
        f"\tscore=3400\n"
        f"\tvm_conf_refresh_time={conf_ts} ({_ctime(conf_ts)})\n"
        f"\tconf_on_shared_storage=True\n"
        f"\tmaintenance=False\n"
        f"\tstate={state}\n"
        f"\tstopped=False\n"
    )


def reference_hosts(
    state: str,
    up_to_date: str = NO_BROKER,
    engine1: str = ENGINE_UP,
    engine2: str = ENGINE_DOWN,
) -> str:
    """host1 and host2 of the reference's example (their CRCs are the reference's)."""
    return reference_host_block(
        1, 2964731, 2964725, engine1, "aad55945", state, up_to_date
    ) + reference_host_block(2, 1875020, 1875014, engine2, "6bd3856d", state, up_to_date)


# --- text -----------------------------------------------------------------------------------


def test_text_layout_matches_the_reference(cli: Cli, domain: Domain, conf: Path) -> None:
    domain.write_reference_hosts()
    result = cli("--vm-status", "--config", conf)
    assert result.code == 0
    assert result.out == reference_hosts("EngineUp")
    # no broker here: said once on stderr, never mixed into the layout
    assert result.err.strip().splitlines() == [
        "note: the local broker is not running; status read from storage, liveness unknown"
    ]


def test_global_maintenance_banner_before_and_after(cli: Cli, domain: Domain, conf: Path) -> None:
    domain.write_reference_hosts(state="GlobalMaintenance")
    domain.set_global_maintenance(True)
    result = cli("--vm-status", "--config", conf)
    assert result.code == 0
    assert result.out == BANNER + reference_hosts("GlobalMaintenance") + BANNER


def test_hosts_are_printed_in_host_id_order(cli: Cli, domain: Domain, conf: Path) -> None:
    for host_id in (12, 3, 7):
        domain.write_host(host_id)
    out = cli("--vm-status", "--config", conf).out
    headers = [line for line in out.splitlines() if line.startswith("--== Host")]
    assert headers == [f"--== Host host{n}.example.com (id: {n}) status ==--" for n in (3, 7, 12)]


def test_labels_are_padded_to_35_columns(cli: Cli, domain: Domain, conf: Path) -> None:
    domain.write_host(1, name="a-very-long-hostname.example.com")
    out = cli("--vm-status", "--config", conf).out
    key_lines = [
        line for line in out.splitlines() if ": " in line and not line.startswith(("\t", "--=="))
    ]
    assert key_lines
    assert all(line[35:37] == ": " for line in key_lines), key_lines
    assert "Hostname                           : a-very-long-hostname.example.com" in key_lines


def test_a_too_new_slot_is_a_warning_and_the_others_still_print(
    cli: Cli, domain: Domain, conf: Path
) -> None:
    """D4: a block from a newer writer is reported, never silently dropped or guessed at."""
    domain.write_host(1)
    domain.write_host(3)
    domain.write_host(2)
    newer = bytearray(domain.slot_bytes(2))
    newer[0:1] = b"2"  # parse version 2
    domain.write_raw(2, bytes(newer))

    result = cli("--vm-status", "--config", conf)
    assert result.code == 0
    assert "(id: 1)" in result.out
    assert "(id: 3)" in result.out
    assert "(id: 2)" not in result.out
    warnings = [line for line in result.err.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: slot 2: Metadata version 2 from host 2 too new for this agent "
        "(highest compatible version: 1)"
    ]


def test_a_corrupt_slot_is_a_warning(cli: Cli, domain: Domain, conf: Path) -> None:
    domain.write_host(1)
    domain.write_host(2)
    corrupt = bytearray(domain.slot_bytes(2))
    corrupt[30] ^= 0x01  # inside the record: the CRC no longer matches
    domain.write_raw(2, bytes(corrupt))
    result = cli("--vm-status", "--config", conf)
    assert result.code == 0
    assert "(id: 1)" in result.out and "(id: 2)" not in result.out
    assert "warning: slot 2: " in result.err
    assert "checksum" in result.err


@pytest.mark.parametrize("maintenance", [False, True])
def test_zero_hosts_is_an_error(cli: Cli, domain: Domain, conf: Path, maintenance: bool) -> None:
    domain.set_global_maintenance(maintenance)
    result = cli("--vm-status", "--config", conf)
    assert_one_line_error(result)


def test_minimal_conf_reads_the_domain(cli: Cli, domain: Domain, tmp_path: Path) -> None:
    """``host_id``, ``sdUUID`` and ``storage`` are enough (no daemon, default paths)."""
    from hosted_engine.config.host import load_host_config

    path = write_conf(
        tmp_path / "minimal.conf",
        {"host_id": 1, "sdUUID": domain.sd_uuid, "storage": domain.storage},
    )
    if load_host_config(path).broker_socket.exists():
        pytest.skip("a system broker socket exists on this machine")
    domain.write_reference_hosts()
    result = cli("--vm-status", "--config", path)
    assert result.code == 0
    assert result.out == reference_hosts("EngineUp")


# --- with a broker --------------------------------------------------------------------------


def test_text_through_the_broker_shows_its_liveness(
    cli: Cli, domain: Domain, broker: Broker
) -> None:
    """The broker has not seen anybody's timestamp move: every host is stale (7.1)."""
    domain.write_reference_hosts()
    broker.service.publisher.read_slots()  # its one read so far (requests never read)
    result = cli("--vm-status", "--config", broker.conf)
    assert result.code == 0
    assert result.err == ""
    stale = "unknown stale-data"
    assert result.out == reference_hosts("EngineUp", "False", engine1=stale, engine2=stale)


def test_json_through_the_broker_has_live_data(cli: Cli, domain: Domain, broker: Broker) -> None:
    domain.write_reference_hosts()
    broker.service.publisher.read_slots()
    result = cli("--vm-status", "--json", "--config", broker.conf)
    assert result.code == 0
    data = result.json
    assert data["1"]["live-data"] is False
    assert data["2"]["live-data"] is False
    assert list(data["1"])[-1] == "live-data"


# --- JSON -----------------------------------------------------------------------------------


def test_json_shape_matches_the_reference(cli: Cli, domain: Domain, conf: Path) -> None:
    domain.write_reference_hosts()
    result = cli("--vm-status", "--json", "--config", conf)
    assert result.code == 0
    assert len(result.out.splitlines()) == 1
    data = json.loads(result.out)
    assert list(data) == ["1", "2", "global_maintenance"]
    assert data["global_maintenance"] is False
    host1 = data["1"]
    assert list(host1) == [
        "host-id",
        "host-ts",
        "score",
        "engine-status",
        "hostname",
        "maintenance",
        "stopped",
        "crc32",
        "conf_on_shared_storage",
        "local_conf_timestamp",
        "extra",
    ]  # no "live-data": nobody could judge it without a broker
    assert host1["host-id"] == 1
    assert host1["host-ts"] == 2964731
    assert host1["score"] == 3400
    assert host1["engine-status"] == {"vm": "up", "health": "good", "detail": "Up"}
    assert host1["hostname"] == "host1.example.com"
    assert host1["maintenance"] is False
    assert host1["stopped"] is False
    assert host1["crc32"] == "aad55945"
    assert host1["conf_on_shared_storage"] is True
    assert host1["local_conf_timestamp"] == 2964725
    assert host1["extra"].startswith("metadata_parse_version=1\nmetadata_feature_version=1\n")
    assert host1["extra"].endswith("maintenance=False\nstate=EngineUp\nstopped=False\n")
    assert data["2"]["engine-status"] == json.loads(ENGINE_DOWN)
    assert data["2"]["crc32"] == "6bd3856d"


def test_json_global_maintenance(cli: Cli, domain: Domain, conf: Path) -> None:
    domain.write_reference_hosts()
    domain.set_global_maintenance(True)
    data = cli("--vm-status", "--json", "--config", conf).json
    assert data["global_maintenance"] is True
    assert list(data) == ["1", "2", "global_maintenance"]


def test_json_with_zero_hosts_is_still_an_object(cli: Cli, domain: Domain, conf: Path) -> None:
    result = cli("--vm-status", "--json", "--config", conf)
    assert result.code == 0
    assert result.json == {"global_maintenance": False}


def test_json_warnings_stay_off_stdout(cli: Cli, domain: Domain, conf: Path) -> None:
    domain.write_host(1)
    domain.write_raw(2, b"2|" + b"x" * 600)
    result = cli("--vm-status", "--json", "--config", conf)
    assert result.code == 0
    assert list(result.json) == ["1", "global_maintenance"]
    assert "warning: slot 2: Metadata version 2" in result.err


def _unreadable_storage(domain: Domain, make_conf: MakeConf) -> Path:
    domain.metadata.unlink()
    domain.metadata.mkdir()  # opening it for reading fails
    return make_conf()


@pytest.mark.parametrize("case", ["missing-conf", "bad-conf", "no-domain", "unreadable-storage"])
def test_json_errors_are_json_objects(
    cli: Cli, domain: Domain, make_conf: MakeConf, tmp_path: Path, case: str
) -> None:
    """D9: the reference printed a Python repr here; we print {"error": "..."}."""
    if case == "missing-conf":
        path = tmp_path / "absent.conf"
    elif case == "bad-conf":
        path = tmp_path / "bad.conf"
        path.write_text("host_id=1\n!!!\n")
    elif case == "no-domain":
        path = make_conf(sdUUID="not-created")
    else:
        path = _unreadable_storage(domain, make_conf)
    result = cli("--vm-status", "--json", "--config", path)
    assert result.code != 0
    assert len(result.out.splitlines()) == 1
    data = json.loads(result.out)
    assert list(data) == ["error"]
    assert isinstance(data["error"], str) and data["error"]
    assert "Traceback" not in result.err
