"""Every usage example of seed 000, line by line, then the rest of the verbs' contract."""

from __future__ import annotations

import ast
import io
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest

from hosted_engine.storage.config_archive import ConfigArchive
from tests.cli.conftest import Result, assert_one_line_error, run_console

from .conftest import Cli, LabFiles, entries, members_of, tar_bytes

BROKER_LINE = (
    "broker : ['destination-emails', 'smtp-port', 'smtp-server', 'source-email', "
    "'state_transition']"
)
CHANGED = "Update failed. The configuration file was changed by somebody else, try again."


def assert_key_listing(result: Result, key: str) -> None:
    assert result.code == 1 and result.out == ""
    lines = result.err.splitlines()
    assert lines[:2] == [f"Invalid configuration key {key}.", "Available keys are:"]
    assert BROKER_LINE in lines
    assert len(lines) == 2 + 5  # one line per writable type
    assert "Traceback" not in result.err


# --- "For non duplicate keys" ---------------------------------------------------------------


def test_non_duplicate_keys(he: Cli) -> None:
    assert he("--set-shared-config", "smtp-server", "mail.lab") == Result(0, "", "")
    assert he("--set-shared-config", "smtp-server", "relay.lab", "--type", "broker") == (
        Result(0, "", "")
    )
    assert he("--get-shared-config", "smtp-server") == (
        Result(0, "\nsmtp-server : relay.lab, type : broker\n\n", "")
    )
    assert he("--get-shared-config", "smtp-server", "--type", "broker") == (
        Result(0, "\nsmtp-server : relay.lab, type : broker\n\n", "")
    )


# --- "For duplicate keys" -------------------------------------------------------------------


@pytest.fixture
def duplicate(lab_files: LabFiles) -> str:
    """smtp-server in this host's hosted-engine.conf too: a key two types have."""
    with lab_files.conf(1).open("a") as f:
        f.write("smtp-server=local-relay\n")
    return "smtp-server"


def test_duplicate_keys(he: Cli, duplicate: str, lab_files: LabFiles) -> None:
    before = lab_files.archive.path.read_bytes()
    result = he("--set-shared-config", duplicate, "x.lab")
    assert_one_line_error(result, "Duplicate key, please specify the key type.")
    assert lab_files.archive.path.read_bytes() == before

    assert he("--set-shared-config", duplicate, "x.lab", "--type", "broker") == Result(0, "", "")

    result = he("--get-shared-config", duplicate)
    assert_one_line_error(result, "Duplicate key, please specify the key type.")

    assert he("--get-shared-config", duplicate, "--type", "broker") == (
        Result(0, "\nsmtp-server : x.lab, type : broker\n\n", "")
    )
    assert he("--get-shared-config", duplicate, "--type", "he_local") == (
        Result(0, "\nsmtp-server : local-relay, type : he_local\n\n", "")
    )


# --- "For missing keys" ---------------------------------------------------------------------


def test_missing_key_with_a_type(he: Cli) -> None:
    assert_key_listing(he("--set-shared-config", "missing_key", "--type=broker"), "missing_key")


def test_missing_key_without_a_type(he: Cli) -> None:
    assert_key_listing(he("--set-shared-config", "missing_key"), "missing_key")


def test_missing_key_on_get(he: Cli) -> None:
    assert_key_listing(he("--get-shared-config", "missing_key"), "missing_key")


def test_missing_type(he: Cli) -> None:
    assert_one_line_error(
        he("--get-shared-config", "key", "--type=missing_type"),
        "Invalid configuration type missing_type, supported types are: "
        "he_local, broker, he_shared, ha, vm",
    )
    assert_one_line_error(
        he("--set-shared-config", "key", "value", "--type=missing_type"),
        "Invalid configuration type missing_type, supported types are: "
        "he_local, broker, he_shared, ha, vm",
    )


# --- "In case the archive was changed during update" ----------------------------------------


def test_a_change_between_read_and_write_is_refused(
    he: Cli, lab_files: LabFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Somebody else writes the archive after our read, just before our write."""
    real_replace = ConfigArchive.replace

    def someone_writes_first(self: ConfigArchive, *args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(ConfigArchive, "replace", real_replace)  # only once
        lab_files.shared(2).set("source-email", "other@lab")
        return real_replace(self, *args, **kwargs)

    monkeypatch.setattr(ConfigArchive, "replace", someone_writes_first)
    assert_one_line_error(he("--set-shared-config", "smtp-server", "mine.lab"), CHANGED)
    assert lab_files.shared().get("smtp-server") == ("localhost", "broker")
    assert lab_files.shared().get("source-email") == ("other@lab", "broker")
    # try again, as the message says: it lands
    assert he("--set-shared-config", "smtp-server", "mine.lab") == Result(0, "", "")
    assert lab_files.shared().get("source-email") == ("other@lab", "broker")


# --- "To get all keys and values" -----------------------------------------------------------


def test_get_all_config(he: Cli) -> None:
    result = he("--get-all-config", "--type=broker")
    assert result == Result(
        0,
        "type: broker\n"
        "destination-emails: root@localhost\n"
        "smtp-port: 25\n"
        "smtp-server: localhost\n"
        "source-email: root@localhost\n"
        "state_transition: maintenance|start|stop|up|down\n",
        "",
    )
    everything = he("--get-all-config").out.splitlines()
    assert [line for line in everything if line.startswith("type: ")] == [
        "type: he_local",
        "type: broker",
        "type: he_shared",
        "type: ha",
        "type: vm",
    ]
    assert all(": " in line for line in everything)


# --- argument errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set-shared-config"], "You must specify a key to set"),
        (["--set-shared-config", "smtp-port"], "You must specify a new value to set"),
        (["--set-shared-config", "a", "b", "c"], "--set-shared-config takes at most 2 arguments"),
        (["--get-shared-config"], "You must specify a key to get"),
        (["--get-shared-config", "a", "b"], "--get-shared-config takes at most 1 arguments"),
        (["--download-shared-config"], "You must specify a file to save the archive to"),
        (["--upload-shared-config"], "You must specify the archive file to upload"),
        (["--get-all-config", "--get-shared-config", "x"], None),
        (["--upload-shared-config", "/nonexistent/x.tar"], "cannot read /nonexistent/x.tar"),
        (["--download-shared-config", "/nonexistent/x.tar"], "cannot write /nonexistent/x.tar"),
    ],
)
def test_argument_errors_are_one_line(he: Cli, args: list[str], message: str | None) -> None:
    result = he(*args)
    assert_one_line_error(result)
    if message is not None:
        assert result.err.startswith(message)


# --- the engine VM: warned, or --force --------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_vm_key_without_a_terminal_needs_force(he: Cli, lab_files: LabFiles) -> None:
    before = lab_files.archive.path.read_bytes()
    assert_one_line_error(
        he("--set-shared-config", "memSize", "512"),
        "Refusing to change the engine VM definition without confirmation: "
        "add --force to do it non-interactively.",
    )
    assert lab_files.archive.path.read_bytes() == before
    assert he("--set-shared-config", "memSize", "512", "--force") == Result(0, "", "")
    assert lab_files.shared().get("memSize") == ("512", "vm")


@pytest.mark.parametrize(
    ("answer", "lands"), [("y\n", True), ("yes\n", True), ("n\n", False), ("", False)]
)
def test_a_vm_key_on_a_terminal_asks_first(
    he: Cli, lab_files: LabFiles, monkeypatch: pytest.MonkeyPatch, answer: str, lands: bool
) -> None:
    monkeypatch.setattr("sys.stdin", _Terminal(answer))
    result = he("--set-shared-config", "sockets", "2", "--type=vm")
    assert "Warning: you are about to change the definition of the engine VM" in result.err
    assert "Set sockets to 2? [y/N]" in result.err
    assert result.out == ""
    assert result.code == (0 if lands else 1)
    assert lab_files.shared().get("sockets")[0] == ("2" if lands else "1")


# --- download and upload --------------------------------------------------------------------


def test_download_edit_upload(he: Cli, lab_files: LabFiles, tmp_path: Path) -> None:
    saved = tmp_path / "saved.tar"
    assert he("--download-shared-config", saved) == Result(0, "", "")
    assert saved.read_bytes() == lab_files.archive.path.read_bytes()
    with tarfile.open(saved) as tar:
        assert tar.getnames() == [
            "version",
            "fhanswers.conf",
            "hosted-engine.conf",
            "broker.conf",
            "vm.conf",
        ]
    members = members_of(lab_files)
    edited = tmp_path / "edited.tar"
    # deploy writes the port as set (smtp-port = 25): the admin's edit changes that line
    broker, edits = re.subn(
        rb"(?m)^(# )?smtp-port = .*$", b"smtp-port = 2525", members["broker.conf"]
    )
    assert edits == 1
    edited.write_bytes(tar_bytes(entries(members, {"broker.conf": broker})))
    assert he("--upload-shared-config", edited) == Result(0, "", "")
    assert he("--get-shared-config", "smtp-port", host=2).out == (
        "\nsmtp-port : 2525, type : broker\n\n"
    )


# --- as real processes: exit codes, no traceback ---------------------------------------------


def test_as_a_real_process(lab_files: LabFiles) -> None:
    conf = lab_files.conf(1)
    ok = run_console("--set-shared-config", "smtp-port", "2525", "--config", conf)
    assert (ok.code, ok.out, ok.err) == (0, "", "")
    got = run_console("--get-shared-config", "smtp-port", "--config", conf)
    assert got.out == "\nsmtp-port : 2525, type : broker\n\n"
    bad = run_console("--set-shared-config", "missing_key", "--config", conf)
    assert bad.code == 1 and "Traceback" not in bad.err
    assert bad.err.startswith("Invalid configuration key missing_key.\nAvailable keys are:\n")
    refused = run_console("--set-shared-config", "memSize", "1", "--config", conf)
    assert refused.code == 1 and "add --force" in refused.err


# --- oVirt's names and output (issue 12 §1) -------------------------------------------------

OVIRT_BROKER_NAMES = [
    ("email.smtp-server", "smtp-server", "relay.example"),
    ("email.smtp-port", "smtp-port", "2525"),
    ("email.source-email", "source-email", "ha@example.com"),
    ("email.destination-emails", "destination-emails", "a@example.com, b@example.com"),
    ("notify.state_transition", "state_transition", "start|stop"),
]


@pytest.mark.parametrize(("qualified", "bare", "value"), OVIRT_BROKER_NAMES)
def test_ovirt_section_qualified_broker_names_get_and_set(
    he: Cli, lab_files: LabFiles, qualified: str, bare: str, value: str
) -> None:
    assert he("--set-shared-config", qualified, value, "--type=broker") == Result(0, "", "")
    assert lab_files.shared().get(bare) == (value, "broker")
    assert he("--get-shared-config", qualified, "--type=broker").out == (
        f"\n{qualified} : {value}, type : broker\n\n"
    )
    assert he("--get-shared-config", qualified).out == f"\n{qualified} : {value}, type : broker\n\n"


def test_smtp_timeout_is_reachable_by_its_ovirt_name(he: Cli, lab_files: LabFiles) -> None:
    assert he("--get-shared-config", "email.smtp-timeout").out == (
        "\nemail.smtp-timeout : 10, type : broker\n\n"
    )
    assert he("--set-shared-config", "email.smtp-timeout", "30") == Result(0, "", "")
    assert "smtp-timeout = 30" in lab_files.member("broker.conf")
    assert he("--get-shared-config", "email.smtp-timeout").out == (
        "\nemail.smtp-timeout : 30, type : broker\n\n"
    )
    # a bad value is refused by the broker.conf reader's own check, nothing written
    before = lab_files.archive.path.read_bytes()
    assert_one_line_error(he("--set-shared-config", "email.smtp-timeout", "soon"))
    assert lab_files.archive.path.read_bytes() == before


def test_get_prints_a_blank_line_before_and_after(he: Cli) -> None:
    """oVirt: ``print('\\n{key} : {value}, type : {type}\\n')`` (ha-anchor 5.2)."""
    assert he("--get-shared-config", "smtp-port") == (
        Result(0, "\nsmtp-port : 25, type : broker\n\n", "")
    )


OVIRT_HE_KEYS = [
    "fqdn",
    "vm_disk_id",
    "vm_disk_vol_id",
    "vmid",
    "storage",
    "mnt_options",
    "nfs_version",
    "conf",
    "host_id",
    "console",
    "domainType",
    "spUUID",
    "sdUUID",
    "connectionUUID",
    "ca_cert",
    "ca_subject",
    "vdsm_use_ssl",
    "gateway",
    "bridge",
    "metadata_volume_UUID",
    "metadata_image_UUID",
    "lockspace_volume_UUID",
    "lockspace_image_UUID",
    "conf_volume_UUID",
    "conf_image_UUID",
    "iqn",
    "portal",
    "user",
    "password",
    "port",
    "configured",
    "network_test",
    "tcp_t_address",
    "tcp_t_port",
    "iscsi_paths_blacklist",
]
OPTIONAL = ["network_test", "tcp_t_address", "tcp_t_port", "iscsi_paths_blacklist"]


@pytest.mark.parametrize("key", OPTIONAL)
def test_unset_optional_keys_read_as_none(he: Cli, lab_files: LabFiles, key: str) -> None:
    text = lab_files.conf(1).read_text()
    lab_files.conf(1).write_text(
        "".join(line for line in text.splitlines(True) if not line.startswith(f"{key}="))
    )
    assert he("--get-shared-config", key, "--type=he_local").out == (
        f"\n{key} : None, type : he_local\n\n"
    )


def test_every_ovirt_hosted_engine_conf_key_is_listed(he: Cli) -> None:
    result = he("--get-shared-config", "missing_key")
    lines = result.err.splitlines()
    for kind in ("he_local", "he_shared"):
        (line,) = [line for line in lines if line.startswith(f"{kind} : ")]
        listed = ast.literal_eval(line.split(" : ", 1)[1])  # a Python list, as oVirt
        assert set(OVIRT_HE_KEYS) <= set(listed), set(OVIRT_HE_KEYS) - set(listed)
        assert listed == sorted(listed)
    everything = he("--get-all-config", "--type=he_local").out.splitlines()
    shown = {line.split(": ", 1)[0] for line in everything[1:]}
    assert set(OVIRT_HE_KEYS) <= shown
