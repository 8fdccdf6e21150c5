"""The engine VM definition in the OVF_STORE: show, back up, restore, convert a vm.conf."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hosted_engine.client.base import ClientBase, read_admin_file, save_admin_file, utf8
from hosted_engine.errors import OvfStoreError, UsageError

if TYPE_CHECKING:
    from hosted_engine.config.engine_vm import SourcedDefinition
    from hosted_engine.storage.ovf_store import OvfStore
    from hosted_engine.vm.ovf import OvfDocument


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
        from hosted_engine.files import keyvalue
        from hosted_engine.storage.config_archive import MAX_MEMBER_BYTES as MAX_VM_CONF_BYTES
        from hosted_engine.vm.definition import device_lines, from_values
        from hosted_engine.vm.ovf import ovf_from_definition

        vm_id = self._vm_id()
        if path is None:
            archive = self._shared().archive
            source = f"{archive.path} (vm.conf)"
            data = archive.read().members["vm.conf"]
        else:
            source = str(path)
            data = read_admin_file(Path(path), MAX_VM_CONF_BYTES)
        text = utf8(data, source)
        values = keyvalue.parse(text, source)
        definition = from_values(values, source, devices=device_lines(text))
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
