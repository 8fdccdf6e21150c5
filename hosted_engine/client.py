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

from hosted_engine.broker.config_cache import broker_settings
from hosted_engine.config import ha_state
from hosted_engine.config.host import MAX_HOST_ID, HostConfig, load_host_config
from hosted_engine.config.shared import ConfigChange, SharedConfig
from hosted_engine.errors import (
    BrokerUnavailableError,
    HostedEngineError,
    LeaseHeldError,
    MetadataError,
    NotDeployedError,
    RpcError,
    UsageError,
)
from hosted_engine.jsonrpc import RpcClient
from hosted_engine.storage.config_archive import MAX_ARCHIVE_BYTES, write_atomically
from hosted_engine.vm.definition import load_definition

if TYPE_CHECKING:
    from hosted_engine.locking.base import LeaseManager
    from hosted_engine.storage.whiteboard import Whiteboard
    from hosted_engine.vm.base import StopResult, VmBackend, VmStatus


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
        client = RpcClient(
            self.config.broker_socket, timeout=timeout or self.config.timing.rpc_timeout
        )
        try:
            return client.call(method, **params)
        finally:
            client.close()

    def _whiteboard(self) -> Whiteboard:
        from hosted_engine.storage.whiteboard import Whiteboard

        return Whiteboard(self.config.metadata_path)

    def _shared(self) -> SharedConfig:
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
        ha_state.set_flags(
            self.config.ha_state_path, local=local, manual=local, lock=self.config.local_config_lock
        )

    def local_maintenance(self) -> bool:
        return ha_state.local_maintenance(self.config.ha_state_path)

    # --- the engine VM ------------------------------------------------------------------
    def vm_start(self) -> str:
        from hosted_engine.vm.base import AlreadyRunning, LeaseHeld, Started, StartFailed

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
        write_atomically(Path(path), self._shared().download())

    def upload_shared_config(self, path: str | Path) -> ConfigChange | None:
        """Replace the whole configuration archive with the tar at ``path``, once checked."""
        source = Path(path)
        try:
            with source.open("rb") as f:
                data = f.read(MAX_ARCHIVE_BYTES + 1)
        except OSError as e:
            raise UsageError(f"cannot read {source}: {e.strerror}") from None
        change = self._shared().upload(data, str(source))
        if change is not None:
            self._refresh_local_cache()
        return change

    def _refresh_local_cache(self) -> None:
        """Let the local broker see a change at once; others pick it up within a period."""
        # no broker here, or a busy one: its periodic refresh will catch up
        with contextlib.suppress(BrokerUnavailableError, RpcError):
            self._broker_call("refresh_config", timeout=2.0)
