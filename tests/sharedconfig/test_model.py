"""The typed model: key lookup, get/set semantics, formats that keep what they don't own."""

from __future__ import annotations

from pathlib import Path

import pytest

from hosted_engine.config import ini
from hosted_engine.errors import (
    ConfigError,
    ConfigKeyError,
    ConfigTypeError,
    DuplicateConfigKeyError,
    HostedEngineError,
    UsageError,
)
from hosted_engine.lab.layout import host_config_path

from .conftest import LabFiles

BROKER_KEYS = ["destination-emails", "smtp-port", "smtp-server", "source-email", "state_transition"]


# --- INI edits ------------------------------------------------------------------------------


def test_ini_set_replaces_in_place_and_keeps_comments() -> None:
    text = "# head\n[email]\n# the relay\nsmtp-port = 25\nsmtp-server = a\n\n[notify]\nx = 1\n"
    new = ini.set_option(text, "email", "smtp-port", "2525", "t")
    assert new == text.replace("smtp-port = 25", "smtp-port = 2525")


def test_ini_set_goes_after_the_commented_default() -> None:
    text = "[email]\n# smtp-server = localhost\n# smtp-port = 25\n\n[notify]\n"
    new = ini.set_option(text, "email", "smtp-port", "2525", "t")
    assert (
        new
        == "[email]\n# smtp-server = localhost\n# smtp-port = 25\nsmtp-port = 2525\n\n[notify]\n"
    )


def test_ini_set_appends_a_missing_section() -> None:
    assert ini.set_option("[email]\n", "notify", "state_transition", "up", "t") == (
        "[email]\n\n[notify]\nstate_transition = up\n"
    )


def test_ini_set_drops_the_continuation_lines_of_the_old_value() -> None:
    text = "[email]\ndestination-emails = a@x,\n  b@x\nsmtp-port = 25\n"
    new = ini.set_option(text, "email", "destination-emails", "c@x", "t")
    assert new == "[email]\ndestination-emails = c@x\nsmtp-port = 25\n"


def test_ini_matches_option_names_as_configparser_does() -> None:
    new = ini.set_option("[email]\nSMTP-Port: 25\n", "email", "smtp-port", "26", "t")
    assert new == "[email]\nsmtp-port = 26\n"


def test_ini_errors_are_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        ini.parse("no header\n", "broker.conf")
    assert "\n" not in str(info.value)


# --- lookup ---------------------------------------------------------------------------------


def test_the_five_types_in_the_references_order(lab_files: LabFiles) -> None:
    assert lab_files.shared().type_names == ("he_local", "broker", "he_shared", "ha", "vm")


def test_broker_keys_are_exactly_the_seeds(lab_files: LabFiles) -> None:
    assert lab_files.shared().keys("broker") == {"broker": BROKER_KEYS}


def test_a_unique_key_is_found_without_a_type(lab_files: LabFiles) -> None:
    shared = lab_files.shared()
    assert shared.get("smtp-port") == ("25", "broker")
    assert shared.get("memSize") == ("256", "vm")
    assert shared.get("local_maintenance") == ("False", "ha")


def test_a_key_in_two_types_needs_the_type(lab_files: LabFiles) -> None:
    shared = lab_files.shared()
    with pytest.raises(DuplicateConfigKeyError, match=r"^Duplicate key, please specify"):
        shared.get("fqdn")
    assert shared.get("fqdn", "he_shared") == ("127.0.0.1", "he_shared")
    assert shared.get("hostname", "he_local") == ("host1.lab", "he_local")


def test_an_unknown_key_lists_every_types_keys(lab_files: LabFiles) -> None:
    with pytest.raises(ConfigKeyError) as info:
        lab_files.shared().get("missing_key", "broker")
    lines = str(info.value).splitlines()
    assert lines[:2] == ["Invalid configuration key missing_key.", "Available keys are:"]
    assert [line.split(" : ")[0] for line in lines[2:]] == [
        "he_local",
        "broker",
        "he_shared",
        "ha",
        "vm",
    ]
    assert f"broker : {BROKER_KEYS!r}" in lines


def test_an_unknown_type_names_the_supported_ones(lab_files: LabFiles) -> None:
    with pytest.raises(ConfigTypeError) as info:
        lab_files.shared().get("smtp-port", "missing_type")
    assert str(info.value) == (
        "Invalid configuration type missing_type, supported types are: "
        "he_local, broker, he_shared, ha, vm"
    )


# --- set ------------------------------------------------------------------------------------


def test_setting_the_current_value_writes_nothing(lab_files: LabFiles) -> None:
    """D8: no duplicate line, no new archive, not even a new version member."""
    shared = lab_files.shared()
    before = lab_files.archive.path.read_bytes()
    assert shared.set("smtp-port", "25") is None  # the default, not in the file
    assert shared.set("memSize", "256") is None
    assert shared.set("minAllocatedMem", "256") is None  # effective value of an absent key
    assert shared.set("fqdn", " 127.0.0.1 ", "he_shared") is None
    assert lab_files.archive.path.read_bytes() == before
    conf = lab_files.conf(1).read_text()
    assert shared.set("hostname", "host1.lab", "he_local") is None
    assert lab_files.conf(1).read_text() == conf


def test_a_broker_set_keeps_every_comment_and_other_line(lab_files: LabFiles) -> None:
    shared = lab_files.shared()
    old = lab_files.member("broker.conf")
    change = shared.set("smtp-port", "2525")
    assert change is not None and change.config_type == "broker"
    new = lab_files.member("broker.conf")
    # deploy wrote the port (smtp-port = 25): that line alone changes, in place
    assert "smtp-port = 25" in old.splitlines()
    assert new.splitlines() == [
        "smtp-port = 2525" if line == "smtp-port = 25" else line for line in old.splitlines()
    ]
    assert shared.get("smtp-port") == ("2525", "broker")
    assert lab_files.archive.read().checksum == change.after


def test_a_set_on_one_host_is_read_on_another(lab_files: LabFiles) -> None:
    lab_files.shared(1).set("source-email", "ha@lab")
    assert lab_files.shared(2).get("source-email") == ("ha@lab", "broker")


def test_a_set_validates_the_whole_file_as_its_reader_would(lab_files: LabFiles) -> None:
    shared = lab_files.shared()
    before = lab_files.archive.path.read_bytes()
    cases = [
        ("smtp-port", "abc", "broker", "smtp-port must be a whole number"),
        ("smtp-port", "70000", "broker", "out of range"),
        ("state_transition", "(", "broker", "not a valid regex"),
        ("memSize", "lots", "vm", "memSize must be a whole number"),
        ("minAllocatedMem", "512", "vm", "cannot exceed memSize"),
        ("nic1.macAddr", "00:16:3e", "vm", "not a MAC address"),
        ("nic1.linkActive", "maybe", "vm", "must be true or false"),
        ("sockets", "", "vm", "cannot be empty"),
        ("network_test", "icmp", "he_shared", "network_test must be one of"),
        ("timing_profile", "slow", "he_shared", "unknown timing profile"),
        ("smtp-server", "a\nb", "broker", "one line of printable text"),
    ]
    for key, value, kind, message in cases:
        with pytest.raises(HostedEngineError, match=message) as info:
            shared.set(key, value, kind)
        assert "\n" not in str(info.value)
    assert lab_files.archive.path.read_bytes() == before


def test_identity_keys_are_readable_but_never_set(lab_files: LabFiles) -> None:
    shared = lab_files.shared()
    for key in ("host_id", "sdUUID", "storage", "domainType", "vmid"):
        for kind in ("he_local", "he_shared"):
            shared.get(key, kind)
            with pytest.raises(UsageError, match=f"Configuration key {key} of type {kind} cannot"):
                shared.set(key, "2", kind)


def test_a_vm_set_changes_only_that_key(lab_files: LabFiles) -> None:
    shared = lab_files.shared()
    old = lab_files.member("vm.conf")
    shared.set("memSize", "512")
    shared.set("nic1.network", "storage-net")
    new = lab_files.member("vm.conf")
    assert new == old.replace("memSize=256", "memSize=512").replace(
        "nic1.network=lo", "nic1.network=storage-net"
    )


def test_he_local_is_this_hosts_file_and_keeps_its_comments(lab_files: LabFiles) -> None:
    shared = lab_files.shared()
    shared.set("bridge", "ovirtmgmt", "he_local")
    text = lab_files.conf(1).read_text()
    assert text.startswith("# hosted-engine.conf, written by hosted-engine-host-deploy\n")
    assert "bridge=ovirtmgmt\n" in text and text.count("bridge=") == 1
    assert "bridge=lo" in host_config_path(lab_files.dir, 2).read_text()
    assert "bridge=lo" in lab_files.member("hosted-engine.conf")


def test_a_new_known_key_is_appended_to_he_local(lab_files: LabFiles) -> None:
    assert "tcp_t_address=" not in lab_files.conf(1).read_text()  # deploy sets the gateway
    lab_files.shared().set("tcp_t_address", "192.0.2.1", "he_local")
    assert lab_files.conf(1).read_text().endswith("tcp_t_address=192.0.2.1\n")


def test_ha_flags_are_booleans_in_the_local_state_file(lab_files: LabFiles) -> None:
    shared = lab_files.shared()
    change = shared.set("local_maintenance", "True")
    assert change is not None and change.config_type == "ha"
    ha_conf: Path = lab_files.config(1).ha_state_path
    assert ha_conf.read_text() == "local_maintenance=True\n"
    with pytest.raises(ConfigError, match="local_maintenance must be True or False"):
        shared.set("local_maintenance", "perhaps")
    assert ha_conf.read_text() == "local_maintenance=True\n"


def test_get_all_lists_every_type_with_sorted_keys(lab_files: LabFiles) -> None:
    everything = lab_files.shared().get_all()
    assert list(everything) == ["he_local", "broker", "he_shared", "ha", "vm"]
    for values in everything.values():
        assert list(values) == sorted(values)
    assert everything["broker"] == {
        "destination-emails": "root@localhost",
        "smtp-port": "25",
        "smtp-server": "localhost",
        "source-email": "root@localhost",
        "state_transition": "maintenance|start|stop|up|down",
    }
    assert lab_files.shared().get_all("ha") == {
        "ha": {"local_maintenance": "False", "local_maintenance_manual": "False"}
    }


def test_upload_of_the_same_content_writes_nothing(lab_files: LabFiles) -> None:
    shared = lab_files.shared()
    data = shared.download()
    assert shared.upload(data, "same.tar") is None
    assert lab_files.archive.path.read_bytes() == data
