"""The OVF_STORE on a real file pair: two copies, the first valid one read, writes to both
by compare-and-swap, other members carried over byte for byte, crashes leave a readable
store."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hosted_engine.errors import ConcurrentChangeError, OvfError, OvfStoreError
from hosted_engine.storage.ovf_store import (
    COPY_NAMES,
    LIMITS,
    MAX_MEMBER_BYTES,
    OvfStore,
    boot_image,
    member_name,
)
from hosted_engine.vm.definition import VmDefinition
from hosted_engine.vm.ovf import MAX_XML_BYTES, ovf_from_definition, parse_ovf

from .conftest import reference_ovf, store_tar

VM_ID = "50e59bbd-f829-4761-ba1b-6db1a6acc3b8"
OTHER_VM = "0d4b2a1c-0000-4000-8000-00000000beef"
OVF = ovf_from_definition(VmDefinition(vm_id=VM_ID, mem_size_mib=4096))
OTHER_OVF = ovf_from_definition(VmDefinition(vm_id=OTHER_VM))
INFO = b'{"Last Updated": "2024-01-01", "Storage Domains": []}'


@pytest.fixture
def store(tmp_path: Path) -> OvfStore:
    return OvfStore(tmp_path)


def engine_store(store: OvfStore, ovf: bytes = OVF) -> bytes:
    """Both copies as the engine writes them: its info.json, another VM, ours."""
    data = store_tar({"info.json": INFO, member_name(OTHER_VM): OTHER_OVF, member_name(VM_ID): ovf})
    for path in store.paths:
        path.write_bytes(data)
    return data


def test_the_two_copies_live_beside_the_archive(tmp_path: Path, store: OvfStore) -> None:
    assert [p.name for p in store.paths] == ["OVF_STORE.1", "OVF_STORE.2"] == list(COPY_NAMES)
    assert all(p.parent == tmp_path for p in store.paths)
    assert MAX_MEMBER_BYTES == MAX_XML_BYTES == LIMITS.member_bytes


def test_a_put_writes_both_copies_and_reads_back(store: OvfStore) -> None:
    assert store.put_vm_ovf(VM_ID, OVF, "test", overwrite=False)
    first, second = (p.read_bytes() for p in store.paths)
    assert first == second
    found = store.read().vm_ovf(VM_ID)
    assert found is not None and found.data == OVF and found.copy.path == store.paths[0]
    assert found.problems == ()
    assert found.definition().mem_size_mib == 4096


def test_other_members_are_carried_over_byte_for_byte(store: OvfStore) -> None:
    engine_store(store)
    new = ovf_from_definition(VmDefinition(vm_id=VM_ID, mem_size_mib=8192))
    assert store.put_vm_ovf(VM_ID, new, "test", overwrite=True)
    for path in store.paths:
        members = OvfStore(path.parent).read().copies[0].members
        assert members is not None
        assert list(members) == ["info.json", member_name(OTHER_VM), member_name(VM_ID)]
        assert members["info.json"] == INFO and members[member_name(OTHER_VM)] == OTHER_OVF
        assert members[member_name(VM_ID)] == new


def test_no_store_or_no_ovf_of_the_vm_is_none(store: OvfStore) -> None:
    assert not store.read().exists
    assert store.read().vm_ovf(VM_ID) is None
    for path in store.paths:
        path.write_bytes(store_tar({"info.json": INFO, member_name(OTHER_VM): OTHER_OVF}))
    assert store.read().exists and store.read().vm_ovf(VM_ID) is None


@pytest.mark.parametrize(
    "breakage",
    ["garbage", "missing", "bad-xml", "absurd-memory", "other-vm", "hostile-member"],
)
def test_a_broken_first_copy_is_passed_over_for_the_second(store: OvfStore, breakage: str) -> None:
    engine_store(store)
    first = store.paths[0]
    if breakage == "garbage":
        first.write_bytes(b"not a tar" * 100)
    elif breakage == "missing":
        first.unlink()
    elif breakage == "bad-xml":
        first.write_bytes(store_tar({member_name(VM_ID): b"<ovf:Envelope"}))
    elif breakage == "absurd-memory":
        absurd = OVF.replace(b"<rasd:VirtualQuantity>4096<", b"<rasd:VirtualQuantity>99999999999<")
        assert absurd != OVF
        first.write_bytes(store_tar({member_name(VM_ID): absurd}))
    elif breakage == "other-vm":
        first.write_bytes(store_tar({member_name(VM_ID): OTHER_OVF}))
    else:
        first.write_bytes(store_tar([("../evil", b"x"), (member_name(VM_ID), OVF)]))

    found = store.read().vm_ovf(VM_ID)

    assert found is not None and found.copy.path == store.paths[1] and found.data == OVF
    if breakage != "missing":
        assert len(found.problems) == 1 and "OVF_STORE.1" in found.problems[0]
        assert "\n" not in found.problems[0]


def test_a_broken_second_copy_is_reported_beside_a_good_first(store: OvfStore) -> None:
    engine_store(store)
    store.paths[1].write_bytes(b"garbage")
    found = store.read().vm_ovf(VM_ID)
    assert found is not None and found.copy.path == store.paths[0]
    assert len(found.problems) == 1 and "OVF_STORE.2: not a valid tar archive" in found.problems[0]


def test_no_usable_copy_is_one_line_naming_both(store: OvfStore) -> None:
    engine_store(store)
    store.paths[0].write_bytes(b"garbage")
    store.paths[1].write_bytes(store_tar({member_name(VM_ID): b"<x/>"}))
    with pytest.raises(OvfStoreError) as info:
        store.read().vm_ovf(VM_ID)
    message = str(info.value)
    assert "\n" not in message
    assert "OVF_STORE.1: not a valid tar archive" in message
    assert "OVF_STORE.2" in message and "not an oVirt ovf:Envelope" in message


def test_a_stale_write_is_refused_and_changes_nothing(store: OvfStore) -> None:
    engine_store(store)
    stale = store.read()
    store.put_vm_ovf(
        VM_ID, ovf_from_definition(VmDefinition(VM_ID, sockets=2)), "a", overwrite=True
    )
    before = [p.read_bytes() for p in store.paths]
    with pytest.raises(ConcurrentChangeError):
        store.replace(stale.expected, {member_name(VM_ID): OVF})
    assert [p.read_bytes() for p in store.paths] == before


def test_a_change_to_the_second_copy_alone_is_a_concurrent_change(store: OvfStore) -> None:
    engine_store(store)
    snapshot = store.read()
    store.paths[1].write_bytes(store.paths[1].read_bytes() + b"\0" * 512)
    with pytest.raises(ConcurrentChangeError):
        store.replace(snapshot.expected, {member_name(VM_ID): OVF})


def test_put_refuses_to_replace_without_overwrite(store: OvfStore) -> None:
    engine_store(store)
    before = [p.read_bytes() for p in store.paths]
    with pytest.raises(OvfStoreError, match="already holds an OVF of the engine VM"):
        store.put_vm_ovf(
            VM_ID, OTHER_OVF.replace(OTHER_VM.encode(), VM_ID.encode()), "x", overwrite=False
        )
    assert [p.read_bytes() for p in store.paths] == before


def test_put_of_the_same_ovf_writes_nothing(store: OvfStore) -> None:
    engine_store(store)
    inodes = [p.stat().st_ino for p in store.paths]
    assert store.put_vm_ovf(VM_ID, OVF, "same", overwrite=True) is False
    assert [p.stat().st_ino for p in store.paths] == inodes


def test_put_refuses_another_vms_ovf_and_bad_xml(store: OvfStore) -> None:
    with pytest.raises(OvfError, match=f"describes VM {OTHER_VM}, not this cluster's engine VM"):
        store.put_vm_ovf(VM_ID, OTHER_OVF, "other.ovf", overwrite=True)
    with pytest.raises(OvfError, match=r"^bad\.ovf: OVF: not well-formed XML"):
        store.put_vm_ovf(VM_ID, b"<ovf:Envelope", "bad.ovf", overwrite=True)
    assert not store.read().exists


def test_an_unreadable_store_is_replaced_only_with_overwrite(store: OvfStore) -> None:
    for path in store.paths:
        path.write_bytes(b"garbage")
    with pytest.raises(OvfStoreError, match=r"the OVF_STORE cannot be read .*needs --force"):
        store.put_vm_ovf(VM_ID, OVF, "x", overwrite=False)
    assert store.put_vm_ovf(VM_ID, OVF, "x", overwrite=True)
    found = store.read().vm_ovf(VM_ID)
    assert found is not None and found.problems == ()


def test_the_boot_disk_is_the_lowest_boot_order_else_the_first() -> None:
    vm = parse_ovf(reference_ovf("ovf_test.xml", VM_ID)).vm
    (disk,) = vm.disks
    disks = [
        dataclasses.replace(disk, image_id=image, boot_order=order)
        for image, order in (("a", 0), ("b", 2), ("c", 1))
    ]
    assert boot_image(dataclasses.replace(vm, devices=tuple(disks))) == "c"
    unordered = [dataclasses.replace(d, boot_order=0) for d in disks]
    assert boot_image(dataclasses.replace(vm, devices=tuple(unordered))) == "a"
    assert boot_image(dataclasses.replace(vm, devices=())) is None


def test_a_definition_from_an_ovf_names_its_boot_disk(tmp_path: Path) -> None:
    store = OvfStore(tmp_path)
    store.put_vm_ovf(VM_ID, reference_ovf("ovf_test.xml", VM_ID), "ref", overwrite=False)
    found = store.read().vm_ovf(VM_ID)
    assert found is not None
    definition = found.definition()
    assert definition.boot_image_id == "1b52d184-a370-48a7-8335-a4755b01ec0a"  # boot order 1
    assert definition.mem_size_mib == 4096 and definition.vm_id == VM_ID
    lab_ovf = ovf_from_definition(VmDefinition(vm_id=VM_ID))  # no disks at all
    store.put_vm_ovf(VM_ID, lab_ovf, "lab", overwrite=True)
    found = store.read().vm_ovf(VM_ID)
    assert found is not None and found.definition().boot_image_id is None


def test_limits_on_members(store: OvfStore) -> None:
    too_many = {f"vm{i}.ovf": b"" for i in range(LIMITS.members + 1)}
    for path in store.paths:
        path.write_bytes(store_tar(too_many))
    with pytest.raises(OvfStoreError, match=f"more than the {LIMITS.members} members allowed"):
        store.read().vm_ovf(VM_ID)
    with pytest.raises(OvfStoreError, match="more than the"):
        store.replace(store.read().expected, {member_name(VM_ID): b"x" * (MAX_MEMBER_BYTES + 1)})


# --- crashes --------------------------------------------------------------------------------

# A writer that stops at the Nth time it reaches a step and waits there to be killed.
WRITER = """
import sys
from pathlib import Path
from hosted_engine.storage.ovf_store import OvfStore, member_name

store = OvfStore(Path(sys.argv[1]))
stop_at, occurrence = sys.argv[2], int(sys.argv[3])
seen = 0

def checkpoint(step):
    global seen
    if step == stop_at:
        seen += 1
        if seen == occurrence:
            print(step, flush=True)
            sys.stdin.readline()  # never answered: the test kills us here

snapshot = store.read()
members = {**snapshot.base_members(), member_name(sys.argv[4]): Path(sys.argv[5]).read_bytes()}
store.replace(snapshot.expected, members, checkpoint=checkpoint)
print("finished", flush=True)
"""
NEW_OVF = ovf_from_definition(VmDefinition(vm_id=VM_ID, mem_size_mib=8192))
# (step, occurrence) just done -> the memory the first valid copy then holds
STEPS = {
    ("locked", 1): 4096,
    ("checked", 1): 4096,
    ("written", 1): 4096,  # copy 1's new tar in its temp file
    ("synced", 1): 4096,
    ("renamed", 1): 8192,  # copy 1 new, copy 2 old: readers take copy 1
    ("written", 2): 8192,
    ("renamed", 2): 8192,
    ("done", 1): 8192,
}


@pytest.mark.parametrize("step", STEPS, ids=lambda s: f"{s[0]}-{s[1]}")
def test_a_writer_killed_after_each_step(step: tuple[str, int], tmp_path: Path) -> None:
    store = OvfStore(tmp_path)
    engine_store(store)
    new_file = tmp_path.parent / f"{tmp_path.name}-new.ovf"
    new_file.write_bytes(NEW_OVF)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path), step[0], str(step[1]), VM_ID, new_file],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == step[0]
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.communicate(timeout=30)
    assert writer.returncode == -signal.SIGKILL

    found = store.read().vm_ovf(VM_ID)
    assert found is not None and found.definition().mem_size_mib == STEPS[step]
    assert found.problems == ()

    # the kernel dropped the dead writer's lock; its temp file goes with the next write
    store.put_vm_ovf(VM_ID, OVF if STEPS[step] == 8192 else NEW_OVF, "after", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [*COPY_NAMES, "OVF_STORE.lock"]
    first, second = (p.read_bytes() for p in store.paths)
    assert first == second
