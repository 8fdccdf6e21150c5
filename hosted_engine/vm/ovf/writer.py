"""A first OVF for a VM known only from a legacy ``vm.conf`` (the upgrade path of the seed).

Minimal on purpose: the engine imports it, fills in everything else and from then on owns
the document. It holds what a ``VmDefinition`` knows, laid out as the engine lays it
out, plus ``display``, ``cpuType`` and ``emulatedMachine`` when the vm.conf had them.
The result is parsed back before it is returned, so it is refused exactly when a real
OVF with the same values would be. Disks are not converted (left for the import step).
"""

from __future__ import annotations

import uuid

from lxml import etree

from hosted_engine.errors import OvfError
from hosted_engine.vm.definition import VmDefinition
from hosted_engine.vm.ovf.document import parse_ovf
from hosted_engine.vm.ovf.layout import (
    CPU_RESOURCE,
    MEMORY_RESOURCE,
    OVF_NAMESPACES,
    RASD,
    RASD_NS,
    VSSD_NS,
    XSI_NS,
    XSI_TYPE,
    Element,
)
from hosted_engine.vm.ovf.model import NIC_MODEL_CODES
from hosted_engine.vm.ovf.safe_xml import shown

OVF_NS = OVF_NAMESPACES[0]
OVF = "{" + OVF_NS + "}"
ENGINE_VERSION = "4.2.0.0"
NIC_RESOURCE = "10"
_DISPLAY_CODES = {"vnc": "2", "qxl": "1"}


def _leaf(parent: Element, tag: str, value: str | None = None) -> Element:
    element = etree.SubElement(parent, tag)
    element.text = value
    return element


def _section(parent: Element, type_name: str, info: str) -> Element:
    section = etree.SubElement(parent, "Section", {XSI_TYPE: f"ovf:{type_name}"})
    _leaf(section, "Info", info)
    return section


def _item(hardware: Element, caption: str, instance_id: str, resource: str) -> Element:
    item = etree.SubElement(hardware, "Item")
    _leaf(item, RASD + "Caption", caption)
    _leaf(item, RASD + "InstanceId", instance_id)
    _leaf(item, RASD + "ResourceType", resource)
    return item


def _hardware(content: Element, defn: VmDefinition) -> None:
    vcpus = defn.sockets * defn.cores_per_socket * defn.threads_per_core
    hardware = _section(
        content, "VirtualHardwareSection_Type", f"{vcpus} CPU, {defn.mem_size_mib} Memory"
    )
    _leaf(
        etree.SubElement(hardware, "System"),
        f"{{{VSSD_NS}}}VirtualSystemType",
        f"ENGINE {ENGINE_VERSION}",
    )
    cpu = _item(hardware, f"{vcpus} virtual cpu", "1", CPU_RESOURCE)
    _leaf(cpu, RASD + "num_of_sockets", str(defn.sockets))
    _leaf(cpu, RASD + "cpu_per_socket", str(defn.cores_per_socket))
    _leaf(cpu, RASD + "threads_per_cpu", str(defn.threads_per_core))
    if defn.max_vcpus is not None:
        _leaf(cpu, RASD + "max_num_of_vcpus", str(defn.max_vcpus))
    _leaf(cpu, RASD + "VirtualQuantity", str(vcpus))
    memory = _item(hardware, f"{defn.mem_size_mib} MB of memory", "2", MEMORY_RESOURCE)
    _leaf(memory, RASD + "AllocationUnits", "MegaBytes")
    _leaf(memory, RASD + "VirtualQuantity", str(defn.mem_size_mib))
    for index, nic in enumerate(defn.nics, start=1):
        if nic.model not in NIC_MODEL_CODES:
            raise OvfError(f"OVF: nic{index}.model {shown(nic.model)} is not a NIC model")
        instance_id = uuid.uuid5(uuid.NAMESPACE_URL, f"hosted-engine:{defn.vm_id}:{nic.mac_addr}")
        item = _item(hardware, f"Ethernet adapter on {nic.network}", str(instance_id), NIC_RESOURCE)
        _leaf(item, RASD + "OtherResourceType", nic.network)
        _leaf(item, RASD + "ResourceSubType", str(NIC_MODEL_CODES[nic.model]))
        _leaf(item, RASD + "Connection", nic.network)
        _leaf(item, RASD + "Linked", "true" if nic.link_active else "false")
        _leaf(item, RASD + "Name", f"nic{index}")
        _leaf(item, RASD + "MACAddress", nic.mac_addr)
        _leaf(item, "Type", "interface")
        _leaf(item, "Device", "bridge")
        _leaf(item, "IsPlugged", "true")


def ovf_from_definition(defn: VmDefinition) -> bytes:
    """Render ``defn`` as an OVF that :func:`parse_ovf` reads back to the same fields."""
    try:
        data = _render(defn)
    except ValueError as e:  # lxml refuses text that XML cannot carry (control characters)
        raise OvfError(f"OVF: cannot render the VM definition: {e}") from None
    parse_ovf(data)
    return data


def _render(defn: VmDefinition) -> bytes:
    namespaces = {"ovf": OVF_NS, "rasd": RASD_NS, "vssd": VSSD_NS, "xsi": XSI_NS}
    root = etree.Element(OVF + "Envelope", {OVF + "version": ENGINE_VERSION}, nsmap=namespaces)
    etree.SubElement(root, "References")
    networks = etree.SubElement(root, "NetworkSection")
    _leaf(networks, "Info", "List of networks")
    for network in dict.fromkeys(nic.network for nic in defn.nics):
        etree.SubElement(networks, "Network", {OVF + "name": network})
    _section(root, "DiskSection_Type", "List of Virtual Disks")
    content = etree.SubElement(
        root, "Content", {OVF + "id": "out", XSI_TYPE: "ovf:VirtualSystem_Type"}
    )
    _leaf(content, "Name", defn.name)
    if defn.min_allocated_mem_mib is not None:
        _leaf(content, "MinAllocatedMem", str(defn.min_allocated_mem_mib))
    if defn.cpu_type is not None:
        _leaf(content, "CustomCpuName", defn.cpu_type)
    if defn.emulated_machine is not None:
        _leaf(content, "CustomEmulatedMachine", defn.emulated_machine)
    if defn.display in _DISPLAY_CODES:
        _leaf(content, "DefaultDisplayType", _DISPLAY_CODES[defn.display])
    os_section = _section(content, "OperatingSystemSection_Type", "Guest Operating System")
    os_section.attrib.update({OVF + "id": defn.vm_id, OVF + "required": "false"})
    _leaf(os_section, "Description", "other_linux")
    _hardware(content, defn)
    etree.indent(root)
    body = etree.tostring(root, encoding="UTF-8")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body + b"\n"
