"""The admin's verbs on the engine VM's OVF: show, get/set (only the edited element changes),
download and upload (backup and restore), and the upgrade path from a legacy vm.conf."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from hosted_engine.broker.config_cache import ConfigCache
from hosted_engine.clock import FakeClock
from hosted_engine.files import keyvalue
from hosted_engine.storage.ovf_store import member_name
from hosted_engine.vm.ovf import parse_ovf
from tests.cli.conftest import Result, assert_one_line_error, run_console
from tests.ovf.ovf_helpers import changed_elements, root_of, select, select_optional

from .conftest import REFERENCE_DATA, Cli, StoreFiles, reference_ovf, store_tar

He = Callable[[StoreFiles], Cli]
MEMORY = "//Item[rasd:ResourceType='4']/rasd:VirtualQuantity"
NIC = "(//Item[Type='interface'])[1]"
JSON_KEYS = {
    "vmId",
    "vmName",
    "memSize",
    "minAllocatedMem",
    "sockets",
    "coresPerSocket",
    "threadsPerCore",
    "maxVCpus",
    "cpuType",
    "emulatedMachine",
    "display",
    "smp",
    "bootImageId",
    "nics",
    "source",
}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def refresh_cache(lab: StoreFiles, host_id: int = 1) -> None:
    assert ConfigCache.for_host(lab.config(host_id), FakeClock()).refresh().error is None


# --- --show-vm-definition -------------------------------------------------------------------


def test_show_reads_storage_before_the_broker_cached_anything(
    he: He, lab_files: StoreFiles
) -> None:
    result = he(lab_files)("--show-vm-definition", "--json")
    assert result.code == 0 and result.err == ""
    shown = result.json
    assert set(shown) == JSON_KEYS
    assert shown["vmId"] == lab_files.vm_id and shown["source"] == "ovf"
    assert (shown["memSize"], shown["minAllocatedMem"], shown["sockets"]) == (256, 256, 1)
    assert (shown["coresPerSocket"], shown["threadsPerCore"]) == (1, 1)
    assert shown["nics"] == [
        {
            "macAddr": "00:16:3e:00:00:01",
            "network": "lo",
            "model": "virtio",
            "linkActive": True,
        }
    ]
    text = he(lab_files)("--show-vm-definition")
    assert text.err == "note: no definition cached on this host yet; read from storage\n"
    assert f"vmId: {lab_files.vm_id}\n" in text.out
    assert "memSize: 256\n" in text.out and "nic1.linkActive: true\n" in text.out
    assert text.out.endswith("source: ovf\n") and "maxVCpus" not in text.out


def test_show_gives_the_cached_definition_the_agent_would_start(
    he: He, lab_files: StoreFiles
) -> None:
    refresh_cache(lab_files)
    lab_files.shared(2).set("memSize", "512", "vm")  # not in host 1's cache yet
    cached = he(lab_files)("--show-vm-definition", "--json")
    assert (cached.json["memSize"], cached.err) == (256, "")
    refresh_cache(lab_files)
    assert he(lab_files)("--show-vm-definition", "--json").json["memSize"] == 512


def test_show_on_a_legacy_domain_names_the_vm_conf(he: He, legacy_lab: StoreFiles) -> None:
    assert he(legacy_lab)("--show-vm-definition", "--json").json["source"] == "vm.conf"
    refresh_cache(legacy_lab)
    assert he(legacy_lab)("--show-vm-definition", "--json").json["source"] == "vm.conf"


def test_show_with_a_corrupt_store_shows_the_fallback_and_warns(
    he: He, lab_files: StoreFiles
) -> None:
    lab_files.write_copies(b"garbage")
    result = he(lab_files)("--show-vm-definition", "--json")
    assert result.code == 0 and result.json["source"] == "vm.conf"
    assert result.err.startswith("warning: the OVF_STORE cannot be used")
    assert len(result.err.splitlines()) == 1


# --- --get/--set-shared-config --type vm on the OVF ------------------------------------------


def test_get_reads_the_ovf_with_the_json_key_names(he: He, lab_files: StoreFiles) -> None:
    lab_files.shared(1).set("memSize", "384", "vm")
    assert he(lab_files)("--get-shared-config", "memSize", "--type", "vm").out == (
        "\nmemSize : 384, type : vm\n\n"
    )
    assert he(lab_files)("--get-shared-config", "nic1.model").out == (
        "\nnic1.model : virtio, type : vm\n\n"
    )
    assert "memSize=256" in lab_files.member("vm.conf")  # the fallback is not the definition


@pytest.mark.parametrize(
    ("key", "value", "xpaths"),
    [
        ("memSize", "8192", [MEMORY]),
        (
            "nic1.network",
            "storage-net",
            [f"{NIC}/rasd:Connection", f"{NIC}/rasd:OtherResourceType"],
        ),
        ("nic1.model", "e1000", [f"{NIC}/rasd:ResourceSubType"]),
        ("nic1.linkActive", "false", [f"{NIC}/rasd:Linked"]),
        ("coresPerSocket", "2", ["//Item[rasd:ResourceType='3']/rasd:cpu_per_socket"]),
    ],
)
@pytest.mark.parametrize("ovf", ["lab", "ovf_test.xml"])
def test_a_cli_edit_changes_only_the_edited_element(
    he: He, lab_files: StoreFiles, ovf: str, key: str, value: str, xpaths: list[str]
) -> None:
    if ovf != "lab":
        data = reference_ovf(ovf, lab_files.vm_id)
        lab_files.store.put_vm_ovf(lab_files.vm_id, data, ovf, overwrite=True)
    before = lab_files.vm_ovf()

    assert he(lab_files)("--set-shared-config", key, value, "--type=vm", "--force") == (
        Result(0, "", "")
    )

    after = lab_files.vm_ovf()
    expected = set().union(*(select(root_of(before), xpath) for xpath in xpaths))
    if key == "coresPerSocket":  # the CPU Item also holds the vCPU total
        expected |= select_optional(
            root_of(before), "//Item[rasd:ResourceType='3']/rasd:VirtualQuantity"
        )
    assert changed_elements(root_of(before), root_of(after)) == expected
    assert (
        he(lab_files)("--get-shared-config", key, "--type=vm").out
        == f"\n{key} : {value}, type : vm\n\n"
    )
    assert lab_files.vm_ovf(1) == after


def test_a_set_keeps_every_other_member_and_both_copies_equal(
    he: He, lab_files: StoreFiles
) -> None:
    ours = member_name(lab_files.vm_id)
    other = reference_ovf("ovf_test_v4.2.xml", "b4491372-0000-4000-8000-000000000001")
    lab_files.write_copies(
        store_tar({"info.json": b'{"x": 1}', "b4491372.ovf": other, ours: lab_files.vm_ovf()})
    )
    assert he(lab_files)("--set-shared-config", "memSize", "512", "--force").code == 0
    for index in (0, 1):
        members = lab_files.copy_members(index)
        assert list(members) == ["info.json", "b4491372.ovf", ours]
        assert members["info.json"] == b'{"x": 1}' and members["b4491372.ovf"] == other
    assert lab_files.copy_bytes()[0] == lab_files.copy_bytes()[1]


def test_bad_values_are_refused_and_change_nothing(he: He, lab_files: StoreFiles) -> None:
    before = lab_files.copy_bytes()
    for key, value, message in [
        ("memSize", "lots", "memory Item rasd:VirtualQuantity (MiB) must be a whole number"),
        ("memSize", "99999999999", "must be between"),
        ("minAllocatedMem", "512", "is more than the memory"),
        ("nic1.macAddr", "00:16:3e", "is not a MAC address"),
        ("nic1.model", "ne2k", "is not a NIC model"),
        ("sockets", "", "cannot be empty"),
        ("nic2.model", "e1000", "Invalid configuration key nic2.model."),
    ]:
        result = he(lab_files)("--set-shared-config", key, value, "--type=vm", "--force")
        assert result.code == 1 and result.out == "" and "Traceback" not in result.err
        assert message in result.err, (key, result.err)
        if not key.startswith("nic2"):
            assert len(result.err.splitlines()) == 1
    assert lab_files.copy_bytes() == before


def test_a_vm_set_without_a_terminal_needs_force(he: He, lab_files: StoreFiles) -> None:
    before = lab_files.copy_bytes()
    assert_one_line_error(
        he(lab_files)("--set-shared-config", "memSize", "512"),
        "Refusing to change the engine VM definition without confirmation: "
        "add --force to do it non-interactively.",
    )
    assert lab_files.copy_bytes() == before


def test_a_concurrent_ovf_change_is_refused(
    he: He, lab_files: StoreFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hosted_engine.storage.ovf_store import OvfStore

    real_replace = OvfStore.replace

    def someone_writes_first(self: OvfStore, *args: object, **kwargs: object) -> None:
        monkeypatch.setattr(OvfStore, "replace", real_replace)
        lab_files.shared(2).set("sockets", "2", "vm")
        real_replace(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(OvfStore, "replace", someone_writes_first)
    assert_one_line_error(
        he(lab_files)("--set-shared-config", "memSize", "512", "--force"),
        "Update failed. The configuration file was changed by somebody else, try again.",
    )
    assert lab_files.shared().get("sockets") == ("2", "vm")
    assert lab_files.shared().get("memSize") == ("256", "vm")


# --- --download-vm-ovf / --upload-vm-ovf -------------------------------------------------------


def test_download_then_upload_restores_the_definition(
    he: He, lab_files: StoreFiles, tmp_path: Path
) -> None:
    backup = tmp_path / "engine.ovf"
    assert he(lab_files)("--download-vm-ovf", backup) == Result(0, "", "")
    assert backup.read_bytes() == lab_files.vm_ovf()
    lab_files.shared(1).set("memSize", "1024", "vm")

    assert he(lab_files)("--upload-vm-ovf", backup, "--force") == Result(0, "", "")

    assert lab_files.vm_ovf() == lab_files.vm_ovf(1) == backup.read_bytes()
    assert lab_files.shared(2).get("memSize") == ("256", "vm")


def test_upload_of_the_same_ovf_writes_nothing(
    he: He, lab_files: StoreFiles, tmp_path: Path
) -> None:
    backup = tmp_path / "engine.ovf"
    backup.write_bytes(lab_files.vm_ovf())
    inodes = [p.stat().st_ino for p in lab_files.store.paths]
    assert he(lab_files)("--upload-vm-ovf", backup, "--force").code == 0
    assert [p.stat().st_ino for p in lab_files.store.paths] == inodes


def test_upload_restores_a_domain_without_an_ovf_store(
    he: He, legacy_lab: StoreFiles, tmp_path: Path
) -> None:
    upload = tmp_path / "engine.ovf"
    upload.write_bytes(reference_ovf("ovf_test_v4.2.xml", legacy_lab.vm_id))
    assert he(legacy_lab)("--upload-vm-ovf", upload, "--force") == Result(0, "", "")
    assert legacy_lab.vm_ovf() == upload.read_bytes()
    assert (
        he(legacy_lab)("--get-shared-config", "memSize").out == "\nmemSize : 16384, type : vm\n\n"
    )


@pytest.mark.parametrize(("answer", "lands"), [("y\n", True), ("n\n", False), ("", False)])
def test_upload_on_a_terminal_asks_first(
    he: He,
    lab_files: StoreFiles,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    lands: bool,
) -> None:
    upload = tmp_path / "engine.ovf"
    upload.write_bytes(reference_ovf("ovf_test.xml", lab_files.vm_id))
    monkeypatch.setattr("sys.stdin", _Terminal(answer))
    result = he(lab_files)("--upload-vm-ovf", upload)
    assert "Warning: you are about to change the definition of the engine VM" in result.err
    assert f"Replace the engine VM definition with {upload} (4096 MiB, 1x1x1 vCPUs, 2 NIC(s))?" in (
        result.err
    )
    assert result.code == (0 if lands else 1)
    assert (lab_files.vm_ovf() == upload.read_bytes()) is lands


def test_upload_without_force_or_terminal_is_refused(
    he: He, lab_files: StoreFiles, tmp_path: Path
) -> None:
    upload = tmp_path / "engine.ovf"
    upload.write_bytes(reference_ovf("ovf_test.xml", lab_files.vm_id))
    before = lab_files.copy_bytes()
    assert_one_line_error(he(lab_files)("--upload-vm-ovf", upload))
    assert lab_files.copy_bytes() == before


def test_upload_of_another_vms_ovf_is_refused(
    he: He, lab_files: StoreFiles, tmp_path: Path
) -> None:
    upload = tmp_path / "other.ovf"
    upload.write_bytes((REFERENCE_DATA / "ovf_test.xml").read_bytes())
    before = lab_files.copy_bytes()
    result = he(lab_files)("--upload-vm-ovf", upload, "--force")
    assert_one_line_error(
        result,
        f"{upload}: the OVF describes VM 50e59bbd-f829-4761-ba1b-6db1a6acc3b8, not this "
        f"cluster's engine VM {lab_files.vm_id}",
    )
    assert lab_files.copy_bytes() == before


def test_download_without_an_ovf_points_at_the_upgrade_path(
    he: He, legacy_lab: StoreFiles, tmp_path: Path
) -> None:
    result = he(legacy_lab)("--download-vm-ovf", tmp_path / "x.ovf")
    assert_one_line_error(result)
    assert "--convert-vm-conf" in result.err
    assert not (tmp_path / "x.ovf").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--download-vm-ovf"], "You must specify a file to save the OVF to"),
        (["--upload-vm-ovf"], "You must specify the OVF file to upload"),
        (["--upload-vm-ovf", "/nonexistent/x.ovf"], "cannot read /nonexistent/x.ovf"),
        (["--download-vm-ovf", "/nonexistent/x.ovf"], "cannot write /nonexistent/x.ovf"),
        (["--convert-vm-conf", "/nonexistent/vm.conf"], "cannot read /nonexistent/vm.conf"),
        (["--convert-vm-conf", "a", "b"], None),
    ],
)
def test_argument_errors_are_one_line(
    he: He, lab_files: StoreFiles, args: list[str], message: str | None
) -> None:
    result = he(lab_files)(*args)
    assert_one_line_error(result)
    if message is not None:
        assert result.err.startswith(message)


# --- --convert-vm-conf: the upgrade path -------------------------------------------------------


def test_convert_makes_the_archive_vm_conf_the_ovf(he: He, legacy_lab: StoreFiles) -> None:
    before = he(legacy_lab)("--show-vm-definition", "--json").json
    assert before["source"] == "vm.conf"

    assert he(legacy_lab)("--convert-vm-conf") == Result(0, "", "")

    after = he(legacy_lab)("--show-vm-definition", "--json").json
    assert after == {**before, "source": "ovf"}
    assert legacy_lab.vm_ovf() == legacy_lab.vm_ovf(1)
    refused = he(legacy_lab)("--convert-vm-conf")
    assert_one_line_error(refused)
    assert "already holds an OVF of the engine VM" in refused.err and "--force" in refused.err


def test_convert_of_a_given_file_with_force_replaces_the_ovf(
    he: He, lab_files: StoreFiles, tmp_path: Path
) -> None:
    vm_conf = tmp_path / "vm.conf"
    vm_conf.write_text(f"vmId={lab_files.vm_id}\nmemSize=2048\nsockets=2\n")
    assert he(lab_files)("--convert-vm-conf", vm_conf, "--force") == Result(0, "", "")
    vm = parse_ovf(lab_files.vm_ovf()).vm
    assert (vm.mem_size_mib, vm.sockets, vm.nics) == (2048, 2, ())


def test_convert_refuses_to_drop_the_process_backends_command(
    he: He, lab_files: StoreFiles, tmp_path: Path
) -> None:
    conf = lab_files.conf(1)
    conf.write_text(keyvalue.update_text(conf.read_text(), {"process_command": None}))
    vm_conf = tmp_path / "vm.conf"
    vm_conf.write_text(f"vmId={lab_files.vm_id}\ncommand=/usr/bin/engine --serve\n")
    before = lab_files.copy_bytes()

    result = he(lab_files)("--convert-vm-conf", vm_conf, "--force")
    assert result.code == 0  # --force: the admin takes it on
    lab_files.write_copies(before[0])
    refused = he(lab_files)("--convert-vm-conf", vm_conf)
    assert_one_line_error(refused)
    assert "command (set process_command in hosted-engine.conf)" in refused.err
    assert lab_files.copy_bytes()[0] == before[0]


def test_convert_refuses_another_vms_vm_conf(he: He, lab_files: StoreFiles, tmp_path: Path) -> None:
    vm_conf = tmp_path / "vm.conf"
    vm_conf.write_text("vmId=not-ours\n")
    assert_one_line_error(
        he(lab_files)("--convert-vm-conf", vm_conf, "--force"),
        f"{vm_conf} is for VM not-ours, not this cluster's engine VM {lab_files.vm_id}",
    )


def test_as_a_real_process(legacy_lab: StoreFiles) -> None:
    conf = legacy_lab.conf(1)
    converted = run_console("--convert-vm-conf", "--config", conf)
    assert (converted.code, converted.out, converted.err) == (0, "", "")
    shown = run_console("--show-vm-definition", "--json", "--config", conf)
    assert shown.code == 0 and json.loads(shown.out)["source"] == "ovf"
    bad = run_console("--upload-vm-ovf", conf, "--force", "--json", "--config", conf)
    assert bad.code == 1 and "Traceback" not in bad.err
    assert "not well-formed XML" in json.loads(bad.out)["error"]
