"""The engine VM definition: what the VM is, independent of how a backend runs it.

It comes from the engine VM's OVF in the OVF_STORE or, before the engine has one, from a
``vm.conf`` ``key=value`` file, and travels as one (the broker's cached copy). Keys:
``vmId`` (required), ``vmName``, ``memSize`` and ``minAllocatedMem`` (MiB), ``sockets``,
``coresPerSocket``, ``threadsPerCore``, ``maxVCpus``, ``bootImageId`` (the image of the
boot disk on the storage domain), ``cpuType``, ``emulatedMachine``, ``display`` and
``nic<N>.macAddr|network|model|linkActive``. The legacy ``smp`` key means that many
sockets. Unknown keys are kept in ``extra`` so a round trip loses nothing.

A vm.conf oVirt wrote describes its devices on ``devices={key:value,...}`` lines (one per
device, values may hold ``:`` and nested ``{...}``); :func:`from_text` reads their NICs
and display from them when the file has no ``nic<N>.`` keys or ``display``.

How a backend runs the VM is that backend's configuration, not the VM's. A legacy
vm.conf may still carry the process backend's ``command`` (shell-quoted) and ``dataDir``;
they stay in ``extra``, and ``command`` is checked here so that a file whose command
could never run is refused when it is read, not when the VM should start.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hosted_engine.errors import ConfigError, VmDefinitionError
from hosted_engine.files import keyvalue
from hosted_engine.files.text import split_lines

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
    "cpuType",
    "emulatedMachine",
    "display",
)
DEVICES = "devices"
# oVirt's vm.conf names for what the definition calls virtio, and its graphics devices
_DEVICE_NIC_MODEL = {"pv": "virtio"}
_GRAPHICS_DISPLAY = {"vnc": "vnc", "spice": "qxl"}
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
    cpu_type: str | None = None
    emulated_machine: str | None = None
    display: str | None = None  # vnc or qxl
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
            "cpuType": self.cpu_type,
            "emulatedMachine": self.emulated_machine,
            "display": self.display,
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
        for key, value in (
            ("cpuType", self.cpu_type),
            ("emulatedMachine", self.emulated_machine),
            ("display", self.display),
        ):
            if value is not None:
                values[key] = value
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


def _split_top(body: str, source: str) -> list[str]:
    """``a:1,b:{c:2,d:3},e:x`` split at the commas outside braces."""
    parts, depth, start = [], 0, 0
    for position, char in enumerate(body):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                break
        elif char == "," and depth == 0:
            parts.append(body[start:position])
            start = position + 1
    if depth != 0:
        raise VmDefinitionError(f"{source}: a devices= line has unbalanced braces")
    parts.append(body[start:])
    return [part.strip() for part in parts if part.strip()]


def parse_device(spec: str, source: str = "vm.conf") -> dict[str, str]:
    """One ``devices={k:v,...}`` value as a flat dict; nested values stay as written.

    Keys end at the first ``:`` (values may hold more: MAC addresses).
    """
    spec = spec.strip()
    if not (spec.startswith("{") and spec.endswith("}")):
        raise VmDefinitionError(f"{source}: a devices= value must be {{key:value,...}}")
    device = {}
    for item in _split_top(spec[1:-1], source):
        key, sep, value = item.partition(":")
        if not sep or not key.strip():
            raise VmDefinitionError(f"{source}: devices= item {item[:40]!r} is not key:value")
        device[key.strip()] = value.strip()
    return device


def _device_nics(devices: Sequence[Mapping[str, str]], source: str) -> dict[str, str]:
    """The NICs of oVirt's devices= lines, as ``nic<N>.`` keys."""
    values = {}
    nics = [d for d in devices if d.get("type") == "interface" and d.get("macAddr")]
    for index, device in enumerate(nics, start=1):
        values[f"nic{index}.macAddr"] = device["macAddr"]
        if device.get("network"):
            values[f"nic{index}.network"] = device["network"]
        model = device.get("nicModel")
        if model:
            values[f"nic{index}.model"] = _DEVICE_NIC_MODEL.get(model, model)
        if device.get("linkActive"):
            values[f"nic{index}.linkActive"] = device["linkActive"]
    return values


def _device_display(devices: Sequence[Mapping[str, str]]) -> str | None:
    for device in devices:
        if device.get("type") == "graphics" and device.get("device") in _GRAPHICS_DISPLAY:
            return _GRAPHICS_DISPLAY[device["device"]]
    return None


def device_lines(text: str) -> list[str]:
    """Every ``devices=`` value of a vm.conf, in order (a key=value parse keeps one)."""
    found = []
    for raw in split_lines(text):
        key, sep, value = raw.strip().partition("=")
        if sep and key.strip() == DEVICES:
            found.append(value.strip())
    return found


def from_text(text: str, source: str = "vm.conf") -> VmDefinition:
    """A vm.conf's definition, its ``devices=`` lines included (oVirt's vm.conf)."""
    try:
        values = keyvalue.parse(text, source)
    except ConfigError as e:
        raise VmDefinitionError(str(e)) from None
    return from_values(values, source, devices=device_lines(text))


def from_values(
    values: Mapping[str, str], source: str = "vm.conf", *, devices: Sequence[str] = ()
) -> VmDefinition:
    """The definition of vm.conf ``values``; ``devices`` are its ``devices=`` values,
    read for what the keys do not say (NICs, display)."""
    if devices:
        parsed = [parse_device(spec, source) for spec in devices]
        derived: dict[str, str] = {}
        if not any(_NIC_KEY.match(key) for key in values):
            derived |= _device_nics(parsed, source)
        display = _device_display(parsed)
        if "display" not in values and display is not None:
            derived["display"] = display
        values = {**values, **derived}
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
        cpu_type=values.get("cpuType") or None,
        emulated_machine=values.get("emulatedMachine") or None,
        display=values.get("display") or None,
        # devices= lines are read, not kept: the last one alone would say nothing true
        extra={
            k: v
            for k, v in values.items()
            if k not in _SCALARS and k != DEVICES and not _NIC_KEY.match(k)
        },
    )


def legacy_command(values: Mapping[str, str], source: str = "vm.conf") -> tuple[str, ...]:
    """The process backend's command as a legacy vm.conf gave it; () when it has none."""
    try:
        return tuple(shlex.split(values.get(LEGACY_COMMAND, "")))
    except ValueError as e:
        raise VmDefinitionError(f"{source}: command cannot be parsed: {e}") from None


def load_definition(path: str | Path) -> VmDefinition:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VmDefinitionError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise VmDefinitionError(f"{path}: cannot read: {e}") from None
    return from_text(text, str(path))
