"""The engine VM definition: what the VM is, independent of how a backend runs it.

It comes from the engine VM's OVF in the OVF_STORE or, before the engine has one, from a
``vm.conf`` ``key=value`` file, and travels as one (the broker's cached copy). Keys:
``vmId`` (required), ``vmName``, ``memSize`` and ``minAllocatedMem`` (MiB), ``sockets``,
``coresPerSocket``, ``threadsPerCore``, ``maxVCpus``, ``bootImageId`` (the image of the
boot disk on the storage domain) and ``nic<N>.macAddr|network|model|linkActive``. The
legacy ``smp`` key means that many sockets. Unknown keys are kept in ``extra`` so a round
trip loses nothing.

How a backend runs the VM is that backend's configuration, not the VM's. A legacy
vm.conf may still carry the process backend's ``command`` (shell-quoted) and ``dataDir``;
they stay in ``extra``, and ``command`` is checked here so that a file whose command
could never run is refused when it is read, not when the VM should start.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hosted_engine.errors import ConfigError, VmDefinitionError
from hosted_engine.files import keyvalue

_NIC_KEY = re.compile(r"^nic(\d+)\.(macAddr|network|model|linkActive)$")
_SCALARS = (
    "vmId",
    "vmName",
    "memSize",
    "minAllocatedMem",
    "sockets",
    "coresPerSocket",
    "threadsPerCore",
    "maxVCpus",
    "smp",
    "bootImageId",
)
MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
# an image id names a directory of the domain: one path component, never "." or ".."
_IMAGE_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$")
LEGACY_COMMAND = "command"
LEGACY_DATA_DIR = "dataDir"


@dataclass(frozen=True)
class Nic:
    mac_addr: str
    network: str = "ovirtmgmt"
    model: str = "virtio"
    link_active: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "macAddr": self.mac_addr,
            "network": self.network,
            "model": self.model,
            "linkActive": self.link_active,
        }


@dataclass(frozen=True)
class VmDefinition:
    vm_id: str
    name: str = "HostedEngine"
    mem_size_mib: int = 1024
    min_allocated_mem_mib: int | None = None  # None: the same as mem_size_mib
    sockets: int = 1
    cores_per_socket: int = 1
    threads_per_core: int = 1
    max_vcpus: int | None = None
    nics: tuple[Nic, ...] = ()
    boot_image_id: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def smp(self) -> int:
        """vCPUs as the reference counts them: sockets x cores (threads not used)."""
        return self.sockets * self.cores_per_socket

    @property
    def min_allocated_mib(self) -> int:
        return self.min_allocated_mem_mib or self.mem_size_mib

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape admins see (``--show-vm-definition --json``)."""
        return {
            "vmId": self.vm_id,
            "vmName": self.name,
            "memSize": self.mem_size_mib,
            "minAllocatedMem": self.min_allocated_mib,
            "sockets": self.sockets,
            "coresPerSocket": self.cores_per_socket,
            "threadsPerCore": self.threads_per_core,
            "maxVCpus": self.max_vcpus,
            "smp": self.smp,
            "bootImageId": self.boot_image_id,
            "nics": [nic.to_dict() for nic in self.nics],
        }

    def to_values(self) -> dict[str, str]:
        """``vm.conf`` keys; ``from_values(d.to_values()) == d``."""
        values = {
            "vmId": self.vm_id,
            "vmName": self.name,
            "memSize": str(self.mem_size_mib),
            "sockets": str(self.sockets),
            "coresPerSocket": str(self.cores_per_socket),
            "threadsPerCore": str(self.threads_per_core),
        }
        if self.min_allocated_mem_mib is not None:
            values["minAllocatedMem"] = str(self.min_allocated_mem_mib)
        if self.max_vcpus is not None:
            values["maxVCpus"] = str(self.max_vcpus)
        for index, nic in enumerate(self.nics, start=1):
            values[f"nic{index}.macAddr"] = nic.mac_addr
            values[f"nic{index}.network"] = nic.network
            values[f"nic{index}.model"] = nic.model
            values[f"nic{index}.linkActive"] = str(nic.link_active).lower()
        if self.boot_image_id is not None:
            values["bootImageId"] = self.boot_image_id
        values.update(self.extra)
        return values

    def to_text(self, header: str = "") -> str:
        """A vm.conf holding ``to_values()``; refuses a value no ``key=value`` line can carry."""
        lines = [header] if header else []
        for key, value in self.to_values().items():
            if not value.isprintable() or value != value.strip():
                raise VmDefinitionError(
                    f"the engine VM's {key} {value[:40]!r} cannot be written to a vm.conf line"
                )
            lines.append(f"{key}={value}\n")
        return "".join(lines)


_DIGITS = re.compile(r"[0-9]{1,12}")


def _int(values: Mapping[str, str], key: str, source: str) -> int | None:
    raw = values.get(key)
    if raw is None or raw.strip() == "":
        return None
    if not _DIGITS.fullmatch(raw.strip()):  # int() takes '+5', '5_0', non-ASCII digits
        raise VmDefinitionError(f"{source}: {key} must be a whole number (got {raw[:40]!r})")
    value = int(raw)
    if not 0 < value <= 1 << 24:
        raise VmDefinitionError(f"{source}: {key} must be between 1 and {1 << 24} (got {value})")
    return value


def _bool(raw: str, key: str, source: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("true", "yes", "1", "on"):
        return True
    if lowered in ("false", "no", "0", "off"):
        return False
    raise VmDefinitionError(f"{source}: {key} must be true or false (got {raw!r})")


def _nics(values: Mapping[str, str], source: str) -> tuple[Nic, ...]:
    fields: dict[int, dict[str, str]] = {}
    for key, value in values.items():
        match = _NIC_KEY.match(key)
        if match:
            fields.setdefault(int(match.group(1)), {})[match.group(2)] = value
    nics = []
    for index in sorted(fields):
        f = fields[index]
        mac = f.get("macAddr", "")
        if not MAC.match(mac):
            raise VmDefinitionError(f"{source}: nic{index}.macAddr is not a MAC address ({mac!r})")
        nics.append(
            Nic(
                mac_addr=mac.lower(),
                network=f.get("network", "ovirtmgmt"),
                model=f.get("model", "virtio"),
                link_active=_bool(f.get("linkActive", "true"), f"nic{index}.linkActive", source),
            )
        )
    return tuple(nics)


def from_values(values: Mapping[str, str], source: str = "vm.conf") -> VmDefinition:
    vm_id = values.get("vmId", "").strip()
    if not vm_id:
        raise VmDefinitionError(f"{source}: vmId is missing")
    legacy_command(values, source)
    boot_image_id = values.get("bootImageId") or None
    if boot_image_id is not None and not _IMAGE_ID.match(boot_image_id):
        raise VmDefinitionError(f"{source}: bootImageId {boot_image_id!r} is not an image id")
    mem = _int(values, "memSize", source) or 1024
    min_mem = _int(values, "minAllocatedMem", source)
    if min_mem is not None and min_mem > mem:
        raise VmDefinitionError(
            f"{source}: minAllocatedMem ({min_mem}) cannot exceed memSize ({mem})"
        )
    sockets = _int(values, "sockets", source) or _int(values, "smp", source) or 1
    return VmDefinition(
        vm_id=vm_id,
        name=values.get("vmName", "HostedEngine"),
        mem_size_mib=mem,
        min_allocated_mem_mib=min_mem,
        sockets=sockets,
        cores_per_socket=_int(values, "coresPerSocket", source) or 1,
        threads_per_core=_int(values, "threadsPerCore", source) or 1,
        max_vcpus=_int(values, "maxVCpus", source),
        nics=_nics(values, source),
        boot_image_id=boot_image_id,
        extra={k: v for k, v in values.items() if k not in _SCALARS and not _NIC_KEY.match(k)},
    )


def legacy_command(values: Mapping[str, str], source: str = "vm.conf") -> tuple[str, ...]:
    """The process backend's command as a legacy vm.conf gave it; () when it has none."""
    try:
        return tuple(shlex.split(values.get(LEGACY_COMMAND, "")))
    except ValueError as e:
        raise VmDefinitionError(f"{source}: command cannot be parsed: {e}") from None


def load_definition(path: str | Path) -> VmDefinition:
    try:
        values = keyvalue.load(path)
    except ConfigError as e:
        raise VmDefinitionError(str(e)) from None
    return from_values(values, str(path))
