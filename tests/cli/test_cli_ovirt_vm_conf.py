"""An oVirt-written vm.conf as the definition: its ``devices=`` lines give the NICs and
display, its top-level keys the CPU type and machine (ha-anchor 6, "Output vm.conf")."""

from __future__ import annotations

from pathlib import Path

import pytest

from hosted_engine.errors import VmDefinitionError
from hosted_engine.vm.definition import from_text, parse_device

from .conftest import VM_ID, Cli, Domain, MakeConf, assert_one_line_error

NIC_LINE = (
    "devices={nicModel:pv,macAddr:00:16:3e:6a:7b:8c,linkActive:true,network:ovirtmgmt,"
    "deviceId:6f3e1b2a-1111-4222-8333-444455556666,"
    "address:{bus:0x00,domain:0x0000,function:0x0,slot:0x03,type:pci},"
    "device:bridge,type:interface}"
)
OVIRT_VM_CONF = (
    "# Editing the hosted engine VM is only possible via the manager UI/API\n"
    "# This file was generated at Tue Mar  3 10:15:42 2026\n"
    f"vmId={VM_ID}\n"
    "memSize=4096\n"
    "display=vnc\n"
    "devices={index:2,iface:ide,address:{controller:0,target:0,unit:0,bus:1,type:drive},"
    "specParams:{},readonly:true,deviceId:8c2f0c39-0000-4000-8000-000000000002,path:,"
    "device:cdrom,shared:false,type:disk}\n"
    "devices={index:0,iface:virtio,format:raw,poolID:00000000-0000-0000-0000-000000000000,"
    "volumeID:1b7b0c11-0000-4000-8000-000000000003,imageID:3c3b57a1-0000-4000-8000-000000000004,"
    "specParams:{},readonly:false,domainID:4c8a5b1e-0000-4000-8000-000000000001,"
    "optional:false,deviceId:3c3b57a1-0000-4000-8000-000000000004,"
    "address:{bus:0x00,slot:0x06,domain:0x0000,type:pci,function:0x0},device:disk,"
    "shared:exclusive,propagateErrors:off,type:disk,bootOrder:1}\n"
    f"{NIC_LINE}\n"
    "devices={device:console,type:console}\n"
    "devices={device:vga,alias:video0,type:video}\n"
    "devices={device:vnc,type:graphics}\n"
    "vmName=HostedEngine\n"
    "spiceSecureChannels=smain,sdisplay,sinputs,scursor,splayback,srecord,ssmartcard,susbredir\n"
    "smp=4\n"
    "maxVCpus=16\n"
    "cpuType=SandyBridge\n"
    "emulatedMachine=pc-i440fx-rhel7.6.0\n"
)


@pytest.fixture
def ovirt_conf(make_conf: MakeConf, domain: Domain) -> Path:
    vm_conf = domain.ha_dir / "vm.conf"
    vm_conf.write_text(OVIRT_VM_CONF)
    return make_conf(vmid=VM_ID, conf=vm_conf)


def test_show_vm_definition_keeps_the_nic_cpu_machine_and_display(
    cli: Cli, ovirt_conf: Path
) -> None:
    result = cli("--show-vm-definition", "--json", "--config", ovirt_conf)
    assert result.code == 0, result.err
    shown = result.json
    assert shown["nics"] == [
        {
            "macAddr": "00:16:3e:6a:7b:8c",
            "network": "ovirtmgmt",
            "model": "virtio",
            "linkActive": True,
        }
    ]
    assert (shown["cpuType"], shown["emulatedMachine"], shown["display"]) == (
        "SandyBridge",
        "pc-i440fx-rhel7.6.0",
        "vnc",
    )
    assert (shown["memSize"], shown["sockets"], shown["maxVCpus"]) == (4096, 4, 16)


def test_display_comes_from_the_graphics_device_when_not_given() -> None:
    text = OVIRT_VM_CONF.replace("display=vnc\n", "").replace("device:vnc,", "device:spice,")
    assert from_text(text).display == "qxl"


def test_nic_keys_win_over_devices_lines() -> None:
    text = OVIRT_VM_CONF + "nic1.macAddr=00:16:3e:00:00:99\n"
    assert [nic.mac_addr for nic in from_text(text).nics] == ["00:16:3e:00:00:99"]


def test_every_interface_with_a_mac_is_a_nic_in_order() -> None:
    second = NIC_LINE.replace("6a:7b:8c", "00:00:02").replace("nicModel:pv", "nicModel:e1000")
    second = second.replace("linkActive:true", "linkActive:false").replace("ovirtmgmt", "storage")
    nics = from_text(OVIRT_VM_CONF + second + "\ndevices={device:bridge,type:interface}\n").nics
    assert [(n.mac_addr, n.network, n.model, n.link_active) for n in nics] == [
        ("00:16:3e:6a:7b:8c", "ovirtmgmt", "virtio", True),
        ("00:16:3e:00:00:02", "storage", "e1000", False),
    ]


def test_values_keep_their_colons_and_nested_braces() -> None:
    device = parse_device(NIC_LINE.removeprefix("devices="))
    assert device["macAddr"] == "00:16:3e:6a:7b:8c"
    assert device["address"] == "{bus:0x00,domain:0x0000,function:0x0,slot:0x03,type:pci}"
    assert device["type"] == "interface"


@pytest.mark.parametrize(
    "line",
    [
        "devices={type:interface,address:{bus:0}",
        "devices=type:interface",
        "devices={type:interface,junk}",
        "devices={type:interface}}",
        "devices={type:interface,macAddr:not-a-mac}",
    ],
)
def test_a_bad_devices_line_is_a_one_line_error(
    cli: Cli, make_conf: MakeConf, domain: Domain, line: str
) -> None:
    with pytest.raises(VmDefinitionError):
        from_text(f"vmId={VM_ID}\n{line}\n")
    vm_conf = domain.ha_dir / "vm.conf"
    vm_conf.write_text(f"vmId={VM_ID}\n{line}\n")
    assert_one_line_error(
        cli("--show-vm-definition", "--config", make_conf(vmid=VM_ID, conf=vm_conf))
    )


def test_shared_config_sees_and_edits_a_nic_of_the_devices_lines() -> None:
    from hosted_engine.config.shared_formats import VmConfFormat

    vm_conf = VmConfFormat()
    assert vm_conf.values(OVIRT_VM_CONF)["nic1.macAddr"] == "00:16:3e:6a:7b:8c"
    edited = vm_conf.update(OVIRT_VM_CONF, "nic1.network", "storage")
    (nic,) = from_text(edited).nics
    assert (nic.mac_addr, nic.network, nic.model) == ("00:16:3e:6a:7b:8c", "storage", "virtio")
    assert NIC_LINE in edited  # oVirt's own lines are left as they were
