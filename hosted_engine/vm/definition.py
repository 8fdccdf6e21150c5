"""The engine VM definition, read for now from a ``vm.conf`` ``key=value`` file.

Keys: ``vmId`` (required), ``vmName``, ``memSize`` (MiB), ``smp``, ``command`` (what the
process backend runs, shell-quoted), ``dataDir`` (a directory on the shared domain that
plays the VM's disk). Unknown keys are kept in ``extra`` so nothing is lost.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hosted_engine.config import keyvalue
from hosted_engine.errors import ConfigError, VmDefinitionError

_KNOWN = ("vmId", "vmName", "memSize", "smp", "command", "dataDir")


@dataclass(frozen=True)
class VmDefinition:
    vm_id: str
    name: str = "HostedEngine"
    mem_size_mib: int = 1024
    smp: int = 1
    command: tuple[str, ...] = ()
    data_dir: Path | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def to_values(self) -> dict[str, str]:
        values = {
            "vmId": self.vm_id,
            "vmName": self.name,
            "memSize": str(self.mem_size_mib),
            "smp": str(self.smp),
        }
        if self.command:
            values["command"] = shlex.join(self.command)
        if self.data_dir is not None:
            values["dataDir"] = str(self.data_dir)
        values.update(self.extra)
        return values


def _positive_int(values: Mapping[str, str], key: str, default: int, source: str) -> int:
    raw = values.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise VmDefinitionError(f"{source}: {key} must be a whole number (got {raw!r})") from None
    if value <= 0:
        raise VmDefinitionError(f"{source}: {key} must be positive (got {value})")
    return value


def from_values(values: Mapping[str, str], source: str = "vm.conf") -> VmDefinition:
    vm_id = values.get("vmId", "").strip()
    if not vm_id:
        raise VmDefinitionError(f"{source}: vmId is missing")
    try:
        command = tuple(shlex.split(values.get("command", "")))
    except ValueError as e:
        raise VmDefinitionError(f"{source}: command cannot be parsed: {e}") from None
    return VmDefinition(
        vm_id=vm_id,
        name=values.get("vmName", "HostedEngine"),
        mem_size_mib=_positive_int(values, "memSize", 1024, source),
        smp=_positive_int(values, "smp", 1, source),
        command=command,
        data_dir=Path(values["dataDir"]) if values.get("dataDir") else None,
        extra={k: v for k, v in values.items() if k not in _KNOWN},
    )


def load_definition(path: str | Path) -> VmDefinition:
    try:
        values = keyvalue.load(path)
    except ConfigError as e:
        raise VmDefinitionError(str(e)) from None
    return from_values(values, str(path))
