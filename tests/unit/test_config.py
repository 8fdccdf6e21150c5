import re
from pathlib import Path

import pytest

from hosted_engine.config import ha_state
from hosted_engine.config.host import from_values, load_host_config, require_daemon_keys
from hosted_engine.config.timing import PROFILES, load_timing
from hosted_engine.errors import ConfigError, NotDeployedError, TimingError
from hosted_engine.files import keyvalue

MINIMAL = {"host_id": "1", "sdUUID": "sd", "storage": "/srv"}


def test_minimal_conf_is_enough() -> None:
    c = from_values(MINIMAL)
    assert c.metadata_path == Path("/srv/sd/ha_agent/hosted-engine.metadata")
    assert c.domain_type == "localfs" and c.network_test == "none"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"sdUUID": "sd", "storage": "/s"}, "missing host_id"),
        ({**MINIMAL, "host_id": "0"}, "between 1 and 2000"),
        ({**MINIMAL, "host_id": "x"}, "whole number"),
        ({**MINIMAL, "domainType": "iscsi"}, "not supported"),
        ({**MINIMAL, "network_test": "icmp"}, "network_test"),
        ({**MINIMAL, "timing_profile": "slow"}, "unknown timing profile"),
        ({**MINIMAL, "timing.loop_periodd": "1"}, "unknown timing setting"),
        ({**MINIMAL, "timing.loop_period": "soon"}, "must be a number"),
    ],
)
def test_bad_values_are_one_line_errors(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        from_values(values)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotDeployedError):
        load_host_config(tmp_path / "nope.conf")


def test_profiles_are_coherent() -> None:
    for timing in PROFILES.values():
        timing.validate()


def test_incoherent_timing_names_the_rule() -> None:
    with pytest.raises(TimingError, match="host_alive_timeout >= 3 \\* publish_period"):
        load_timing("fast", {"host_alive_timeout": "1"})
    with pytest.raises(TimingError, match="vm_shutdown_grace <= engine_stop_timeout"):
        load_timing("default", {"vm_shutdown_grace": "400"})
    with pytest.raises(TimingError, match=r"timing\.loop_period must be a number of seconds"):
        load_timing("fast", {"loop_period": "0"})


def test_keyvalue_update_keeps_comments_and_skips_noop(tmp_path: Path) -> None:
    path = tmp_path / "x.conf"
    path.write_text("# keep me\na=1\n\nb=2 \n")
    assert keyvalue.update(path, {"a": "1"}) is False
    assert keyvalue.update(path, {"b": "3", "c": "4"}) is True
    assert path.read_text() == "# keep me\na=1\n\nb=3\nc=4\n"
    assert keyvalue.update(path, {"a": None}) is True
    assert keyvalue.load(path) == {"b": "3", "c": "4"}


def test_keyvalue_rejects_garbage(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=":2: expected key=value"):
        keyvalue.parse("a=1\nno equals sign\n", "f")


def test_ha_state_flags(tmp_path: Path) -> None:
    path = tmp_path / "ha.conf"
    assert ha_state.local_maintenance(path) is False
    assert ha_state.set_flags(path, local=True, manual=True, lock=tmp_path / "x.lock")
    assert ha_state.local_maintenance(path)
    assert not ha_state.set_flags(path, local=True, manual=True, lock=tmp_path / "x.lock")
    assert ha_state.to_bool("yes") and not ha_state.to_bool("0")
    with pytest.raises(ConfigError):
        ha_state.to_bool("maybe")


def test_daemons_need_a_vm_id_and_a_health_url() -> None:
    from hosted_engine.config.host import require_daemon_keys

    with pytest.raises(NotDeployedError, match="vmid is missing"):
        require_daemon_keys(from_values(MINIMAL))
    with pytest.raises(ConfigError, match="fqdn"):
        require_daemon_keys(from_values({**MINIMAL, "vmid": "v"}))
    ok = require_daemon_keys(from_values({**MINIMAL, "vmid": "v", "fqdn": "engine.example"}))
    assert ok.health_url == "http://engine.example/ovirt-engine/services/health"


# --- numbers: bounded, finite, plain ---------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "inf",
        "-inf",
        "nan",
        "NaN",
        "infinity",
        "1e300",
        "1e10",
        "86400.5",
        "0",
        "-1",
        "0.0",
        "-0.5",
        "0.001",
        "1_0",
        "0x10",
        "\u0663",
        "5 s",
        "",
    ],
)
def test_a_timing_outside_its_bounds_is_refused_naming_the_key(raw: str) -> None:
    """``timing.*=inf`` was accepted and meant a dead host never goes stale."""
    with pytest.raises(TimingError, match=r"^<config>: timing\.retry_expiration ") as info:
        from_values({**MINIMAL, "timing.retry_expiration": raw})
    assert "timing.retry_expiration" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("raw", [float("inf"), float("nan"), 1e10, 0.0, -3.0, True])
def test_a_timing_given_as_a_number_is_checked_too(raw: float) -> None:
    with pytest.raises(TimingError, match=r"timing\.loop_period"):
        load_timing("default", {"loop_period": raw})


def test_a_profile_built_by_hand_is_checked_too() -> None:
    import dataclasses

    with pytest.raises(TimingError, match=r"timing\.host_alive_timeout"):
        dataclasses.replace(PROFILES["default"], host_alive_timeout=float("inf")).validate()


@pytest.mark.parametrize("raw", ["86400", "1e3", "2.5", ".5", " 600 "])
def test_plain_numbers_within_bounds_are_accepted(raw: str) -> None:
    timing = load_timing("default", {"retry_expiration": raw})
    assert timing.retry_expiration == float(raw)


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        ("host_id", "2001", "host_id must be between 1 and 2000 (got 2001)"),
        ("host_id", "-1", "host_id must be between 1 and 2000 (got -1)"),
        ("host_id", "9" * 5000, "host_id must be between 1 and 2000"),
        ("host_id", "1_0", "host_id must be a whole number"),
        ("host_id", "\u0661", "host_id must be a whole number"),
        ("host_id", "1e3", "host_id must be a whole number"),
        ("tcp_t_port", "0", "tcp_t_port must be between 1 and 65535 (got 0)"),
        ("tcp_t_port", "65536", "tcp_t_port must be between 1 and 65535 (got 65536)"),
        ("tcp_t_port", "http", "tcp_t_port must be a whole number"),
    ],
)
def test_whole_numbers_are_plain_and_in_range(key: str, raw: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        from_values({**MINIMAL, key: raw})
    assert "\n" not in str(info.value) and len(str(info.value)) < 200


def test_ports_within_range_are_accepted() -> None:
    assert from_values({**MINIMAL, "tcp_t_port": "65535"}).tcp_t_port == 65535


@pytest.mark.parametrize("raw", ["inf", "nan", "1e10", "0", "-1"])
def test_smtp_timeout_is_finite_and_bounded(raw: str) -> None:
    from hosted_engine.config.broker_conf import parse_broker_conf

    with pytest.raises(ValueError, match="smtp-timeout"):
        parse_broker_conf(f"[email]\nsmtp-timeout = {raw}\n")


@pytest.mark.parametrize("raw", ["\u0662\u0665", "\uff12\uff15", "2_5", "+25", "0x19", "25.0"])
def test_smtp_port_is_plain_ascii_digits(raw: str) -> None:
    from hosted_engine.config.broker_conf import parse_broker_conf

    assert parse_broker_conf("[email]\nsmtp-port = 2525\n").smtp_port == 2525
    with pytest.raises(ValueError, match="smtp-port must be a whole number"):
        parse_broker_conf(f"[email]\nsmtp-port = {raw}\n")


def test_an_unknown_key_of_any_length_gives_a_short_message() -> None:
    from hosted_engine.errors import ConfigKeyError

    first = str(ConfigKeyError("k" * 100_000, {"ha": ["local_maintenance"]})).splitlines()[0]
    assert len(first) < 300 and first.endswith("(100000 characters).")
    assert str(ConfigKeyError("fqdnx", {})).startswith("Invalid configuration key fqdnx.\n")


# --- fencing timings ----------------------------------------------------------------------


def test_profiles_fence_before_the_lease_can_be_taken() -> None:
    from hosted_engine.config.timing import PROFILES

    for timing in PROFILES.values():
        assert timing.watchdog_timeout < timing.lease_timeout
        assert 2 * timing.lease_renewal + timing.storage_latency_limit <= timing.fence_after


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        ({"watchdog_timeout": "6", "lease_timeout": "6"}, "watchdog_timeout < lease_timeout"),
        ({"lease_renewal": "1.5"}, "2 * lease_renewal + storage_latency_limit"),
        ({"lease_timeout": "3.5"}, "2 * lease_renewal + storage_latency_limit"),
    ],
)
def test_incoherent_fencing_timings_are_refused(overrides: dict[str, str], rule: str) -> None:
    from hosted_engine.config.timing import load_timing
    from hosted_engine.errors import TimingError

    with pytest.raises(TimingError, match=re.escape(rule)):
        load_timing("fast", overrides)


DAEMON = {**MINIMAL, "vmid": "vm", "fqdn": "engine.example"}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("run_dir", "/" + "r" * 93),  # + /broker.socket: 108 bytes
        ("watchdog", "unix:/" + "w" * 107),
        ("sanlock_run_dir", "/" + "s" * 95),  # + /sanlock.sock: 108 bytes
    ],
)
def test_a_socket_path_too_long_for_the_kernel_is_refused_naming_the_key(
    key: str, value: str
) -> None:
    """Found with the lab under a long directory: the broker never came up, and `up`
    timed out waiting for it."""
    config = from_values({**DAEMON, key: value})  # a status reader needs no socket of its own
    with pytest.raises(ConfigError, match=f"{key} is too long for a UNIX socket") as info:
        require_daemon_keys(config)
    assert "\n" not in str(info.value)


def test_a_socket_path_of_107_bytes_is_accepted() -> None:
    config = require_daemon_keys(from_values({**DAEMON, "run_dir": "/" + "r" * 92}))
    assert len(str(config.broker_socket)) == 107
