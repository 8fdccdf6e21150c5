"""The engine VM definition as libvirt domain XML: pure, so it is tested without libvirt.

Everything the definition says lands in the XML (CPU topology, memory and the minimum
guaranteed memory, the boot disk, NICs, display); how the host runs it (the domain type,
the emulator, where images live, the sanlock lease) is the caller's :class:`XmlSettings`,
because it is the host's configuration, not the VM's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from hosted_engine.vm.definition import VmDefinition

METADATA_NS = "https://hosted-engine.invalid/vm/1.0"


@dataclass(frozen=True)
class LeaseTarget:
    """Where sanlock keeps the VM's resource lease: libvirt's ``<lease>`` element."""

    lockspace: str
    path: Path
    offset: int = 0


@dataclass(frozen=True)
class XmlSettings:
    domain_type: str = "qemu"  # no KVM to rely on; "test" for libvirt's test driver
    emulator: str | None = None
    images_dir: Path | None = None  # boot disk: <images_dir>/<bootImageId>
    lease: LeaseTarget | None = None
    arch: str = "x86_64"


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def domain_xml(definition: VmDefinition, settings: XmlSettings | None = None) -> str:
    """The ``<domain>`` libvirt defines for ``definition``."""
    d = definition
    settings = settings or XmlSettings()
    root = etree.Element("domain", type=settings.domain_type)
    _sub(root, "name", d.name)
    _sub(root, "uuid", domain_uuid(d.vm_id))
    _sub(root, "memory", str(d.mem_size_mib), unit="MiB")
    _sub(root, "currentMemory", str(d.mem_size_mib), unit="MiB")
    # QEMU refuses <memtune><min_guarantee>; like oVirt, the guaranteed minimum travels in
    # the domain's metadata, for whatever balloons memory (MOM in the reference)
    metadata = _sub(root, "metadata")
    vm_meta = etree.SubElement(metadata, f"{{{METADATA_NS}}}vm", nsmap={"he": METADATA_NS})
    guaranteed = etree.SubElement(vm_meta, f"{{{METADATA_NS}}}minGuaranteedMemoryMb")
    guaranteed.text = str(d.min_allocated_mib)
    threads = d.threads_per_core
    vcpus = d.smp * threads
    _sub(root, "vcpu", str(max(d.max_vcpus or vcpus, vcpus)), current=str(vcpus))
    os_el = _sub(root, "os")
    type_attrs = {"arch": settings.arch}
    if d.emulated_machine:
        type_attrs["machine"] = d.emulated_machine
    _sub(os_el, "type", "hvm", **type_attrs)
    _sub(os_el, "boot", dev="hd")
    cpu = _sub(root, "cpu")
    if d.cpu_type:
        cpu.set("mode", "custom")
        _sub(cpu, "model", d.cpu_type, fallback="allow")
    max_sockets = max(1, (d.max_vcpus or vcpus) // (d.cores_per_socket * threads))
    _sub(
        cpu,
        "topology",
        sockets=str(max(max_sockets, d.sockets)),
        cores=str(d.cores_per_socket),
        threads=str(threads),
    )
    _sub(root, "on_poweroff", "destroy")
    _sub(root, "on_reboot", "destroy")  # the agent, not libvirt, decides where it restarts
    _sub(root, "on_crash", "destroy")
    devices = _sub(root, "devices")
    if settings.emulator:
        _sub(devices, "emulator", settings.emulator)
    if d.boot_image_id and settings.images_dir is not None:
        disk = _sub(devices, "disk", type="file", device="disk")
        _sub(disk, "driver", name="qemu", type="raw")
        _sub(disk, "source", file=str(settings.images_dir / d.boot_image_id))
        _sub(disk, "target", dev="vda", bus="virtio")
    for nic in d.nics:
        iface = _sub(devices, "interface", type="network")
        _sub(iface, "mac", address=nic.mac_addr)
        _sub(iface, "source", network=nic.network)
        _sub(iface, "model", type=nic.model)
        _sub(iface, "link", state="up" if nic.link_active else "down")
    if d.display:
        _sub(devices, "graphics", type="vnc" if d.display == "vnc" else "spice", autoport="yes")
        video = _sub(devices, "video")
        _sub(video, "model", type="vga" if d.display == "vnc" else "qxl")
    if settings.lease is not None:
        lease = _sub(devices, "lease")
        _sub(lease, "lockspace", settings.lease.lockspace)
        _sub(lease, "key", d.vm_id)
        _sub(lease, "target", path=str(settings.lease.path), offset=str(settings.lease.offset))
    return etree.tostring(root, pretty_print=True, encoding="unicode")


def domain_uuid(vm_id: str) -> str:
    """The vmId when it is a UUID (oVirt's are), else one derived from it, stable so that
    redefining the domain replaces it rather than clashing with it."""
    try:
        return str(uuid.UUID(vm_id))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"hosted-engine:{vm_id}"))
