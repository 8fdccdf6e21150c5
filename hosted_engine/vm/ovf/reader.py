"""Reading an OVF tree into an :class:`OvfVm`, refusing values no engine VM can have.

Every value is checked here, and edits are re-read through here, so a document that
exists as an ``OvfDocument`` always describes a VM that could run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypedDict

from hosted_engine.errors import OvfError
from hosted_engine.vm.definition import MAC
from hosted_engine.vm.ovf.engine_xml import EngineXml
from hosted_engine.vm.ovf.layout import RASD, Element, OvfLayout, locate, text
from hosted_engine.vm.ovf.model import (
    DISPLAY_TYPES,
    MAX_MEMORY_MIB,
    MAX_VCPUS,
    NIC_MODELS,
    OvfDevice,
    OvfDisk,
    OvfNic,
    OvfVm,
)
from hosted_engine.vm.ovf.safe_xml import shown

# ASCII digits only, the whole text: not int()'s '+4096', ' 4096 ', '4_096', nor the
# Arabic-Indic or full-width digits that re's \d and int() take, nor floats ('4096.0').
_WHOLE = re.compile(r"[0-9]{1,12}")
_TOKEN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._:-]{0,127}$")
_MODELLED_TYPES = frozenset({"interface", "controller", "console", "video", "rng", "graphics"})


def _number_text(parent: Element, tag: str) -> str | None:
    """The text of ``parent``'s first ``tag`` child, unstripped (a number holds no spaces);
    None when absent or empty."""
    child = parent.find(tag)
    return None if child is None or not child.text else child.text


def _whole(raw: str | None, what: str, low: int, high: int) -> int:
    """A whole number in [low, high]; ``what`` names the element in the error. The one
    parser of every number the OVF codec reads."""
    if raw is None or not _WHOLE.fullmatch(raw):
        raise OvfError(f"OVF: {what} must be a whole number, got {shown(raw)}")
    value = int(raw)
    if not low <= value <= high:
        raise OvfError(f"OVF: {what} must be between {low} and {high}, got {value}")
    return value


def _optional_whole(raw: str | None, what: str, low: int, high: int) -> int | None:
    return None if raw is None else _whole(raw, what, low, high)


def _boolean(raw: str | None, what: str, default: bool) -> bool:
    if raw is None:
        return default
    if raw.lower() not in ("true", "false"):
        raise OvfError(f"OVF: {what} must be true or false, got {shown(raw)}")
    return raw.lower() == "true"


def _token(raw: str | None, what: str) -> str:
    if raw is None or not _TOKEN.match(raw):
        raise OvfError(f"OVF: {what} must be an identifier such as a UUID, got {shown(raw)}")
    return raw


class _ItemFields(TypedDict):
    type: str
    device: str
    device_id: str | None
    address: str | None
    alias: str | None
    spec_params: Mapping[str, str]


def _item_fields(item: Element) -> _ItemFields:
    spec = item.find("SpecParams")
    params = {}
    if spec is not None:
        for child in spec.iterchildren():
            value = (child.text or "").strip()
            if isinstance(child.tag, str) and value:
                params[child.tag] = value
    return {
        "type": text(item, "Type") or "",
        "device": text(item, "Device") or "",
        "device_id": text(item, RASD + "InstanceId"),
        "address": text(item, RASD + "Address"),
        "alias": text(item, "Alias"),
        "spec_params": params,
    }


def _disk(item: Element, disk: Element, ovf: str) -> OvfDisk:
    image_id, _, volume_id = (disk.get(ovf + "fileRef") or "").partition("/")
    what = f"Disk {disk.get(ovf + 'diskId')}"
    return OvfDisk(
        **_item_fields(item),
        image_id=_token(image_id or None, f"{what} ovf:fileRef image"),
        volume_id=_token(volume_id or None, f"{what} ovf:fileRef volume"),
        domain_id=text(item, RASD + "StorageId"),
        interface=(disk.get(ovf + "disk-interface") or "").lower(),
        format=(disk.get(ovf + "volume-format") or "").lower(),
        boot_order=_whole(_number_text(item, "BootOrder") or "0", f"{what} BootOrder", 0, 1000),
        read_only=_boolean(text(item, "IsReadOnly"), f"{what} IsReadOnly", False),
        shared=_boolean(disk.get(ovf + "shareable"), f"{what} ovf:shareable", False),
    )


def _nic(item: Element, mac: str) -> OvfNic:
    if not MAC.match(mac):
        raise OvfError(f"OVF: NIC rasd:MACAddress {shown(mac)} is not a MAC address")
    code = _optional_whole(
        _number_text(item, RASD + "ResourceSubType"),
        f"NIC {mac} rasd:ResourceSubType",
        0,
        len(NIC_MODELS) - 1,
    )
    return OvfNic(
        **_item_fields(item),
        mac=mac.lower(),
        model=None if code is None else NIC_MODELS[code],
        network=text(item, RASD + "Connection"),
        link_active=_boolean(text(item, RASD + "Linked"), f"NIC {mac} rasd:Linked", True),
    )


def _devices(layout: OvfLayout) -> tuple[OvfDevice, ...]:
    """The devices the VDSM parameters need; channels, sound, balloon... stay unmodelled."""
    devices: list[OvfDevice] = []
    have_cdrom = False
    for item in layout.devices:
        type_, device = text(item, "Type"), text(item, "Device")
        if type_ == "disk" and device == "disk":
            disk = layout.disks_by_id.get(text(item, RASD + "InstanceId") or "")
            if disk is not None:  # no DiskSection entry: not an image (e.g. a direct LUN)
                devices.append(_disk(item, disk, layout.ovf))
        elif type_ == "disk" and device == "cdrom" and not have_cdrom:
            devices.append(OvfDevice(**_item_fields(item)))
            have_cdrom = True
        elif type_ == "interface":
            mac = text(item, RASD + "MACAddress")
            if mac is not None:
                devices.append(_nic(item, mac))
        elif type_ in _MODELLED_TYPES:
            devices.append(OvfDevice(**_item_fields(item)))
    return tuple(devices)


def _check_consistency(vm: OvfVm) -> None:
    if vm.min_allocated_mem_mib is not None and vm.min_allocated_mem_mib > vm.mem_size_mib:
        raise OvfError(
            f"OVF: MinAllocatedMem ({vm.min_allocated_mem_mib} MiB) is more than the memory "
            f"({vm.mem_size_mib} MiB)"
        )
    if vm.max_memory_mib is not None and vm.mem_size_mib > vm.max_memory_mib:
        raise OvfError(
            f"OVF: the memory ({vm.mem_size_mib} MiB) is more than MaxMemorySizeMb "
            f"({vm.max_memory_mib} MiB)"
        )
    limit, what = (vm.max_vcpus, "rasd:max_num_of_vcpus") if vm.max_vcpus else (MAX_VCPUS, "limit")
    if vm.vcpus > limit:
        raise OvfError(f"OVF: sockets x cores x threads ({vm.vcpus}) is over the {what} ({limit})")
    macs = [nic.mac for nic in vm.nics]
    if len(set(macs)) != len(macs):
        raise OvfError("OVF: two NICs have the same MAC address")


def read_vm(root: Element) -> OvfVm:
    layout = locate(root)
    content, cpu = layout.content, layout.cpu
    display_code = _optional_whole(
        _number_text(content, "DefaultDisplayType"), "DefaultDisplayType", 0, 99
    )
    engine = None if layout.engine_xml_text is None else EngineXml(layout.engine_xml_text)
    name = text(content, "Name")
    if name is None:
        raise OvfError("OVF: Content has no Name")
    vm = OvfVm(
        vm_id=_token(layout.os_section.get(layout.ovf + "id"), "OperatingSystemSection ovf:id"),
        name=name,
        mem_size_mib=_whole(
            _number_text(layout.memory, RASD + "VirtualQuantity"),
            "memory Item rasd:VirtualQuantity (MiB)",
            1,
            MAX_MEMORY_MIB,
        ),
        min_allocated_mem_mib=_optional_whole(
            _number_text(content, "MinAllocatedMem"), "MinAllocatedMem (MiB)", 1, MAX_MEMORY_MIB
        ),
        max_memory_mib=_optional_whole(
            _number_text(content, "MaxMemorySizeMb"), "MaxMemorySizeMb", 1, MAX_MEMORY_MIB
        ),
        sockets=_whole(
            _number_text(cpu, RASD + "num_of_sockets"), "rasd:num_of_sockets", 1, MAX_VCPUS
        ),
        cores_per_socket=_whole(
            _number_text(cpu, RASD + "cpu_per_socket"), "rasd:cpu_per_socket", 1, MAX_VCPUS
        ),
        threads_per_core=_whole(
            _number_text(cpu, RASD + "threads_per_cpu") or "1", "rasd:threads_per_cpu", 1, MAX_VCPUS
        ),
        max_vcpus=_optional_whole(
            _number_text(cpu, RASD + "max_num_of_vcpus"), "rasd:max_num_of_vcpus", 1, MAX_VCPUS
        ),
        cpu_type=text(content, "CustomCpuName"),
        emulated_machine=text(content, "CustomEmulatedMachine"),
        display=None if display_code is None else DISPLAY_TYPES.get(display_code),
        devices=_devices(layout),
        engine_xml=layout.engine_xml_text,
        has_lease=engine is not None and engine.has_lease,
        has_exclusive_disk=engine is not None and engine.has_exclusive_disk,
    )
    _check_consistency(vm)
    return vm
