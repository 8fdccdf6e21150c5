"""The public client API: everything an admin tool may do with a hosted-engine host.

The ``hosted-engine`` CLI is built only on this module, and so can any other tool.
Reads prefer the local broker (fresh data and its liveness judgement) and fall back to
reading the storage domain directly, so ``--vm-status`` works with no daemon running.

Each verb runs in a fresh process, so the modules only some verbs need (VM backends,
leases, the metadata codec, HTTP) are imported by those verbs, not here: a cold
``--get-shared-config`` pays for the shared-configuration code only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hosted_engine.config.host import MAX_HOST_ID, HostConfig, load_host_config
from hosted_engine.errors import (
    BrokerUnavailableError,
    HostedEngineError,
    LeaseHeldError,
    MetadataError,
    NotDeployedError,
    OvfStoreError,
    RpcError,
    UsageError,
)
from hosted_engine.jsonrpc import INTERACTIVE_TIMEOUT, RpcClient

# Only what every verb needs is imported here: `hosted-engine --vm-status` is a cold
# process whose start-up time admins feel; each verb imports the rest when it runs.
if TYPE_CHECKING:
    from hosted_engine.broker.config_cache import SourcedDefinition
    from hosted_engine.config.shared import ConfigChange, SharedConfig
    from hosted_engine.locking.base import LeaseManager
    from hosted_engine.storage.ovf_store import OvfStore
    from hosted_engine.storage.whiteboard import Whiteboard
    from hosted_engine.vm.base import StopResult, VmBackend, VmStatus
    from hosted_engine.vm.ovf import OvfDocument


class MaintenanceMode(StrEnum):
    GLOBAL = "global"
    LOCAL = "local"
    NONE = "none"


@dataclass(frozen=True)
class ClusterStatus:
    """Every host's record in the ``--vm-status --json`` shape, keyed by host id."""

    hosts: Mapping[int, Mapping[str, Any]]
    global_maintenance: bool
    source: str  # "broker" or "storage" (no broker: liveness unknown)
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_json_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {str(h): dict(v) for h, v in sorted(self.hosts.items())}
        out["global_maintenance"] = self.global_maintenance
        return out


class VmCommandError(HostedEngineError):
    """A VM verb that could not be carried out; the message says why."""


class HAClient:
    def __init__(
        self,
        config: HostConfig,
        leases: LeaseManager | None = None,
        backend: VmBackend | None = None,
    ) -> None:
        self.config = config
        self._leases = leases
        self._backend = backend

    @classmethod
    def from_config(cls, path: str | Path | None = None) -> HAClient:
        return cls(load_host_config(path))

    # --- plumbing -----------------------------------------------------------------------
    @property
    def leases(self) -> LeaseManager:
        if self._leases is None:
            from hosted_engine.locking import lease_manager_for

            self._leases = lease_manager_for(self.config)
        return self._leases

    @property
    def backend(self) -> VmBackend:
        if self._backend is None:
            from hosted_engine.vm.factory import backend_for

            self._backend = backend_for(self.config)
        return self._backend

    def _broker_call(self, method: str, timeout: float | None = None, **params: Any) -> Any:
        # an admin command: a hung broker must not hold it up longer than a few seconds
        limit = timeout or min(self.config.timing.rpc_timeout, INTERACTIVE_TIMEOUT)
        client = RpcClient(self.config.broker_socket, timeout=limit)
        try:
            return client.call(method, **params)
        finally:
            client.close()

    def _whiteboard(self) -> Whiteboard:
        from hosted_engine.storage.whiteboard import Whiteboard

        return Whiteboard(self.config.metadata_path)

    def _shared(self) -> SharedConfig:
        from hosted_engine.broker.config_cache import broker_settings
        from hosted_engine.config.shared import SharedConfig

        return SharedConfig(self.config, broker_settings)

    # --- status ---------------------------------------------------------------------------
    def broker_alive(self) -> bool:
        """True when the local broker answers."""
        try:
            return bool(self._broker_call("ping") == "pong")
        except HostedEngineError:
            return False

    def broker_health(self) -> dict[str, Any]:
        """The broker's own view of itself: lease, last write/scan ages, local agent."""
        health = self._broker_call("get_health")
        return dict(health)

    def get_status(self, direct: bool = False) -> ClusterStatus:
        if not direct:
            try:
                raw = self._broker_call("get_status")
            except BrokerUnavailableError:
                pass
            else:
                warnings = tuple(raw.pop("warnings", ()))
                maintenance = bool(raw.pop("global_maintenance", False))
                hosts = {int(k): v for k, v in raw.items()}
                return ClusterStatus(hosts, maintenance, "broker", warnings)
        from hosted_engine.broker.status_view import host_status

        scan = self._whiteboard().scan()
        return ClusterStatus(
            {h: host_status(r, None) for h, r in sorted(scan.hosts.items())},
            scan.global_flags.maintenance,
            "storage",
            tuple(f"slot {h}: {e}" for h, e in sorted(scan.errors.items())),
        )

    def local_vm_status(self) -> VmStatus:
        return self.backend.status()

    # --- maintenance --------------------------------------------------------------------
    def set_maintenance(self, mode: MaintenanceMode | str) -> None:
        """As the reference: every mode writes the global flag and both local flags."""
        try:
            mode = MaintenanceMode(mode)
        except ValueError:
            raise UsageError(f"Invalid value '{mode}' for --mode") from None
        from hosted_engine.vm.base import VmState

        if mode is MaintenanceMode.LOCAL and self.backend.status().state is not VmState.DOWN:
            raise UsageError(
                "Unable to enter local maintenance mode: the engine VM is running on the "
                "current host, please migrate it before entering local maintenance mode."
            )
        self._whiteboard().update_global(maintenance=mode is MaintenanceMode.GLOBAL)
        local = mode is MaintenanceMode.LOCAL
        from hosted_engine.config import ha_state

        ha_state.set_flags(
            self.config.ha_state_path, local=local, manual=local, lock=self.config.local_config_lock
        )

    def local_maintenance(self) -> bool:
        from hosted_engine.config import ha_state

        return ha_state.local_maintenance(self.config.ha_state_path)

    # --- the engine VM ------------------------------------------------------------------
    def vm_start(self) -> str:
        from hosted_engine.vm.base import AlreadyRunning, LeaseHeld, Started, StartFailed
        from hosted_engine.vm.definition import load_definition

        self._require_deployed()
        result = self.backend.start(load_definition(self.config.vm_conf_path))
        match result:
            case Started():
                return "VM in WaitForLaunch"
            case AlreadyRunning(status=status):
                raise VmCommandError(f"VM exists and its status is {status.detail}")
            case LeaseHeld(holder=holder):
                raise VmCommandError(
                    f"The engine VM is running on another host ({holder or 'lease held'})"
                )
            case StartFailed(reason=reason):
                raise VmCommandError(f"VM failed to launch: {reason}")
        raise VmCommandError("VM failed to launch")  # pragma: no cover

    def vm_shutdown(self) -> str:
        self._require_deployed()
        return self._stop(self.backend.shutdown(self.config.timing.vm_shutdown_grace), "shutdown")

    def vm_poweroff(self) -> str:
        self._require_deployed()
        return self._stop(self.backend.poweroff(), "poweroff")

    @staticmethod
    def _stop(result: StopResult, verb: str) -> str:
        from hosted_engine.vm.base import StopResult

        if result is StopResult.NOT_RUNNING:
            raise VmCommandError("Virtual machine does not exist")
        if result is StopResult.FAILED:
            raise VmCommandError(f"VM {verb} failed (see the VM log in the run directory)")
        return "VM is shutting down!" if verb == "shutdown" else "VM powered off"

    def _require_deployed(self) -> None:
        if not self.config.is_deployed:
            raise NotDeployedError("You must run deploy first")

    # --- checks ---------------------------------------------------------------------------
    def is_deployed(self) -> bool:
        return self.config.is_deployed

    def check_liveliness(self) -> bool:
        url = self.config.health_url
        if url is None:
            raise NotDeployedError("Incomplete configuration, missing FQDN of the hosted engine VM")
        from hosted_engine.vm.health import check_liveliness

        return check_liveliness(url, self.config.timing.health_check_timeout)

    # --- recovery -------------------------------------------------------------------------
    def clean_metadata(self, host_id: int | None = None, force: bool = False) -> str:
        """Forget a host's slot. Never a live host's: its broker holds the host-id lease."""
        target = self.config.host_id if host_id is None else host_id
        if not 1 <= target <= 2000:
            raise UsageError(f"--host-id must be between 1 and 2000 (got {target})")
        try:
            lease = self.leases.acquire_host_id(target, self.config.hostname)
        except LeaseHeldError:
            raise UsageError(
                f"Host {target} is live: its broker holds the host-id lease. Stop the agent "
                "and broker of that host before cleaning its metadata."
            ) from None
        try:
            board = self._whiteboard()
            try:
                record = board.read_slot(target)
            except MetadataError as e:
                if not force:
                    raise UsageError(
                        f"Metadata of host {target} is unreadable ({e}). Consider --force-cleanup."
                    ) from None
                record = None
            else:
                if record is None:
                    return f"Metadata for host {target} is already clean."
                if not record.stopped and not force:
                    raise UsageError(
                        f"Cannot clean unclean metadata block of host {target} (its agent "
                        "did not stop cleanly). Consider --force-cleanup."
                    )
            board.clear_slot(target)
        finally:
            lease.release()
        return f"Metadata for host {target} cleaned."

    def reinitialize_lockspace(self, force: bool = False) -> str:
        if not force:
            scan = self._whiteboard().scan()
            if not scan.global_flags.maintenance:
                raise UsageError("Lockfile reset can be performed in global maintenance mode only.")
            active = sorted(h for h, r in scan.hosts.items() if not r.stopped)
            if active:
                raise UsageError(
                    "Lockfile reset cannot be performed with an active agent "
                    f"(host ids: {', '.join(map(str, active))})."
                )
            # every id, not only those with a slot: a broker holds its lease before its
            # first write, and keeps it while its writes fail or after its slot was cleaned
            held = [
                h for h in range(1, MAX_HOST_ID + 1) if self.leases.host_id_holder(h) is not None
            ]
            if held:
                raise UsageError(
                    "Lockfile reset cannot be performed while brokers hold their host-id "
                    f"leases (host ids: {', '.join(map(str, held))}); stop them first."
                )
        self.leases.reinitialize()
        return "Lockspace reinitialized."

    # --- shared configuration (seed 000) ----------------------------------------------------
    def locate_shared_config(self, key: str, config_type: str | None = None) -> str:
        """The type holding ``key``; raises the seed's key, type and duplicate errors."""
        return self._shared().locate(key, config_type)

    def get_shared_config(self, key: str, config_type: str | None = None) -> tuple[str, str]:
        """``(value, type)``, read from the archive itself, never a cache."""
        return self._shared().get(key, config_type)

    def get_all_config(self, config_type: str | None = None) -> dict[str, dict[str, str]]:
        return self._shared().get_all(config_type)

    def get_all_config_keys(self, config_type: str | None = None) -> dict[str, list[str]]:
        return self._shared().keys(config_type)

    def set_shared_config(
        self, key: str, value: str, config_type: str | None = None, *, force: bool = False
    ) -> ConfigChange | None:
        """Set one key; None when it already had the value. The engine VM definition is
        changed only with ``force``: a wrong value can keep the VM from starting."""
        shared = self._shared()
        if not force and shared.locate(key, config_type) == "vm":
            raise UsageError(
                "Changing the engine VM definition needs confirmation: add --force "
                "(a wrong value can keep the engine VM from starting)"
            )
        change = shared.set(key, value, config_type)
        if change is not None:
            self._refresh_local_cache()
        return change

    def download_shared_config(self, path: str | Path) -> None:
        """Save the configuration archive (checked first: never hand out a hostile tar)."""
        from hosted_engine.storage.shared_tar import write_atomically

        write_atomically(Path(path), self._shared().download())

    def upload_shared_config(self, path: str | Path) -> ConfigChange | None:
        """Replace the whole configuration archive with the tar at ``path``, once checked."""
        from hosted_engine.storage.config_archive import MAX_ARCHIVE_BYTES

        data = _read_file(Path(path), MAX_ARCHIVE_BYTES)
        change = self._shared().upload(data, str(path))
        if change is not None:
            self._refresh_local_cache()
        return change

    # --- the engine VM definition (OVF_STORE) -----------------------------------------------
    def show_vm_definition(self) -> tuple[SourcedDefinition, bool]:
        """The definition the agent would start now, and whether it is this host's cached
        copy (False: none yet, so it was read from the storage domain as the broker would).
        """
        from hosted_engine.broker.config_cache import (
            ConfigCache,
            SourcedDefinition,
            read_cached_definition,
        )
        from hosted_engine.clock import SystemClock

        path = self.config.vm_conf_path
        if path.exists():
            return read_cached_definition(path), True
        shared = ConfigCache.for_host(self.config, SystemClock()).read()
        if shared.ovf_error is None:
            return shared.vm, False
        warning = f"the OVF_STORE cannot be used, showing the vm.conf fallback: {shared.ovf_error}"
        return SourcedDefinition(shared.vm.definition, shared.vm.source, "", warning), False

    def _store(self) -> OvfStore:
        from hosted_engine.storage.ovf_store import OvfStore

        return OvfStore(self.config.ha_dir)

    def _vm_id(self) -> str:
        if not self.config.vm_id:
            raise NotDeployedError("You must run deploy first")
        return self.config.vm_id

    def download_vm_ovf(self, path: str | Path) -> None:
        """Save the engine VM's OVF (from the first OVF_STORE copy holding a valid one)."""
        from hosted_engine.storage.shared_tar import write_atomically

        found = self._store().read().vm_ovf(self._vm_id())
        if found is None:
            raise OvfStoreError(
                "there is no OVF of the engine VM in the OVF_STORE: its definition is the "
                "vm.conf of the configuration archive (--convert-vm-conf makes an OVF of it)"
            )
        write_atomically(Path(path), found.data)

    def read_vm_ovf_file(self, path: str | Path) -> OvfDocument:
        """The OVF at ``path``, checked as the engine VM's (its id is this cluster's vmid)."""
        from hosted_engine.storage.ovf_store import MAX_MEMBER_BYTES, check_vm_ovf

        return check_vm_ovf(_read_file(Path(path), MAX_MEMBER_BYTES), self._vm_id(), str(path))

    def upload_vm_ovf(self, path: str | Path, *, force: bool = False) -> bool:
        """Make the OVF at ``path`` the engine VM's, in both OVF_STORE copies (created when
        missing); False when it already was. Needs ``force``, as a VM definition set does."""
        from hosted_engine.storage.ovf_store import MAX_MEMBER_BYTES, check_vm_ovf

        data = _read_file(Path(path), MAX_MEMBER_BYTES)
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
        from hosted_engine.config import keyvalue
        from hosted_engine.storage.config_archive import MAX_MEMBER_BYTES as MAX_VM_CONF_BYTES
        from hosted_engine.vm.definition import from_values
        from hosted_engine.vm.ovf import ovf_from_definition

        vm_id = self._vm_id()
        if path is None:
            archive = self._shared().archive
            source = f"{archive.path} (vm.conf)"
            data = archive.read().members["vm.conf"]
        else:
            source = str(path)
            data = _read_file(Path(path), MAX_VM_CONF_BYTES)
        values = keyvalue.parse(_utf8(data, source), source)
        definition = from_values(values, source)
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

    def _refresh_local_cache(self) -> None:
        """Let the local broker see a change at once; others pick it up within a period."""
        # no broker here, or a busy one: its periodic refresh will catch up
        with contextlib.suppress(BrokerUnavailableError, RpcError):
            self._broker_call("refresh_config", timeout=2.0)


def _read_file(path: Path, limit: int) -> bytes:
    """An admin's file, refused when over ``limit`` bytes (never read further than that)."""
    from hosted_engine.storage.shared_tar import read_bounded

    data = read_bounded(path, limit, UsageError)
    if data is None:
        raise UsageError(f"cannot read {path}: No such file or directory")
    return data


def _utf8(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{source} is not UTF-8 text") from None
