"""A legacy vm.conf becomes an OVF that reads back to the same definition (the upgrade path)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ovf_helpers import root_of

from hosted_engine.errors import OvfError
from hosted_engine.vm.definition import Nic, VmDefinition, from_values
from hosted_engine.vm.ovf import ovf_from_definition, parse_ovf

LEGACY_VM_CONF = {
    "vmId": "50e59bbd-f829-4761-ba1b-6db1a6acc3b8",
    "vmName": "HostedEngine",
    "memSize": "4096",
    "minAllocatedMem": "2048",
    "sockets": "2",
    "coresPerSocket": "2",
    "threadsPerCore": "1",
    "maxVCpus": "16",
    "nic1.macAddr": "00:16:3e:43:ed:b5",
    "nic1.network": "ovirtmgmt",
    "nic1.model": "virtio",
    "nic1.linkActive": "true",
    "nic2.macAddr": "00:16:3e:43:ed:b6",
    "nic2.network": "backup",
    "nic2.model": "e1000",
    "nic2.linkActive": "false",
    "cpuType": "SandyBridge",
    "emulatedMachine": "pc-i440fx-rhel7.3.0",
    "display": "qxl",
    "spiceSecureChannels": "smain,sdisplay",
    "command": "/usr/bin/true",
    "dataDir": "/srv/he",
}


def ovf_fields(defn: VmDefinition) -> VmDefinition:
    """What an OVF carries of a definition: all but the process backend's command/dataDir
    (CPU type, machine and display are fields of their own)."""
    return dataclasses.replace(defn, extra={})


def test_legacy_vm_conf_reads_back_the_same() -> None:
    defn = from_values(LEGACY_VM_CONF)
    data = ovf_from_definition(defn)
    assert parse_ovf(data).to_definition() == ovf_fields(defn)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<ovf:Envelope')
    assert ovf_from_definition(defn) == data  # deterministic: NIC ids derive from vm id + MAC


def test_legacy_ovf_has_the_engine_layout() -> None:
    data = ovf_from_definition(from_values(LEGACY_VM_CONF))
    root = root_of(data)
    rasd = "{http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData}"
    hardware = root.find("Content/Section[2]")
    assert hardware is not None
    items = hardware.findall("Item")
    assert [i.findtext(rasd + "ResourceType") for i in items] == ["3", "4", "10", "10"]
    assert items[0].findtext(rasd + "VirtualQuantity") == "4"
    assert [i.findtext(rasd + "ResourceSubType") for i in items[2:]] == ["3", "2"]
    assert root.findtext("Content/DefaultDisplayType") == "1"
    params = parse_ovf(data).vm_params()
    assert (params["display"], params["smp"], params["maxVCpus"], params["memSize"]) == (
        "qxl",
        "4",
        "16",
        "4096",
    )


def test_minimal_definition() -> None:
    defn = VmDefinition(vm_id="vm-1")
    doc = parse_ovf(ovf_from_definition(defn))
    assert doc.to_definition() == defn
    assert doc.vm.min_allocated_mem_mib is None and doc.vm.display is None


@pytest.mark.parametrize(
    ("defn", "reason"),
    [
        (VmDefinition(vm_id="v", mem_size_mib=0), "rasd:VirtualQuantity"),
        (VmDefinition(vm_id="v", mem_size_mib=1024, min_allocated_mem_mib=2048), "MinAllocated"),
        (VmDefinition(vm_id="v", sockets=5000), "rasd:num_of_sockets"),
        (VmDefinition(vm_id="v", sockets=4, max_vcpus=2), "max_num_of_vcpus"),
        (VmDefinition(vm_id="v", nics=(Nic("00:16:3e:00:00:01", model="ne2k"),)), "NIC model"),
        (VmDefinition(vm_id="v", nics=(Nic("not-a-mac"),)), "MAC address"),
        (VmDefinition(vm_id="v w"), "ovf:id"),
        (VmDefinition(vm_id="v", name="bad\x01name"), "cannot render"),
    ],
)
def test_definitions_no_ovf_can_hold_are_refused(defn: VmDefinition, reason: str) -> None:
    with pytest.raises(OvfError, match=reason) as caught:
        ovf_from_definition(defn)
    assert "\n" not in str(caught.value)


macs = st.lists(st.integers(0, 2**24 - 1), max_size=4, unique=True).map(
    lambda suffixes: [
        f"00:16:3e:{n >> 16:02x}:{(n >> 8) & 255:02x}:{n & 255:02x}" for n in suffixes
    ]
)
names = st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=20)


@st.composite
def definitions(draw: st.DrawFn) -> VmDefinition:
    mem = draw(st.integers(1, 16 * 1024 * 1024))
    sockets, cores, threads = (draw(st.integers(1, 16)) for _ in range(3))
    nics = tuple(
        Nic(
            mac,
            network=draw(names),
            model=draw(st.sampled_from(["virtio", "e1000", "rtl8139", "spaprVlan"])),
            link_active=draw(st.booleans()),
        )
        for mac in draw(macs)
    )
    return VmDefinition(
        vm_id=draw(st.uuids()).hex if draw(st.booleans()) else str(draw(st.uuids())),
        name=draw(names),
        mem_size_mib=mem,
        min_allocated_mem_mib=draw(st.none() | st.integers(1, mem)),
        sockets=sockets,
        cores_per_socket=cores,
        threads_per_core=threads,
        max_vcpus=draw(st.none() | st.integers(sockets * cores * threads, 4096)),
        nics=nics,
        cpu_type=draw(st.none() | names),
        emulated_machine=draw(st.none() | names),
        display=draw(st.sampled_from([None, "vnc", "qxl"])),
        extra={"command": "/bin/sleep 1", "dataDir": "/srv/he"},
    )


@settings(max_examples=60, deadline=None)
@given(definitions())
def test_any_valid_definition_round_trips(defn: VmDefinition) -> None:
    assert parse_ovf(ovf_from_definition(defn)).to_definition() == ovf_fields(defn)
