"""The engine VM as an oVirt OVF describes it, typed.

Only what hosted-engine acts on is modelled; the document (``OvfDocument``) keeps the
rest. Devices keep their OVF order because the VDSM parameters list them in that order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# ResourceSubType of a NIC Item: the engine's VmInterfaceType enum, by ordinal.
NIC_MODELS: Mapping[int, str] = {
    0: "rtl8139_pv",
    1: "rtl8139",
    2: "e1000",
    3: "pv",
    4: "spaprVlan",
    5: "pciPassthrough",
}
# VmDefinition (vm.conf) calls the paravirtual NIC by its libvirt name.
DEFINITION_NIC_MODEL: Mapping[str, str] = {"pv": "virtio"}
# The names a NIC model may be given (OVF or vm.conf) and the ResourceSubType they mean.
NIC_MODEL_CODES: Mapping[str, int] = {name: code for code, name in NIC_MODELS.items()} | {
    "virtio": 3
}

# DefaultDisplayType: the engine's DisplayType enum (cirrus, qxl, vga) as VDSM displays.
DISPLAY_TYPES: Mapping[int, str] = {0: "vnc", 1: "qxl", 2: "vnc"}

MAX_MEMORY_MIB = 16 * 1024 * 1024  # 16 TiB
MAX_VCPUS = 4096


@dataclass(frozen=True, kw_only=True)
class OvfDevice:
    """A hardware Item with a ``Type``: one VM device as the engine recorded it."""

    type: str
    device: str
    device_id: str | None = None  # rasd:InstanceId
    address: str | None = None  # rasd:Address, engine syntax "{type=pci, slot=0x03, ...}"
    alias: str | None = None
    spec_params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class OvfDisk(OvfDevice):
    """A disk Item joined with its DiskSection ``Disk``."""

    image_id: str
    volume_id: str
    domain_id: str | None  # rasd:StorageId
    interface: str  # ovf:disk-interface, lower case: ide, virtio, virtio_scsi, ...
    format: str  # ovf:volume-format, lower case: raw or cow
    boot_order: int  # as the engine wrote it; 0 means not a boot device
    read_only: bool
    shared: bool  # ovf:shareable; absent (3.6) means exclusive


@dataclass(frozen=True, kw_only=True)
class OvfNic(OvfDevice):
    """An interface Item that has a MAC address (the engine's NICs without one are skipped)."""

    mac: str
    model: str | None  # a NIC_MODELS name; None when the Item has no ResourceSubType
    network: str | None  # rasd:Connection; None when unplugged from any network
    link_active: bool


@dataclass(frozen=True, kw_only=True)
class OvfVm:
    vm_id: str
    name: str
    mem_size_mib: int
    min_allocated_mem_mib: int | None  # None: no MinAllocatedMem, i.e. all of mem_size_mib
    max_memory_mib: int | None  # MaxMemorySizeMb, the memory hot-plug ceiling
    sockets: int
    cores_per_socket: int
    threads_per_core: int
    max_vcpus: int | None
    cpu_type: str | None
    emulated_machine: str | None
    display: str | None  # vnc or qxl; None when DefaultDisplayType is absent or unknown
    devices: tuple[OvfDevice, ...]  # the modelled devices, in document order
    engine_xml: str | None  # the engine's libvirt domain XML (4.2+), verbatim
    has_lease: bool  # the libvirt XML holds a VM <lease>
    has_exclusive_disk: bool  # the libvirt XML marks a disk ovirt-vm:shared exclusive

    @property
    def smp(self) -> int:
        """vCPUs as the reference counts them: sockets x cores, threads not used."""
        return self.sockets * self.cores_per_socket

    @property
    def vcpus(self) -> int:
        return self.sockets * self.cores_per_socket * self.threads_per_core

    @property
    def starts_from_engine_xml(self) -> bool:
        """VDSM is handed the libvirt XML only when it also carries the VM lease (§6)."""
        return self.engine_xml is not None and self.has_lease and self.has_exclusive_disk

    @property
    def disks(self) -> tuple[OvfDisk, ...]:
        return tuple(d for d in self.devices if isinstance(d, OvfDisk))

    @property
    def nics(self) -> tuple[OvfNic, ...]:
        return tuple(d for d in self.devices if isinstance(d, OvfNic))

    @property
    def cdrom(self) -> OvfDevice | None:
        return self._first("disk", "cdrom")

    @property
    def controllers(self) -> tuple[OvfDevice, ...]:
        return tuple(d for d in self.devices if d.type == "controller")

    @property
    def graphics(self) -> tuple[OvfDevice, ...]:
        return tuple(d for d in self.devices if d.type == "graphics")

    @property
    def console(self) -> OvfDevice | None:
        return self._first("console")

    @property
    def video(self) -> OvfDevice | None:
        return self._first("video")

    @property
    def rng(self) -> OvfDevice | None:
        return self._first("rng")

    def _first(self, type_: str, device: str | None = None) -> OvfDevice | None:
        matches = (d for d in self.devices if d.type == type_ and device in (None, d.device))
        return next(matches, None)
