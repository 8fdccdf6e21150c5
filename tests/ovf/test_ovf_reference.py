"""The four OVFs of the reference's test suite parse to the values they hold (ha-anchor §6, §10).

Expected values were read out of the XML by hand; the VDSM parameter dicts match what
the reference's ``ovf2VmParams.toDict`` produced for the same files.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from lxml import etree
from ovf_helpers import (
    OVF_36,
    OVF_42,
    OVF_42_UNSAFE,
    OVF_MAX_VCPU,
    REFERENCE_FILES,
    WITH_ENGINE_XML,
    engine_xml_root,
    load,
)

from hosted_engine.vm.definition import Nic, VmDefinition
from hosted_engine.vm.ovf import OvfDisk, OvfNic, parse_ovf

VM_36 = "50e59bbd-f829-4761-ba1b-6db1a6acc3b8"
VM_42 = "eccb9cb6-affd-4806-8200-708370581227"
VM_42_UNSAFE = "b4491372-8f8a-4e08-8524-f8fb986a548a"

# file: (vm id, memory, MinAllocatedMem, MaxMemorySizeMb, sockets, cores, threads, max vCPUs,
#        cpu type, emulated machine, display)
GENERAL: dict[str, tuple[Any, ...]] = {
    OVF_36: (VM_36, 4096, 4096, None, 1, 1, 1, None, "SandyBridge", "rhel6.5.0", "vnc"),
    OVF_MAX_VCPU: (VM_36, 4096, 4096, None, 1, 1, 1, 16, "SandyBridge", "rhel6.5.0", "vnc"),
    OVF_42: (VM_42, 16384, 16384, 65536, 12, 1, 1, 16, "Broadwell", "pc-i440fx-rhel7.3.0", "vnc"),
    OVF_42_UNSAFE: (
        VM_42_UNSAFE,
        4096,
        1024,
        16384,
        1,
        4,
        1,
        64,
        "Haswell-noTSX",
        "pc-i440fx-rhel7.3.0",
        "qxl",
    ),
}

DISK_36 = OvfDisk(
    type="disk",
    device="disk",
    device_id="05f1031c-6c9a-48c3-9a62-930984e52e11",
    address="{slot=0x06, bus=0x00, domain=0x0000, type=pci, function=0x0}",
    alias="virtio-disk0",
    image_id="1b52d184-a370-48a7-8335-a4755b01ec0a",
    volume_id="05f1031c-6c9a-48c3-9a62-930984e52e11",
    domain_id="475e7578-33a2-474f-8647-aa46f01200f9",
    interface="ide",
    format="raw",
    boot_order=1,
    read_only=False,
    shared=False,
)
DISKS = {
    OVF_36: DISK_36,
    OVF_MAX_VCPU: DISK_36,
    OVF_42: OvfDisk(
        type="disk",
        device="disk",
        device_id="3ab9fff0-9aa1-4c2e-ad67-5e25d05cb86e",
        address="{type=pci, slot=0x06, bus=0x00, domain=0x0000, function=0x0}",
        alias="virtio-disk0",
        image_id="69a2b8c2-8d1c-4014-8f75-a85c16bc5b71",
        volume_id="3ab9fff0-9aa1-4c2e-ad67-5e25d05cb86e",
        domain_id="ce880525-a44b-4248-8b63-d9e11b2f123a",
        interface="virtio",
        format="raw",
        boot_order=0,
        read_only=False,
        shared=False,
    ),
    OVF_42_UNSAFE: OvfDisk(
        type="disk",
        device="disk",
        device_id="81487a81-d27d-41b8-b3d1-139d38437f42",
        address="{type=pci, slot=0x06, bus=0x00, domain=0x0000, function=0x0}",
        alias="virtio-disk0",
        image_id="add49103-89de-4a7e-b22f-9768a324b8f9",
        volume_id="81487a81-d27d-41b8-b3d1-139d38437f42",
        domain_id="1f71b5f9-5cfa-459c-8ec2-ee48c9731f60",
        interface="virtio",
        format="cow",
        boot_order=0,
        read_only=False,
        shared=False,
    ),
}

PCI_42 = "{type=pci, slot=0x03, bus=0x00, domain=0x0000, function=0x0}"
# file: [(InstanceId, MAC, network, link, Alias, address)]; every NIC is model 3 (pv)
NICS: dict[str, list[tuple[str, str, str, bool, str | None, str]]] = {
    OVF_36: [
        (
            "7442c4a6-c63d-4734-8a7e-3b2878efd7df",
            "00:16:3e:43:ed:b5",
            "ovirtmgmt",
            True,
            None,
            "{slot=0x03, bus=0x00, domain=0x0000, type=pci, function=0x0}",
        ),
        (
            "7442c4a6-c63d-4734-8a7e-3b2878efd7ef",
            "00:16:3e:43:ed:b6",
            "dummynet",
            False,
            None,
            "{slot=0x04, bus=0x00, domain=0x0000, type=pci, function=0x0}",
        ),
    ],
    OVF_42: [
        (
            "a959b3de-a059-4634-abcc-eb256be6898d",
            "00:16:3e:6a:7a:f9",
            "ovirtmgmt",
            True,
            "net0",
            PCI_42,
        )
    ],
    OVF_42_UNSAFE: [
        (
            "542e02d2-b4fe-4241-8a27-1f7ba42dba7c",
            "00:16:3e:62:28:65",
            "ovirtmgmt",
            True,
            "net0",
            PCI_42,
        )
    ],
}
NICS[OVF_MAX_VCPU] = NICS[OVF_36]

# file: (has EngineXml, lease in it, exclusive disk in it, xmlBase64 in the VDSM parameters)
ENGINE_XML = {
    OVF_36: (False, False, False, False),
    OVF_MAX_VCPU: (False, False, False, False),
    OVF_42: (True, True, True, True),
    OVF_42_UNSAFE: (True, False, False, False),
}


@pytest.mark.parametrize("name", REFERENCE_FILES)
def test_general_values(name: str) -> None:
    vm = parse_ovf(load(name)).vm
    assert vm.name == "HostedEngine"
    assert (
        vm.vm_id,
        vm.mem_size_mib,
        vm.min_allocated_mem_mib,
        vm.max_memory_mib,
        vm.sockets,
        vm.cores_per_socket,
        vm.threads_per_core,
        vm.max_vcpus,
        vm.cpu_type,
        vm.emulated_machine,
        vm.display,
    ) == GENERAL[name]


@pytest.mark.parametrize("name", REFERENCE_FILES)
def test_disks(name: str) -> None:
    assert parse_ovf(load(name)).vm.disks == (DISKS[name],)


@pytest.mark.parametrize("name", REFERENCE_FILES)
def test_nics(name: str) -> None:
    nics = parse_ovf(load(name)).vm.nics
    expected = tuple(
        OvfNic(
            type="interface",
            device="bridge",
            device_id=device_id,
            address=address,
            alias=alias,
            mac=mac,
            model="pv",
            network=network,
            link_active=link,
        )
        for device_id, mac, network, link, alias, address in NICS[name]
    )
    assert nics == expected


@pytest.mark.parametrize("name", REFERENCE_FILES)
def test_engine_xml_and_lease(name: str) -> None:
    doc = parse_ovf(load(name))
    vm = doc.vm
    assert (
        vm.engine_xml is not None,
        vm.has_lease,
        vm.has_exclusive_disk,
        "xmlBase64" in doc.vm_params(),
    ) == ENGINE_XML[name]


def test_other_devices_of_the_36_file() -> None:
    vm = parse_ovf(load(OVF_36)).vm
    assert [(c.device, c.alias) for c in vm.controllers] == [
        ("virtio-scsi", "scsi0"),
        ("usb", "usb0"),
        ("ide", "ide0"),
        ("virtio-serial", "virtio-serial0"),
    ]
    assert [(g.device, g.device_id) for g in vm.graphics] == [
        ("spice", "546172ad-e415-400b-b079-91a033efd4b1")
    ]
    assert vm.cdrom is not None and vm.cdrom.device_id == "131ab170-8626-4473-b22a-6724a057336b"
    assert vm.video is not None and (vm.video.device, vm.video.alias) == ("cirrus", "video0")
    assert vm.rng is not None and vm.rng.spec_params == {"source": "urandom"}
    assert vm.console is None  # the reference adds a default one to the VDSM parameters
    # channels and sound are not modelled (they stay in the document)
    assert {d.type for d in vm.devices} == {
        "disk",
        "graphics",
        "interface",
        "controller",
        "video",
        "rng",
    }


def test_other_devices_of_the_42_files() -> None:
    vm = parse_ovf(load(OVF_42)).vm
    assert vm.console is not None and vm.console.device_id == "c60aba6e-b6d8-448b-ab6e-8c7b5c29f351"
    assert vm.video is None and vm.rng is None
    unsafe = parse_ovf(load(OVF_42_UNSAFE)).vm
    assert unsafe.video is not None and unsafe.video.spec_params == {
        "vgamem": "16384",
        "heads": "1",
        "vram": "32768",
        "ram": "65536",
    }
    assert [g.device for g in unsafe.graphics] == ["spice"]


@pytest.mark.parametrize("name", REFERENCE_FILES)
def test_to_definition(name: str) -> None:
    vm_id, mem, min_mem, _, sockets, cores, threads, max_vcpus, cpu, machine, display = GENERAL[
        name
    ]
    nics = tuple(
        Nic(mac_addr=mac, network=net, model="virtio", link_active=link)
        for _, mac, net, link, _, _ in NICS[name]
    )
    assert parse_ovf(load(name)).to_definition() == VmDefinition(
        vm_id=vm_id,
        name="HostedEngine",
        mem_size_mib=mem,
        min_allocated_mem_mib=min_mem,
        sockets=sockets,
        cores_per_socket=cores,
        threads_per_core=threads,
        max_vcpus=max_vcpus,
        nics=nics,
        cpu_type=cpu,
        emulated_machine=machine,
        display=display,
    )


# --- VDSM parameters, as the reference's toDict gave them ----------------------------------

SPICE = "smain,sdisplay,sinputs,scursor,splayback,srecord,ssmartcard,susbredir"
BLANK = "00000000-0000-0000-0000-000000000000"
CDROM = {
    "type": "disk",
    "device": "cdrom",
    "index": "2",
    "iface": "ide",
    "address": "{ controller:0, target:0,unit:0, bus:1, type:drive}",
    "readonly": "true",
    "deviceId": "8c3179ac-b322-4f5c-9449-c52e3665e0ae",
    "path": "",
    "shared": "false",
}
DEFAULT_RNG = {
    "type": "rng",
    "device": "virtio",
    "model": "virtio",
    "specParams": {"source": "urandom"},
}
DEFAULT_CONSOLE = {"type": "console", "device": "console"}


def _pci(slot: str, function: str = "0x0", first: str = "slot") -> str:
    if first == "type":  # 4.2 engines write the type first
        return f"{{type:pci, slot:{slot}, bus:0x00, domain:0x0000, function:{function}}}"
    return f"{{slot:{slot}, bus:0x00, domain:0x0000, type:pci, function:{function}}}"


def _disk(disk: OvfDisk, boot_order: str, address: str) -> dict[str, Any]:
    return {
        "type": "disk",
        "device": "disk",
        "index": "0",
        "iface": disk.interface,
        "format": disk.format,
        "poolID": BLANK,
        "volumeID": disk.volume_id,
        "imageID": disk.image_id,
        "deviceId": disk.image_id,
        "domainID": disk.domain_id,
        "readonly": "false",
        "address": address,
        "bootOrder": boot_order,
        "propagateErrors": "off",
        "shared": "exclusive",
    }


def _nic(device_id: str, mac: str, network: str, link: str, address: str) -> dict[str, Any]:
    return {
        "type": "interface",
        "device": "bridge",
        "deviceId": device_id,
        "address": address,
        "nicModel": "pv",
        "macAddr": mac,
        "network": network,
        "linkActive": link,
    }


def _controller(device: str, device_id: str, address: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "controller",
        "device": device,
        "deviceId": device_id,
        "address": address,
    } | extra


PARAMS_36: dict[str, Any] = {
    "vmId": VM_36,
    "vmName": "HostedEngine",
    "memSize": "4096",
    "display": "vnc",
    "smp": "1",
    "cpuType": "SandyBridge",
    "emulatedMachine": "rhel6.5.0",
    "spiceSecureChannels": SPICE,
    "devices": [
        _disk(DISK_36, "2", _pci("0x06")),
        {
            "type": "graphics",
            "device": "spice",
            "deviceId": "546172ad-e415-400b-b079-91a033efd4b1",
            "address": None,
        },
        CDROM,
        _controller(
            "scsi",
            "243e6a18-ae41-47dc-af9e-29f2df1b3713",
            "{bus:0x00, slot:0x06, domain:0x0000, type:pci, function:0x0}",
            model="virtio-scsi",
        ),
        _nic(
            "7442c4a6-c63d-4734-8a7e-3b2878efd7df",
            "00:16:3e:43:ed:b5",
            "ovirtmgmt",
            "true",
            _pci("0x03"),
        ),
        _nic(
            "7442c4a6-c63d-4734-8a7e-3b2878efd7ef",
            "00:16:3e:43:ed:b6",
            "dummynet",
            "false",
            _pci("0x04"),
        ),
        _controller("usb", "9ae636d9-f23f-4050-84c3-096c798b4851", _pci("0x01", "0x2")),
        _controller("ide", "90cf38c4-ae28-45be-a38f-42f19ac83929", _pci("0x01", "0x1")),
        _controller("virtio-serial", "e354e922-b612-49ca-9474-adacc2dc388e", _pci("0x05")),
        {
            "type": "video",
            "device": "cirrus",
            "alias": "video0",
            "deviceId": "d3c45090-2863-4faa-a9c4-58fdd1d06f19",
            "address": _pci("0x02"),
        },
        {
            "type": "rng",
            "device": "virtio",
            "model": "virtio",
            "alias": "rng0",
            "deviceId": "e61f8f3b-8bf1-4b5f-9e3a-22d4e60a11ca",
            "address": _pci("0x07"),
            "specParams": {"source": "urandom"},
        },
        DEFAULT_CONSOLE,
    ],
}
PARAMS_MAX_VCPU = PARAMS_36 | {"maxVCpus": "16"}

PARAMS_42: dict[str, Any] = {
    "vmId": VM_42,
    "vmName": "HostedEngine",
    "memSize": "16384",
    "display": "vnc",
    "smp": "12",
    "maxVCpus": "16",
    "cpuType": "Broadwell",
    "emulatedMachine": "pc-i440fx-rhel7.3.0",
    "spiceSecureChannels": SPICE,
    "devices": [
        _disk(DISKS[OVF_42], "1", _pci("0x06", first="type")),
        _nic(
            "a959b3de-a059-4634-abcc-eb256be6898d",
            "00:16:3e:6a:7a:f9",
            "ovirtmgmt",
            "true",
            _pci("0x03", first="type"),
        ),
        {
            "type": "graphics",
            "device": "vnc",
            "deviceId": "569aff14-42ca-456e-ad7f-3d53ed512ed3",
            "address": None,
        },
        CDROM,
        _controller(
            "usb",
            "0473bfa4-604b-40d3-8ca4-b9ba55f4f8bd",
            _pci("0x01", "0x2", first="type"),
            specParams={"index": "0", "model": "piix3-uhci"},
        ),
        _controller(
            "ide",
            "3443c210-d567-45b2-95f5-1812c1582e6c",
            _pci("0x01", "0x1", first="type"),
            specParams={"index": "0"},
        ),
        _controller(
            "virtio-serial",
            "516eedee-53c2-4a85-bf12-54d41fd81f62",
            _pci("0x05", first="type"),
            specParams={"index": "0"},
        ),
        _controller(
            "scsi",
            "5fad56de-094c-4a08-8215-898df4d51b36",
            _pci("0x04", first="type"),
            model="virtio-scsi",
            specParams={"index": "0", "model": "virtio-scsi"},
        ),
        {
            "type": "console",
            "device": "console",
            "deviceId": "c60aba6e-b6d8-448b-ab6e-8c7b5c29f351",
            "address": None,
        },
        DEFAULT_RNG,
    ],
}

PARAMS_42_UNSAFE: dict[str, Any] = {
    "vmId": VM_42_UNSAFE,
    "vmName": "HostedEngine",
    "memSize": "4096",
    "display": "qxl",
    "smp": "4",
    "maxVCpus": "64",
    "cpuType": "Haswell-noTSX",
    "emulatedMachine": "pc-i440fx-rhel7.3.0",
    "spiceSecureChannels": SPICE,
    "devices": [
        _disk(DISKS[OVF_42_UNSAFE], "1", _pci("0x06", first="type")),
        _nic(
            "542e02d2-b4fe-4241-8a27-1f7ba42dba7c",
            "00:16:3e:62:28:65",
            "ovirtmgmt",
            "true",
            _pci("0x03", first="type"),
        ),
        {
            "type": "video",
            "device": "qxl",
            "alias": "video0",
            "deviceId": "8644313b-fb30-44f5-b01a-5e0555a5d9ac",
            "address": None,
            "specParams": {"heads": "1", "ram": "65536", "vgamem": "16384", "vram": "32768"},
        },
        {
            "type": "graphics",
            "device": "spice",
            "deviceId": "7115e321-26af-4b2c-a0bf-d468561164a6",
            "address": None,
        },
        CDROM,
        _controller(
            "ide",
            "7ec1353f-1d5e-4327-9ce6-06848b83492a",
            _pci("0x01", "0x1", first="type"),
            specParams={"index": "0"},
        ),
        {
            "type": "rng",
            "device": "virtio",
            "model": "virtio",
            "alias": "rng0",
            "deviceId": "7f75c30c-7ece-48bc-8166-566809b543f9",
            "address": _pci("0x07", first="type"),
            "specParams": {"source": "urandom"},
        },
        _controller(
            "usb",
            "d7a1852f-621a-40e9-a617-ae9d98efa5b1",
            _pci("0x01", "0x2", first="type"),
            specParams={"index": "0", "model": "piix3-uhci"},
        ),
        _controller(
            "virtio-serial", "5af61c67-0c82-4feb-a083-dcfcf670ad5a", _pci("0x05", first="type")
        ),
        _controller(
            "scsi",
            "7a856b05-598f-46ec-996a-3c71ebb19014",
            _pci("0x04", first="type"),
            model="virtio-scsi",
        ),
        DEFAULT_CONSOLE,
    ],
}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (OVF_36, PARAMS_36),
        (OVF_MAX_VCPU, PARAMS_MAX_VCPU),
        (OVF_42, PARAMS_42),
        (OVF_42_UNSAFE, PARAMS_42_UNSAFE),
    ],
)
def test_vm_params_match_the_reference(name: str, expected: dict[str, Any]) -> None:
    params = parse_ovf(load(name)).vm_params()
    params.pop("xmlBase64", None)
    assert params == expected


@pytest.mark.parametrize("name", WITH_ENGINE_XML)
def test_xml_base64_is_the_engine_xml_with_the_console_alias_cut(name: str) -> None:
    params = parse_ovf(load(name)).vm_params()
    if name == OVF_42_UNSAFE:  # no lease, no exclusive disk: VDSM builds the VM from the OVF
        assert "xmlBase64" not in params
        return
    sent = etree.fromstring(base64.standard_b64decode(params["xmlBase64"]))
    expected = engine_xml_root(load(name))
    alias = expected.find("devices/console/alias")
    assert alias is not None and alias.get("name") == "ua-c60aba6e-b6d8-448b-ab6e-8c7b5c29f351"
    alias.set("name", "ua-c60aba6e-b6d8-448b-ab")  # 24 characters
    assert etree.tostring(sent, method="c14n") == etree.tostring(expected, method="c14n")


def test_vm_params_count_disk_indexes_past_the_cdrom() -> None:
    """The reference gave every disk index 0; three disks get 0, 1 and 3 here."""
    data = load(OVF_36).decode()
    item_start = data.index("<Item>", data.index("<rasd:Caption>virtio-disk0"))
    disk_item = data[data.rindex("<Item>", 0, item_start) : item_start]
    disk = data[data.index("<Disk ") : data.index("/>", data.index("<Disk ")) + 2]
    items, disks = [], []
    for n in (1, 2):
        volume = f"05f1031c-6c9a-48c3-9a62-93098000000{n}"
        items.append(disk_item.replace("05f1031c-6c9a-48c3-9a62-930984e52e11", volume))
        disks.append(disk.replace("05f1031c-6c9a-48c3-9a62-930984e52e11", volume))
    data = data.replace(disk_item, disk_item + "".join(items)).replace(disk, disk + "".join(disks))
    params = parse_ovf(data.encode()).vm_params()
    assert [d["index"] for d in params["devices"] if d["device"] == "disk"] == ["0", "1", "3"]
