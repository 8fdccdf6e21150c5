"""The public client API: everything an admin tool may do with a hosted-engine host.

The ``hosted-engine`` CLI is built only on this module, and so can any other tool.
Reads prefer the local broker (fresh data and its liveness judgement) and fall back to
reading the storage domain directly, so ``--vm-status`` works with no daemon running.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from hosted_engine.broker.status_view import host_status
from hosted_engine.config import ha_state
from hosted_engine.config.host import MAX_HOST_ID, HostConfig, load_host_config
from hosted_engine.errors import (
    BrokerUnavailableError,
    HostedEngineError,
    LeaseHeldError,
    MetadataError,
    NotDeployedError,
    UsageError,
)
from hosted_engine.jsonrpc import RpcClient
from hosted_engine.locking import lease_manager_for
from hosted_engine.locking.base import LeaseManager
from hosted_engine.storage.whiteboard import Whiteboard
from hosted_engine.vm.base import (
    AlreadyRunning,
    LeaseHeld,
    Started,
    StartFailed,
    StopResult,
    VmBackend,
    VmState,
    VmStatus,
)
from hosted_engine.vm.definition import load_definition
from hosted_engine.vm.factory import backend_for
from hosted_engine.vm.health import check_liveliness


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
            self._leases = lease_manager_for(self.config)
        return self._leases

    @property
    def backend(self) -> VmBackend:
        if self._backend is None:
            self._backend = backend_for(self.config)
        return self._backend

    def _broker_call(self, method: str, **params: Any) -> Any:
        client = RpcClient(self.config.broker_socket, timeout=self.config.timing.rpc_timeout)
        try:
            return client.call(method, **params)
        finally:
            client.close()

    def _whiteboard(self) -> Whiteboard:
        return Whiteboard(self.config.metadata_path)

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
        if mode is MaintenanceMode.LOCAL and self.backend.status().state is not VmState.DOWN:
            raise UsageError(
                "Unable to enter local maintenance mode: the engine VM is running on the "
                "current host, please migrate it before entering local maintenance mode."
            )
        self._whiteboard().update_global(maintenance=mode is MaintenanceMode.GLOBAL)
        local = mode is MaintenanceMode.LOCAL
        ha_state.set_flags(self.config.ha_state_path, local=local, manual=local)

    def local_maintenance(self) -> bool:
        return ha_state.local_maintenance(self.config.ha_state_path)

    # --- the engine VM ------------------------------------------------------------------
    def vm_start(self) -> str:
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
