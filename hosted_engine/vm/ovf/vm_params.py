"""The VDSM ``VM.create`` parameters the reference derives from the OVF (§6, ``vm.conf``).

Kept value for value with the reference's ``ovf2VmParams.toDict`` (strings throughout,
``None`` addresses kept, default rng and console added) so its expectations still hold,
with two deliberate fixes: disk indexes count up (the reference gave every disk index 0)
and a disk marked ``ovf:shareable`` is ``shared`` rather than always ``exclusive``.
"""

from __future__ import annotations

import base64
from typing import Any

from hosted_engine.vm.ovf.engine_xml import EngineXml
from hosted_engine.vm.ovf.model import OvfDevice, OvfDisk, OvfNic, OvfVm

SPICE_SECURE_CHANNELS = "smain,sdisplay,sinputs,scursor,splayback,srecord,ssmartcard,susbredir"
BLANK_UUID = "00000000-0000-0000-0000-000000000000"
CDROM_INDEX = 2  # IDE index the reference reserves for the cdrom
CDROM_DEVICE_ID = "8c3179ac-b322-4f5c-9449-c52e3665e0ae"
CDROM_ADDRESS = "{ controller:0, target:0,unit:0, bus:1, type:drive}"


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _common(device: OvfDevice) -> dict[str, Any]:
    params: dict[str, Any] = {
        "type": device.type,
        "device": device.device,
        "deviceId": device.device_id,
        # The engine writes {a=b, ...}; VDSM's vm.conf syntax wants {a:b, ...}.
        "address": device.address.replace("=", ":") if device.address is not None else None,
    }
    if device.spec_params:
        params["specParams"] = dict(device.spec_params)
    return params


def _disk(disk: OvfDisk, index: int) -> dict[str, Any]:
    return {
        "type": disk.type,
        "device": disk.device,
        "index": str(index),
        "iface": disk.interface,
        "format": disk.format,
        "poolID": BLANK_UUID,  # the engine VM may start before the pool is attached
        "domainID": disk.domain_id,
        "imageID": disk.image_id,
        "volumeID": disk.volume_id,
        "deviceId": disk.image_id,
        "readonly": _flag(disk.read_only),
        "address": _common(disk)["address"],
        "bootOrder": str(disk.boot_order + 1),
        "propagateErrors": "off",
        "shared": "shared" if disk.shared else "exclusive",
    }


def _nic(nic: OvfNic) -> dict[str, Any]:
    params = _common(nic)
    if nic.model is not None:
        params["nicModel"] = nic.model
    params.update(macAddr=nic.mac, network=nic.network, linkActive=_flag(nic.link_active))
    return params


def _device(device: OvfDevice) -> dict[str, Any]:
    params = _common(device)
    if device.type == "disk":  # the cdrom: always the empty IDE drive the reference builds
        params.update(
            index=str(CDROM_INDEX),
            iface="ide",
            address=CDROM_ADDRESS,
            readonly="true",
            deviceId=CDROM_DEVICE_ID,
            path="",
            shared="false",
        )
    elif device.type == "controller":
        if device.device in ("virtio-scsi", "scsi"):
            params.update(device="scsi", model="virtio-scsi")
    elif device.type == "video":
        params["alias"] = "video0"
    elif device.type == "rng":
        params.update(alias=device.alias, model=device.device)
    return params


def _devices(vm: OvfVm) -> list[dict[str, Any]]:
    devices = []
    disk_index = 0
    for device in vm.devices:
        if isinstance(device, OvfDisk):
            devices.append(_disk(device, disk_index))
            disk_index += 1
            if disk_index == CDROM_INDEX:
                disk_index += 1
        elif isinstance(device, OvfNic):
            devices.append(_nic(device))
        else:
            devices.append(_device(device))
    if vm.rng is None:
        specs = {"source": "urandom"}
        devices.append({"type": "rng", "device": "virtio", "model": "virtio", "specParams": specs})
    if vm.console is None:
        devices.append({"type": "console", "device": "console"})
    return devices


def vm_params(vm: OvfVm) -> dict[str, Any]:
    params: dict[str, Any] = {
        "vmId": vm.vm_id,
        "vmName": vm.name,
        "display": vm.display,
        "cpuType": vm.cpu_type,
        "emulatedMachine": vm.emulated_machine,
        "smp": str(vm.smp),
        "maxVCpus": None if vm.max_vcpus is None else str(vm.max_vcpus),
        "memSize": str(vm.mem_size_mib),
        "spiceSecureChannels": SPICE_SECURE_CHANNELS,
        "devices": _devices(vm),
    }
    if vm.starts_from_engine_xml and vm.engine_xml is not None:
        xml = EngineXml(vm.engine_xml).for_vdsm()
        params["xmlBase64"] = base64.standard_b64encode(xml.encode("utf-8")).decode("ascii")
    return {key: value for key, value in params.items() if value is not None}
