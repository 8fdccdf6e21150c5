"""The engine VM definition in the OVF_STORE: show, back up, restore, convert a vm.conf."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hosted_engine.client.base import ClientBase, read_admin_file, save_admin_file, utf8
from hosted_engine.errors import (
    DefinitionChangedError,
    NoEngineOvfError,
    OvfEditError,
    OvfStoreError,
    UsageError,
)

if TYPE_CHECKING:
    from hosted_engine.config.engine_vm import SourcedDefinition
    from hosted_engine.storage.ovf_store import OvfStore
    from hosted_engine.vm.definition import VmDefinition
    from hosted_engine.vm.ovf import OvfDocument

NO_OVF_YET = (
    "the engine VM has no OVF in the OVF_STORE yet (hosted-engine --convert-vm-conf makes one)"
)


class VmDefinitionClient(ClientBase):
    def show_vm_definition(self) -> tuple[SourcedDefinition, bool]:
        """The definition the agent would start now, and whether it is this host's cached
        copy (False: none yet, so it was read from the storage domain as the broker would).
        """
        from hosted_engine.config.engine_vm import (
            SharedReader,
            SourcedDefinition,
            read_cached_definition,
        )

        path = self.config.vm_conf_path
        if path.exists():
            return read_cached_definition(path), True
        shared = SharedReader.for_host(self.config).read()
        if shared.ovf_error is None:
            return shared.vm, False
        warning = f"the OVF_STORE cannot be used, showing the vm.conf fallback: {shared.ovf_error}"
        return SourcedDefinition(shared.vm.definition, shared.vm.source, "", warning), False

    def _store(self) -> OvfStore:
        from hosted_engine.storage.ovf_store import OvfStore

        return OvfStore(self.config.ha_dir)

    def vm_definition_for_edit(self) -> tuple[VmDefinition, str, str]:
        """``(definition, etag, source)`` read from the storage domain, never a cache: an
        edit must be made against what is stored. The etag is the sha256 of the engine
        VM's OVF (source ``ovf``), else of the archive's vm.conf (source ``vm.conf``)."""
        from hosted_engine.storage.shared_tar import sha256

        found = self._store().read().vm_ovf(self._vm_id())
        if found is not None:
            return found.definition(), sha256(found.data), "ovf"
        source, data = self._archive_vm_conf()
        definition, _values = _parse_vm_conf(data, source)
        return definition, sha256(data), "vm.conf"

    def _archive_vm_conf(self) -> tuple[str, bytes]:
        """``(source, bytes)`` of the configuration archive's vm.conf, read from storage."""
        archive = self._shared().archive
        return f"{archive.path} (vm.conf)", archive.read().members["vm.conf"]

    def edit_vm_definition(
        self, changes: Mapping[str, str | int | bool], if_match: str
    ) -> tuple[VmDefinition, str]:
        """Apply ``changes`` (shared-config ``vm`` keys) to the engine VM's OVF, all or
        none, if it is still the one whose etag is ``if_match``; ``(definition, etag)``
        after. The write is itself a compare-and-swap, so a CLI edit that lands between
        the check and the write loses nobody's change: ConcurrentChangeError."""
        from hosted_engine.storage.ovf_store import VmOvf, check_vm_ovf, member_name
        from hosted_engine.storage.shared_tar import sha256
        from hosted_engine.vm.ovf import parse_ovf

        vm_id = self._vm_id()
        snapshot = self._store().read()
        found = snapshot.vm_ovf(vm_id)
        if found is None:
            raise NoEngineOvfError(NO_OVF_YET)
        if sha256(found.data) != if_match:
            raise DefinitionChangedError(
                "the engine VM definition changed since it was read; read it again"
            )
        if not changes:
            return found.definition(), if_match
        document = parse_ovf(found.data)  # a copy: the snapshot's stays as read
        for key, value in changes.items():
            if isinstance(value, str) and not value.strip():
                raise OvfEditError(f"cannot set {key}: a value is required")
            document.set(key, value)
        data = document.to_bytes()
        checked = check_vm_ovf(data, vm_id, "the edited OVF")
        assert found.copy.members is not None  # it was found in this copy
        members = {**found.copy.members, member_name(vm_id): data}
        self._store().replace(snapshot.expected, members)
        self._refresh_local_cache()
        return VmOvf(data, checked, found.copy, ()).definition(), sha256(data)

    def download_vm_ovf(self, path: str | Path) -> None:
        """Save the engine VM's OVF (from the first OVF_STORE copy holding a valid one)."""
        found = self._store().read().vm_ovf(self._vm_id())
        if found is None:
            raise OvfStoreError(
                "there is no OVF of the engine VM in the OVF_STORE: its definition is the "
                "vm.conf of the configuration archive (--convert-vm-conf makes an OVF of it)"
            )
        save_admin_file(path, found.data)

    def read_vm_ovf_file(self, path: str | Path) -> OvfDocument:
        """The OVF at ``path``, checked as the engine VM's (its id is this cluster's vmid)."""
        from hosted_engine.storage.ovf_store import MAX_MEMBER_BYTES, check_vm_ovf

        data = read_admin_file(Path(path), MAX_MEMBER_BYTES)
        return check_vm_ovf(data, self._vm_id(), str(path))

    def upload_vm_ovf(self, path: str | Path, *, force: bool = False) -> bool:
        """Make the OVF at ``path`` the engine VM's, in both OVF_STORE copies (created when
        missing); False when it already was. Needs ``force``, as a VM definition set does."""
        from hosted_engine.storage.ovf_store import MAX_MEMBER_BYTES, check_vm_ovf

        data = read_admin_file(Path(path), MAX_MEMBER_BYTES)
        check_vm_ovf(data, self._vm_id(), str(path))
        if not force:
            raise UsageError(
                "Replacing the engine VM definition needs confirmation: add --force "
                "(a wrong definition can keep the engine VM from starting)"
            )
        changed = self._store().put_vm_ovf(self._vm_id(), data, str(path), overwrite=True)
        if changed:
            self._refresh_local_cache()
        return changed

    def convert_vm_conf(self, path: str | Path | None = None, *, force: bool = False) -> bool:
        """The upgrade path (seed 001): turn a legacy vm.conf (the archive's, or the file at
        ``path``) into the engine VM's OVF in the OVF_STORE. Refuses to replace an OVF the
        store already has, or to drop the process backend's command and data dir that only
        the vm.conf holds, unless ``force``."""
        from hosted_engine.storage.config_archive import MAX_MEMBER_BYTES as MAX_VM_CONF_BYTES
        from hosted_engine.vm.ovf import ovf_from_definition

        vm_id = self._vm_id()
        if path is None:
            source, data = self._archive_vm_conf()
        else:
            source = str(path)
            data = read_admin_file(Path(path), MAX_VM_CONF_BYTES)
        definition, values = _parse_vm_conf(data, source)
        if definition.vm_id != vm_id:
            raise UsageError(
                f"{source} is for VM {definition.vm_id}, not this cluster's engine VM {vm_id}"
            )
        if not force:
            self._check_payload_settings(values, source)
        changed = self._store().put_vm_ovf(
            vm_id, ovf_from_definition(definition), source, overwrite=force
        )
        if changed:
            self._refresh_local_cache()
        return changed

    def _check_payload_settings(self, values: Mapping[str, str], source: str) -> None:
        """An OVF has no room for the process backend's command and data dir: they must
        be in hosted-engine.conf before the vm.conf that holds them stops being read."""
        from hosted_engine.vm.definition import LEGACY_COMMAND, LEGACY_DATA_DIR

        if self.config.vm_backend != "process":
            return
        lost = [
            f"{key} (set process_{name} in hosted-engine.conf)"
            for key, name, configured in (
                (LEGACY_COMMAND, "command", self.config.process_command),
                (LEGACY_DATA_DIR, "data_dir", self.config.process_data_dir),
            )
            if values.get(key) and not configured
        ]
        if lost:
            raise UsageError(
                f"{source} gives the process backend its {' and '.join(lost)}; an OVF cannot "
                "carry them. Configure them on every host first, or add --force."
            )


def _parse_vm_conf(data: bytes, source: str) -> tuple[VmDefinition, dict[str, str]]:
    """A vm.conf's definition (its ``devices=`` lines included) and its raw keys."""
    from hosted_engine.files import keyvalue
    from hosted_engine.vm.definition import device_lines, from_values

    text = utf8(data, source)
    values = keyvalue.parse(text, source)
    return from_values(values, source, devices=device_lines(text)), values
