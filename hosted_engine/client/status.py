"""Reading the cluster's state: every host's record, the broker's health, the engine's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hosted_engine.client.base import ClientBase
from hosted_engine.errors import BrokerUnavailableError, HostedEngineError, NotDeployedError
from hosted_engine.storage.history import History, HistoryEntry

if TYPE_CHECKING:
    from hosted_engine.vm.base import VmStatus


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


class StatusClient(ClientBase):
    def broker_alive(self) -> bool:
        """True when the local broker answers."""
        try:
            return bool(self._broker_call("ping") == "pong")
        except HostedEngineError:
            return False

    def history(self) -> list[HistoryEntry]:
        """The engine's starts and stops, oldest first, read from the storage domain (so
        it works with no daemon running)."""
        return History(self.config.ha_dir).entries()

    def broker_health(self) -> dict[str, Any]:
        """The broker's own view of itself: lease, last write/scan ages, local agent."""
        health = self._broker_call("get_health")
        return dict(health)

    def get_status(self, direct: bool = False) -> ClusterStatus:
        """From the broker (with its liveness judgement), else straight from storage."""
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
        from hosted_engine.storage.host_stats import host_status

        scan = self._whiteboard().scan()
        return ClusterStatus(
            {h: host_status(r, None) for h, r in sorted(scan.hosts.items())},
            scan.global_flags.maintenance,
            "storage",
            tuple(f"slot {h}: {e}" for h, e in sorted(scan.errors.items())),
        )

    def local_vm_status(self) -> VmStatus:
        return self.backend.status()

    def is_deployed(self) -> bool:
        return self.config.is_deployed

    def check_liveliness(self) -> bool:
        url = self.config.health_url
        if url is None:
            raise NotDeployedError("Incomplete configuration, missing FQDN of the hosted engine VM")
        from hosted_engine.vm.health import check_liveliness

        return check_liveliness(url, self.config.timing.health_check_timeout)
