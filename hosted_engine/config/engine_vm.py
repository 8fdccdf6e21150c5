"""The engine VM definition as shared storage holds it, and as a host caches it.

The definition comes from the engine VM's OVF in the OVF_STORE, converted; when there is
no OVF_STORE (or it has no OVF of the engine VM yet) it is the configuration archive's
``vm.conf``, as in the reference. The broker installs it as the ``vm.conf`` the agent
starts the VM from; one made from an OVF says so in its header (``# source=ovf``). The
client reads it the same way when no broker has cached one yet.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hosted_engine.config.host import HostConfig
from hosted_engine.config.shared import VM_MEMBER, check_members
from hosted_engine.errors import HostedEngineError, VmDefinitionError
from hosted_engine.files import regular
from hosted_engine.storage.config_archive import ArchiveSnapshot, ConfigArchive
from hosted_engine.storage.ovf_store import OvfStore
from hosted_engine.vm.definition import VmDefinition, from_text

SOURCE_OVF = "ovf"
SOURCE_VM_CONF = "vm.conf"
OVF_HEADER = (
    "# The engine VM definition, made by the hosted-engine broker from the engine VM's OVF\n"
    "# in the OVF_STORE. Do not edit: use hosted-engine --set-shared-config KEY VALUE --type=vm.\n"
    f"# source={SOURCE_OVF}\n"
)
_SOURCE_LINE = re.compile(rf"^# source={re.escape(SOURCE_OVF)}$", re.MULTILINE)


@dataclass(frozen=True)
class SourcedDefinition:
    """An engine VM definition, where it came from, and the vm.conf text that carries it."""

    definition: VmDefinition
    source: str  # SOURCE_OVF or SOURCE_VM_CONF
    text: str
    warning: str | None = None  # e.g. a corrupt OVF_STORE copy, the other one used


def read_cached_definition(path: Path) -> SourcedDefinition:
    """The definition in a cached vm.conf (or any vm.conf): the one the agent starts."""
    text = regular.read_text(path, VmDefinitionError)  # never a hang on a FIFO
    if text is None:
        raise VmDefinitionError(f"cannot read {path}: No such file or directory")
    definition = from_text(text, str(path))
    source = SOURCE_OVF if _SOURCE_LINE.search(text) else SOURCE_VM_CONF
    return SourcedDefinition(definition, source, text)


@dataclass(frozen=True)
class SharedRead:
    """One read of shared storage: everything a refresh installs."""

    archive: ArchiveSnapshot
    texts: Mapping[str, str]  # the archive's members, checked
    vm: SourcedDefinition
    ovf_error: str | None  # the OVF_STORE could not be used; ``vm`` is the vm.conf fallback


class SharedReader:
    """Reads the configuration archive and the engine VM's definition from the domain."""

    def __init__(
        self,
        archive: ConfigArchive,
        store: OvfStore,
        vm_id: str | None,
        check: Callable[[ArchiveSnapshot], Mapping[str, str]],
    ) -> None:
        self._archive = archive
        self._store = store
        self._vm_id = vm_id
        self._check = check

    @classmethod
    def for_host(cls, config: HostConfig) -> SharedReader:
        archive = ConfigArchive.in_domain(config.ha_dir)

        def check(snapshot: ArchiveSnapshot) -> Mapping[str, str]:
            return check_members(snapshot.members, config, str(archive.path))

        return cls(archive, OvfStore(config.ha_dir), config.vm_id, check)

    def read(self) -> SharedRead:
        """Read the archive and the engine VM definition; raises for a bad archive only."""
        snapshot = self._archive.read()
        texts = self._check(snapshot)
        try:
            vm = self._from_ovf_store()
        except HostedEngineError as e:
            return SharedRead(snapshot, texts, _from_vm_conf(texts[VM_MEMBER]), str(e))
        return SharedRead(snapshot, texts, vm or _from_vm_conf(texts[VM_MEMBER]), None)

    def _from_ovf_store(self) -> SourcedDefinition | None:
        if self._vm_id is None:
            return None
        found = self._store.read().vm_ovf(self._vm_id)
        if found is None:
            return None
        definition = found.definition()
        warning = "; ".join(found.problems) or None
        return SourcedDefinition(definition, SOURCE_OVF, definition.to_text(OVF_HEADER), warning)


def _from_vm_conf(text: str) -> SourcedDefinition:
    """The archive's vm.conf, as is (``check_members`` has already read it fine)."""
    return SourcedDefinition(from_text(text), SOURCE_VM_CONF, text)
