"""Round trips and edits: an edit changes the elements that carry the value and nothing else.

Changes are found by an element-by-element diff of the parsed trees (``ovf_helpers``);
the expected elements are named by XPath on the original document, not through the
code under test. Inside EngineXml the same diff runs on the embedded libvirt XML.
"""

from __future__ import annotations

import pytest
from lxml import etree
from ovf_helpers import (
    OVF_36,
    OVF_42,
    OVF_42_UNSAFE,
    OVF_MAX_VCPU,
    REFERENCE_FILES,
    WITH_ENGINE_XML,
    XPATH_NS,
    changed_elements,
    engine_xml_root,
    load,
    root_of,
    select,
)

from hosted_engine.errors import OvfEditError
from hosted_engine.vm.definition import VmDefinition
from hosted_engine.vm.ovf import OvfDocument, ovf_from_definition, parse_ovf

ENGINE_XML = "//Content/EngineXml"
MEMORY = "//Item[rasd:ResourceType='4']/rasd:VirtualQuantity"
CPU = "//Item[rasd:ResourceType='3']"
NIC = "(//Item[Type='interface'])[{n}]"


def c14n(data: bytes) -> bytes:
    return etree.tostring(root_of(data), method="c14n")


# --- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", REFERENCE_FILES)
def test_round_trip_keeps_the_document(name: str) -> None:
    original = load(name)
    doc = parse_ovf(original)
    written = doc.to_bytes()
    assert parse_ovf(written).vm == doc.vm
    assert c14n(written) == c14n(original)
    assert written.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert parse_ovf(written).to_bytes() == written


@pytest.mark.parametrize("name", [OVF_36, OVF_MAX_VCPU])
def test_round_trip_of_a_36_file_is_byte_for_byte(name: str) -> None:
    assert parse_ovf(load(name)).to_bytes() == load(name)


# --- each editable key on each file -----------------------------------------------------------


def _edits(name: str) -> list[tuple[str, str | int | bool, list[str], list[str]]]:
    """(key, value, OVF elements expected to change, EngineXml elements expected to change)."""
    vm = parse_ovf(load(name)).vm
    has_engine = name in WITH_ENGINE_XML
    # The unsafe file's EngineXml describes another VM ("vm", MAC 00:1a:4a:16:01:01), so its
    # NIC edits find no interface to mirror; its memory values are still mirrored.
    nic_in_engine = name == OVF_42
    engine_interface = "//devices/interface"
    edits: list[tuple[str, str | int | bool, list[str], list[str]]] = [
        (
            "memSize",
            vm.mem_size_mib + 1024,
            [MEMORY],
            ["//memory", "//currentMemory", "//cpu/numa/cell"] if has_engine else [],
        ),
        (
            "minAllocatedMem",
            str(vm.mem_size_mib // 2),
            ["//Content/MinAllocatedMem"],
            ["//metadata/ovirt-vm:vm/minGuaranteedMemoryMb"] if has_engine else [],
        ),
    ]
    if not has_engine:
        edits += [
            ("sockets", 2, [f"{CPU}/rasd:num_of_sockets"], []),
            ("coresPerSocket", "2", [f"{CPU}/rasd:cpu_per_socket"], []),
            ("threadsPerCore", 2, ["new:threads_per_cpu"], []),
        ]
    for n, nic in enumerate(vm.nics, start=1):
        item = NIC.format(n=n)
        edits += [
            (
                f"nic{n}.macAddr",
                f"00:1a:4a:00:00:0{n}",
                [f"{item}/rasd:MACAddress"],
                [f"{engine_interface}/mac", "//metadata/ovirt-vm:vm/ovirt-vm:device[@mac_address]"]
                if nic_in_engine
                else [],
            ),
            (
                f"nic{n}.network",
                "storage-net",
                [f"{item}/rasd:Connection", f"{item}/rasd:OtherResourceType"],
                [f"{engine_interface}/source"] if nic_in_engine else [],
            ),
            (
                f"nic{n}.model",
                "e1000",
                [f"{item}/rasd:ResourceSubType"],
                [f"{engine_interface}/model"] if nic_in_engine else [],
            ),
            (
                f"nic{n}.linkActive",
                not nic.link_active,
                [f"{item}/rasd:Linked"],
                [f"{engine_interface}/link"] if nic_in_engine else [],
            ),
        ]
    return edits


ALL_EDITS = [
    pytest.param(name, key, value, ovf, engine, id=f"{name}-{key}")
    for name in REFERENCE_FILES
    for key, value, ovf, engine in _edits(name)
]


@pytest.mark.parametrize(("name", "key", "value", "ovf_paths", "engine_paths"), ALL_EDITS)
def test_an_edit_changes_only_its_elements(
    name: str, key: str, value: str | int | bool, ovf_paths: list[str], engine_paths: list[str]
) -> None:
    original = load(name)
    doc = parse_ovf(original)
    doc.set(key, value)
    written = doc.to_bytes()
    before, after = root_of(original), root_of(written)

    expected = set()
    for xpath in ovf_paths:
        if xpath == "new:threads_per_cpu":  # absent from 3.6 files: created next to its peers
            expected |= select(after, f"{CPU}/rasd:threads_per_cpu")
        else:
            expected |= select(before, xpath)
    if engine_paths:
        expected |= select(before, ENGINE_XML)
    assert changed_elements(before, after) == expected

    if name in WITH_ENGINE_XML:
        engine_before, engine_after = engine_xml_root(original), engine_xml_root(written)
        expected_inside = set().union(*(select(engine_before, x) for x in engine_paths))
        assert changed_elements(engine_before, engine_after) == expected_inside

    # the edit reads back, and the round trip still holds
    assert parse_ovf(written).vm == doc.vm
    assert parse_ovf(written).to_bytes() == written


@pytest.mark.parametrize("name", REFERENCE_FILES)
def test_edited_values_read_back(name: str) -> None:
    doc = parse_ovf(load(name))
    doc.set("memSize", doc.vm.mem_size_mib * 2 if name != OVF_42 else 32768)
    doc.set("minAllocatedMem", 1024)
    doc.set("nic1.macAddr", "00:1A:4A:AB:CD:EF")
    doc.set("nic1.network", "lab")
    doc.set("nic1.model", "virtio")  # vm.conf's name for pv
    doc.set("nic1.linkActive", "false")
    vm = parse_ovf(doc.to_bytes()).vm
    nic = vm.nics[0]
    assert (vm.min_allocated_mem_mib, nic.mac, nic.network, nic.model, nic.link_active) == (
        1024,
        "00:1a:4a:ab:cd:ef",
        "lab",
        "pv",
        False,
    )
    assert vm.mem_size_mib == (
        parse_ovf(load(name)).vm.mem_size_mib * 2 if name != OVF_42 else 32768
    )


def test_memory_edit_rewrites_the_libvirt_memory_in_kib() -> None:
    doc = parse_ovf(load(OVF_42))
    doc.set("memSize", 20480)
    doc.set("minAllocatedMem", 8192)
    engine = engine_xml_root(doc.to_bytes())
    assert engine.findtext("memory") == engine.findtext("currentMemory") == str(20480 * 1024)
    cell = engine.find("cpu/numa/cell")
    assert cell is not None and cell.get("memory") == str(20480 * 1024)
    assert engine.findtext("metadata/{http://ovirt.org/vm/1.0}vm/minGuaranteedMemoryMb") == "8192"
    assert "xmlBase64" in doc.vm_params()


def test_cpu_edit_updates_the_vcpu_total_the_ovf_also_holds() -> None:
    doc = parse_ovf(ovf_from_definition(VmDefinition(vm_id="a-vm", sockets=2, max_vcpus=32)))
    before = root_of(doc.to_bytes())
    doc.set("coresPerSocket", 4)
    after = root_of(doc.to_bytes())
    assert changed_elements(before, after) == select(
        before, f"{CPU}/rasd:cpu_per_socket | {CPU}/rasd:VirtualQuantity"
    )
    assert after.xpath(f"string({CPU}/rasd:VirtualQuantity)", namespaces=XPATH_NS) == "8"


def test_creating_a_missing_min_allocated_mem() -> None:
    doc = parse_ovf(ovf_from_definition(VmDefinition(vm_id="a-vm", mem_size_mib=2048)))
    before = root_of(doc.to_bytes())
    doc.set("minAllocatedMem", 512)
    after = root_of(doc.to_bytes())
    assert changed_elements(before, after) == select(after, "//Content/MinAllocatedMem")
    assert doc.vm.min_allocated_mem_mib == 512


# --- refused edits leave the document as it was -----------------------------------------------

REFUSED = [
    (OVF_36, "memSize", 0, "between 1 and"),
    (OVF_36, "memSize", 16 * 1024 * 1024 + 1, "between 1 and"),
    (OVF_36, "memSize", "lots", "whole number"),
    (OVF_36, "memSize", -4096, "whole number"),
    (OVF_36, "memSize", True, "whole number"),
    (OVF_36, "memSize", 2048, "MinAllocatedMem (4096 MiB) is more than the memory"),
    (OVF_42, "memSize", 65537, "more than MaxMemorySizeMb"),
    (OVF_36, "minAllocatedMem", 4097, "MinAllocatedMem (4097 MiB) is more than the memory"),
    (OVF_MAX_VCPU, "sockets", 17, "over the rasd:max_num_of_vcpus (16)"),
    (OVF_36, "sockets", 4097, "between 1 and 4096"),
    (OVF_36, "coresPerSocket", 0, "between 1 and 4096"),
    (OVF_36, "threadsPerCore", 4097, "between 1 and 4096"),
    (OVF_42, "sockets", 2, "EngineXml"),
    (OVF_42_UNSAFE, "coresPerSocket", 2, "EngineXml"),
    (OVF_42, "threadsPerCore", 2, "EngineXml"),
    (OVF_36, "nic1.macAddr", "00:16:3e:43:ed", "not a MAC address"),
    (OVF_36, "nic1.macAddr", "00:16:3e:43:ed:b6", "same MAC address"),
    (OVF_36, "nic1.model", "virtio-net", "not a NIC model"),
    (OVF_42, "nic1.model", "pciPassthrough", "cannot be written into the EngineXml"),
    (OVF_36, "nic1.network", "", "not a network name"),
    (OVF_36, "nic1.network", "a\nb", "not a network name"),
    (OVF_36, "nic1.linkActive", "maybe", "true or false"),
    (OVF_36, "nic3.macAddr", "00:16:3e:43:ed:b7", "has 2 NIC(s)"),
    (OVF_36, "nic0.macAddr", "00:16:3e:43:ed:b7", "not an editable key"),
    (OVF_36, "vmName", "other", "not an editable key"),
    (OVF_36, "memsize", 4096, "not an editable key"),
]


@pytest.mark.parametrize(("name", "key", "value", "reason"), REFUSED)
def test_refused_edit_changes_nothing(
    name: str, key: str, value: str | int | bool, reason: str
) -> None:
    doc = parse_ovf(load(name))
    before, vm = doc.to_bytes(), doc.vm
    with pytest.raises(OvfEditError) as caught:
        doc.set(key, value)
    message = str(caught.value)
    assert reason in message and message.startswith(f"cannot set {key} to ")
    assert "\n" not in message
    assert doc.to_bytes() == before and doc.vm == vm


def test_total_vcpus_are_capped_without_max_vcpus() -> None:
    doc = parse_ovf(load(OVF_36))
    doc.set("sockets", 64)
    doc.set("coresPerSocket", 64)
    with pytest.raises(OvfEditError, match=r"over the limit \(4096\)"):
        doc.set("threadsPerCore", 2)


def _engine_variant(old: str, new: str) -> OvfDocument:
    data = load(OVF_42).decode()
    assert old in data
    return parse_ovf(data.replace(old, new).encode())


def test_memory_edit_refused_when_engine_xml_splits_numa() -> None:
    doc = _engine_variant(
        "&lt;/numa&gt;", '&lt;cell cpus="12" memory="1024"&gt;&lt;/cell&gt;&lt;/numa&gt;'
    )
    with pytest.raises(OvfEditError, match="several NUMA cells"):
        doc.set("memSize", 20480)


def test_network_edit_refused_when_engine_xml_bridge_differs() -> None:
    doc = _engine_variant('source bridge="ovirtmgmt"', 'source bridge="on1234"')
    with pytest.raises(OvfEditError, match="other than the bridge 'ovirtmgmt'"):
        doc.set("nic1.network", "lab")
