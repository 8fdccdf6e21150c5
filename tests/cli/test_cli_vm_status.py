"""``--vm-status``: the reference's text layout (ha-anchor 7.1) and JSON shape (7.2)."""

from __future__ import annotations

import json
import time
import zlib
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


def test_zero_hosts_is_an_error(cli: Cli, domain: Domain, conf: Path) -> None:
    result = cli("--vm-status", "--config", conf)
    assert_one_line_error(result)


def test_zero_hosts_in_global_maintenance_prints_the_banner_twice_and_fails(
    cli: Cli, domain: Domain, conf: Path
) -> None:
    """How oVirt's text printer reads (ha-anchor 7.1, 7.2): it prints the banner when the
    flag is set, then one block per host of the (here empty) host dict, then the banner
    again, and its caller exits 1 because the returned host dict is empty (falsy). So:
    the banner twice on stdout and exit 1. Our one-line reason goes to stderr, where it
    cannot disturb a script reading stdout."""
    domain.set_global_maintenance(True)
    result = cli("--vm-status", "--config", conf)
    assert result.code == 1
    assert result.out == BANNER + BANNER
    assert result.err.strip().splitlines() == [
        "No host has published its status on the storage domain yet."
    ]


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


# --- records oVirt writes -------------------------------------------------------------------


def _record_slot(tokens: list[str], extra: str = "") -> bytes:
    """A slot as an oVirt writer lays it out: the record (CRC filled in when it has one),
    NUL padded to 512 bytes, then the human text."""
    if len(tokens) >= 10:
        zeroed = [*tokens[:9], "00000000", *tokens[10:]]
        tokens = [*tokens[:9], f"{zlib.crc32('|'.join(zeroed).encode()):08x}", *tokens[10:]]
    record = "|".join(tokens).encode().ljust(512, b"\0")
    return (record + extra.encode()).ljust(4096, b"\0")


OLD_EXTRA = "metadata_parse_version=1\nmetadata_feature_version=1\ntimestamp=500\nstate=EngineUp\n"


def test_engine_status_null_is_shown_as_null(cli: Cli, domain: Domain, conf: Path) -> None:
    """oVirt publishes JSON null before its engine-health monitor has a value. Its text
    printer prints the record's engine-status field as it is (the raw JSON text, which is
    why its example shows double-quoted JSON, not a Python dict), so: ``null``; its JSON
    printer parses it: ``null``. Never an invented "serialization error" status."""
    domain.write_host(1, engine="null")
    text = cli("--vm-status", "--config", conf).out
    assert "Engine status                      : null\n" in text
    assert "serialization error" not in text
    data = cli("--vm-status", "--json", "--config", conf).json
    assert data["1"]["engine-status"] is None


def test_engine_status_that_is_not_json_stays_json_in_the_output(
    cli: Cli, domain: Domain, conf: Path
) -> None:
    domain.write_host(1, engine="NaN")
    result = cli("--vm-status", "--json", "--config", conf)
    assert "NaN" not in result.out
    assert result.json["1"]["engine-status"]["vm"] == "unknown"


HEAD_KEYS = ["host-id", "host-ts", "score", "engine-status", "hostname"]


def test_an_8_field_record_shows_maintenance_and_nothing_invented(
    cli: Cli, domain: Domain, conf: Path
) -> None:
    """Before 2015 records had 8 fields; oVirt reads the tail only when present (3.1)."""
    tokens = ["1", "1", "500", "1", "2400", ENGINE_UP, "old.example.com", "1"]
    domain.write_raw(1, _record_slot(tokens, OLD_EXTRA))
    data = cli("--vm-status", "--json", "--config", conf).json
    assert list(data["1"]) == [*HEAD_KEYS, "maintenance", "extra"]
    assert data["1"]["maintenance"] is True
    text = cli("--vm-status", "--config", conf).out
    assert text == (
        "\n\n--== Host old.example.com (id: 1) status ==--\n\n"
        "Host ID                            : 1\n"
        "Host timestamp                     : 500\n"
        "Score                              : 2400\n"
        f"Engine status                      : {ENGINE_UP}\n"
        "Hostname                           : old.example.com\n"
        "Local maintenance                  : True\n"
        f"Status up-to-date                  : {NO_BROKER}\n"
        "Extra metadata (valid at timestamp):\n"
        "\tmetadata_parse_version=1\n"
        "\tmetadata_feature_version=1\n"
        "\ttimestamp=500\n"
        "\tstate=EngineUp\n"
    )


def test_a_10_field_record_shows_stopped_and_crc_but_no_conf_keys(
    cli: Cli, domain: Domain, conf: Path
) -> None:
    """2015-2016 writers: stopped and crc32, but not the two conf fields (3.1)."""
    tokens = ["1", "1", "500", "2", "3400", ENGINE_DOWN, "mid.example.com", "0", "1", ""]
    slot = _record_slot(tokens, OLD_EXTRA)
    domain.write_raw(2, slot)
    crc = slot[:512].rstrip(b"\0").decode().split("|")[9]
    data = cli("--vm-status", "--json", "--config", conf).json
    assert list(data["2"]) == [*HEAD_KEYS, "maintenance", "stopped", "crc32", "extra"]
    assert (data["2"]["stopped"], data["2"]["crc32"]) == (True, crc)
    text = cli("--vm-status", "--config", conf).out
    assert "stopped                            : True\n" in text
    assert f"crc32                              : {crc}\n" in text
    assert "conf_on_shared_storage" not in text and "local_conf_timestamp" not in text


def test_a_7_field_record_shows_only_the_head(cli: Cli, domain: Domain, conf: Path) -> None:
    domain.write_raw(1, _record_slot(["1", "1", "500", "1", "0", ENGINE_UP, "h"]))
    data = cli("--vm-status", "--json", "--config", conf).json
    assert list(data["1"]) == [*HEAD_KEYS, "extra"]


def test_old_records_through_the_broker_have_the_same_keys_plus_live_data(
    cli: Cli, domain: Domain, broker: Broker
) -> None:
    tokens = ["1", "1", "500", "1", "2400", ENGINE_UP, "old.example.com", "1"]
    domain.write_raw(1, _record_slot(tokens, OLD_EXTRA))
    broker.service.publisher.read_slots()  # requests are answered from its last read
    data = cli("--vm-status", "--json", "--config", broker.conf).json
    assert list(data["1"]) == [*HEAD_KEYS, "maintenance", "extra", "live-data"]


# --- hostile slots --------------------------------------------------------------------------

FAKE_BLOCK = "\n\n--== Host evil (id: 9) status ==--\n\nScore                              : 3400"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J\x1b[Hh", "\\x1b[2J\\x1b[Hh"),  # clear the screen
        ("h\rScore", "h\\x0dScore"),
        ("h\x85x\u2028y\u2029z\x7f\x9b", "h\\x85x\\u2028y\\u2029z\\x7f\\x9b"),
        ("h\x0bx\x0cy\x1cz\tw", "h\\x0bx\\x0cy\\x1cz\\x09w"),
        ("back\\slash", "back\\slash"),  # printable: as written
    ],
)
def test_control_characters_in_a_hostname_are_escaped(
    cli: Cli, domain: Domain, conf: Path, raw: str, shown: str
) -> None:
    domain.write_host(1, name=raw)
    out = cli("--vm-status", "--config", conf).out
    assert f"--== Host {shown} (id: 1) status ==--" in out
    assert f"Hostname                           : {shown}\n" in out
    assert raw not in out or raw == shown


def test_a_slot_cannot_fake_a_host_block_or_lines(cli: Cli, domain: Domain, conf: Path) -> None:
    domain.write_host(1)
    domain.write_host(2, name="h2" + FAKE_BLOCK.replace("\n", "\r"), state="x\u2028Score : 0")
    out = cli("--vm-status", "--config", conf).out
    headers = [line for line in out.splitlines() if line.startswith("--== Host")]
    assert [h.endswith("(id: 1) status ==--") for h in headers] == [True, False]
    assert headers[1].startswith("--== Host h2\\x0d\\x0d--== Host evil (id: 9)")
    # the layout is kept: every line outside the extra text is a label or a header
    for line in out.split("\n"):
        assert line == "" or line.startswith(("--== Host", "\t")) or line[35:37] in (": ", ":")
    assert "\tstate=x\\u2028Score : 0\n" in out
    assert "\r" not in out and "\u2028" not in out


def test_extra_lines_are_escaped_one_per_line(cli: Cli, domain: Domain, conf: Path) -> None:
    record = "|".join(["1", "1", "500", "1", "0", ENGINE_UP, "h", "0"]).encode()
    extra = "a=1\nb=\x1b]0;pwned\x07\nc=3\r\n"
    domain.write_raw(1, record.ljust(512, b"\0") + extra.encode())
    out = cli("--vm-status", "--config", conf).out
    assert out.endswith(
        "Extra metadata (valid at timestamp):\n\ta=1\n\tb=\\x1b]0;pwned\\x07\n\tc=3\\x0d\n"
    )


def test_json_output_escapes_them_as_json(cli: Cli, domain: Domain, conf: Path) -> None:
    name = "h\x1b[2J\u2028\n"
    domain.write_host(1, name=name)
    result = cli("--vm-status", "--json", "--config", conf)
    assert len(result.out.splitlines()) == 1
    assert "\x1b" not in result.out and "\u2028" not in result.out
    assert result.json["1"]["hostname"] == name


def test_engine_status_null_through_the_broker(cli: Cli, domain: Domain, broker: Broker) -> None:
    domain.write_host(1, engine="null")
    broker.service.publisher.read_slots()
    data = cli("--vm-status", "--json", "--config", broker.conf).json
    assert data["1"]["engine-status"] is None and data["1"]["live-data"] is False
    text = cli("--vm-status", "--config", broker.conf).out
    assert "Engine status                      : unknown stale-data\n" in text  # not live yet
