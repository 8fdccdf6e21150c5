"""Property: any sequence of edits on any reference OVF either applies, reads back and touches
only the elements of its key, or is refused and changes nothing."""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ovf_helpers import (
    REFERENCE_FILES,
    WITH_ENGINE_XML,
    changed_elements,
    engine_xml_root,
    load,
    root_of,
    select_optional,
)

from hosted_engine.errors import OvfEditError
from hosted_engine.vm.ovf import NIC_MODELS, EditValue, OvfDocument, OvfVm, parse_ovf

DOCUMENTS = {name: load(name) for name in REFERENCE_FILES}
# The OVF elements each key may change (XPath, {n} = the NIC's position); EngineXml besides.
CARRIERS = {
    "memSize": ["//Item[rasd:ResourceType='4']/rasd:VirtualQuantity"],
    "minAllocatedMem": ["//Content/MinAllocatedMem"],
    "sockets": ["//Item[rasd:ResourceType='3']/rasd:num_of_sockets"],
    "coresPerSocket": ["//Item[rasd:ResourceType='3']/rasd:cpu_per_socket"],
    "threadsPerCore": ["//Item[rasd:ResourceType='3']/rasd:threads_per_cpu"],
    "macAddr": ["(//Item[Type='interface'])[{n}]/rasd:MACAddress"],
    "network": [
        "(//Item[Type='interface'])[{n}]/rasd:Connection",
        "(//Item[Type='interface'])[{n}]/rasd:OtherResourceType",
    ],
    "model": ["(//Item[Type='interface'])[{n}]/rasd:ResourceSubType"],
    "linkActive": ["(//Item[Type='interface'])[{n}]/rasd:Linked"],
}
# The elements of the embedded libvirt XML each key may change.
ENGINE_CARRIERS = {
    "memSize": ["//memory", "//currentMemory", "//cpu/numa/cell"],
    "minAllocatedMem": ["//metadata/ovirt-vm:vm/minGuaranteedMemoryMb"],
    "macAddr": ["//devices/interface/mac", "//metadata/ovirt-vm:vm/ovirt-vm:device"],
    "network": ["//devices/interface/source"],
    "model": ["//devices/interface/model"],
    "linkActive": ["//devices/interface/link"],
}
# The OvfVm field each key sets (NIC keys: the OvfNic field).
FIELDS = {
    "memSize": "mem_size_mib",
    "minAllocatedMem": "min_allocated_mem_mib",
    "sockets": "sockets",
    "coresPerSocket": "cores_per_socket",
    "threadsPerCore": "threads_per_core",
    "macAddr": "mac",
    "network": "network",
    "model": "model",
    "linkActive": "link_active",
}


@st.composite
def edits(draw: st.DrawFn, vm: OvfVm, has_engine_xml: bool) -> tuple[str, EditValue]:
    """A key and a value that is valid for it (so most edits apply)."""
    keys = ["memSize", "minAllocatedMem", "nic"]
    if not has_engine_xml:
        keys += ["sockets", "coresPerSocket", "threadsPerCore"]
    key = draw(st.sampled_from(keys))
    if key == "memSize":
        return key, draw(st.integers(vm.min_allocated_mem_mib or 1, vm.max_memory_mib or 2**20))
    if key == "minAllocatedMem":
        return key, draw(st.integers(1, vm.mem_size_mib))
    if key != "nic":
        others = vm.vcpus // getattr(vm, FIELDS[key])
        return key, draw(st.integers(1, (vm.max_vcpus or 4096) // others))
    n = draw(st.integers(1, len(vm.nics)))
    field = draw(st.sampled_from(["macAddr", "network", "model", "linkActive"]))
    value: EditValue
    if field == "macAddr":
        value = draw(st.from_regex(r"\A00:1a:4a(:[0-9a-f]{2}){3}\Z"))
    elif field == "network":
        value = draw(st.text(st.characters(whitelist_categories=("L", "N", "Pd")), min_size=1))
    elif field == "model":
        value = draw(st.sampled_from([*NIC_MODELS.values(), "virtio"]))
    else:
        value = draw(st.booleans() | st.sampled_from(["true", "false"]))
    return f"nic{n}.{field}", value


def _expected_changes(before: bytes, after: bytes, key: str, engine_changed: bool) -> set[str]:
    """Paths of the key's carriers: as they were, or as created by the edit."""
    old, new = root_of(before), root_of(after)
    nic, _, field = key.rpartition(".")
    expected: set[str] = set()
    for xpath in CARRIERS[field if nic else key]:
        xpath = xpath.format(n=nic.removeprefix("nic"))
        expected |= select_optional(old, xpath) or select_optional(new, xpath)
    if engine_changed:
        expected |= select_optional(old, "//Content/EngineXml")
    return expected


def _check_one(doc: OvfDocument, key: str, value: EditValue) -> None:
    before, vm_before = doc.to_bytes(), doc.vm
    try:
        doc.set(key, value)
    except OvfEditError as e:
        # valid values the rest of the document rules out: a NIC model the EngineXml cannot
        # express, or a MAC an earlier edit gave another NIC
        assert "EngineXml" in str(e) or "same MAC" in str(e), str(e)
        assert doc.to_bytes() == before and doc.vm == vm_before
        return
    after = doc.to_bytes()
    assert parse_ovf(after).vm == doc.vm
    engine_changed = doc.vm.engine_xml != vm_before.engine_xml
    changes = changed_elements(root_of(before), root_of(after))
    assert changes <= _expected_changes(before, after, key, engine_changed)
    nic, _, field = key.rpartition(".")
    if engine_changed:
        engine_before = engine_xml_root(before)
        allowed = set().union(
            *(select_optional(engine_before, x) for x in ENGINE_CARRIERS[field or key])
        )
        assert changed_elements(engine_before, engine_xml_root(after)) <= allowed
    # the typed view changed in that one field only (and in the EngineXml copy of it)
    ignored = {"engine_xml"}
    if nic:
        index = int(nic.removeprefix("nic")) - 1
        old_nic, new_nic = vm_before.nics[index], doc.vm.nics[index]
        unchanged = {FIELDS[field]: getattr(old_nic, FIELDS[field])}
        assert dataclasses.replace(new_nic, **unchanged) == old_nic
        ignored.add("devices")
    else:
        ignored.add(FIELDS[key])
    for f in dataclasses.fields(OvfVm):
        if f.name not in ignored:
            assert getattr(doc.vm, f.name) == getattr(vm_before, f.name), f.name


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from(REFERENCE_FILES))
def test_random_edits_touch_only_their_elements(data: st.DataObject, name: str) -> None:
    doc = parse_ovf(DOCUMENTS[name])
    for _ in range(data.draw(st.integers(1, 3))):
        key, value = data.draw(edits(doc.vm, name in WITH_ENGINE_XML))
        _check_one(doc, key, value)
