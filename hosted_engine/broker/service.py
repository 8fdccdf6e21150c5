"""The broker's RPC surface: what the agent and the clients may ask of it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from hosted_engine.broker.config_cache import ConfigCache
from hosted_engine.broker.liveness import Liveness
from hosted_engine.broker.publisher import AgentReport, StatusPublisher
from hosted_engine.broker.status_view import host_status
from hosted_engine.clock import Clock
from hosted_engine.config.host import HostConfig
from hosted_engine.errors import UsageError
from hosted_engine.locking.base import LeaseManager
from hosted_engine.storage.whiteboard import Whiteboard
from hosted_engine.vm.engine_status import EngineStatus

log = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    """Monitor values as JSON (EngineStatus becomes its dict)."""
    return value.to_dict() if isinstance(value, EngineStatus) else value


class BrokerService:
    def __init__(
        self,
        config: HostConfig,
        publisher: StatusPublisher,
        whiteboard: Whiteboard,
        leases: LeaseManager,
        monitor_values: Callable[[], dict[str, Any]],
        notify: Callable[[str, str, str], str],
        clock: Clock,
        config_cache: ConfigCache | None = None,
        *,
        monitor_times: Callable[[], dict[str, float | None]] = dict,
    ) -> None:
        self.config = config
        self.publisher = publisher
        self.whiteboard = whiteboard
        self.leases = leases
        self.monitor_values = monitor_values
        self._notify = notify
        self.clock = clock
        self.config_cache = config_cache
        self.monitor_times = monitor_times  # monotonic time each value was measured

    def methods(self) -> dict[str, Callable[..., Any]]:
        return {
            "ping": self.ping,
            "get_snapshot": self.get_snapshot,
            "vm_lease": self.vm_lease,
            "get_status": self.get_status,
            "report_state": self.report_state,
            "notify": self.notify,
            "set_global_maintenance": self.set_global_maintenance,
            "get_health": self.get_health,
            "refresh_config": self.refresh_config,
        }

    def ping(self) -> str:
        return "pong"

    def _vm_lease(self) -> dict[str, Any]:
        if not self.config.vm_id:
            return {"known": False, "holder": None}
        try:
            holder = self.leases.vm_lease_holder(self.config.vm_id)
        except Exception as e:  # storage trouble: unknown, never "free"
            log.warning("cannot probe the VM lease: %s", e)
            return {"known": False, "holder": None}
        return {
            "known": True,
            "holder": None if holder is None else {"host_id": holder.host_id, "pid": holder.pid},
        }

    def vm_lease(self) -> dict[str, Any]:
        """Only the VM lease, probed now: a standby agent asks this between its decisions
        to wake the moment the engine's host dies (``agent/wakeup.py``)."""
        return self._vm_lease()

    def get_snapshot(self) -> dict[str, Any]:
        """Everything the agent decides on, measured by us."""
        now = self.clock.monotonic()
        scan = self.publisher.scan()
        hosts: dict[str, Any] = {}
        global_maintenance: bool | None = None
        if scan is not None:
            global_maintenance = scan.global_flags.maintenance
            for host_id, record in scan.hosts.items():
                if host_id == self.config.host_id:
                    continue
                hosts[str(host_id)] = {
                    "host_id": host_id,
                    "hostname": record.hostname,
                    "score": record.score,
                    "engine": record.engine.to_dict(),
                    "alive": self.publisher.liveness_of(host_id, now) is Liveness.ALIVE,
                    "maintenance": record.maintenance,
                    "stopped": record.stopped,
                    "state": record.state,
                }
        return {
            "broker_now": now,
            "host_id": self.config.host_id,
            "global_maintenance": global_maintenance,
            "enough_data": scan is not None and self.publisher.enough_data(now),
            "hosts": hosts,
            "monitors": {k: _plain(v) for k, v in self.monitor_values().items()},
            "measured_at": self.monitor_times(),
            "vm_lease": self._vm_lease(),
        }

    def get_status(self) -> dict[str, Any]:
        """All hosts in the ``--vm-status --json`` shape, with our liveness judgement."""
        scan = self.publisher.scan()
        if scan is None:
            scan = self.whiteboard.scan()
        now = self.clock.monotonic()
        result: dict[str, Any] = {}
        for host_id, record in sorted(scan.hosts.items()):
            live = self.publisher.liveness_of(host_id, now) is Liveness.ALIVE
            result[str(host_id)] = host_status(record, live)
        result["global_maintenance"] = scan.global_flags.maintenance
        result["warnings"] = [f"slot {h}: {e}" for h, e in sorted(scan.errors.items())]
        return result

    def report_state(
        self,
        state: str,
        score: int,
        maintenance: bool,
        stopped: bool = False,
        metadata: dict[str, str] | None = None,
        conf_timestamp: int = 0,
    ) -> str:
        """The agent's state and score. ``conf_timestamp`` is accepted from agents of
        earlier versions and ignored: the broker now knows when it refreshed the VM
        definition (its configuration cache)."""
        del conf_timestamp
        if not isinstance(score, int) or isinstance(score, bool):
            raise UsageError("score must be an integer")
        self.publisher.report_agent(
            AgentReport(
                state=str(state),
                score=score,
                maintenance=bool(maintenance),
                stopped=bool(stopped),
                metadata={str(k): str(v) for k, v in (metadata or {}).items()},
                received_at=self.clock.monotonic(),
            )
        )
        return "ok"

    def notify(self, event: str, detail: str, hostname: str | None = None) -> str:
        return self._notify(event, detail, hostname or self.config.hostname)

    def set_global_maintenance(self, enabled: bool) -> bool:
        if not isinstance(enabled, bool):
            raise UsageError("enabled must be true or false")
        return self.whiteboard.update_global(maintenance=enabled).maintenance

    def get_health(self) -> dict[str, Any]:
        h = self.publisher.health
        now = self.clock.monotonic()
        cache = self.config_cache
        return {
            "lease_held": h.lease_held,
            "last_write_age": None if h.last_write_ok is None else now - h.last_write_ok,
            "last_scan_age": None if h.last_scan_ok is None else now - h.last_scan_ok,
            "errors": h.errors,
            "last_error": h.last_error,
            "agent_alive": self.publisher.agent_alive(now),
            "config": None if cache is None else cache.status().to_dict(now),
        }

    def refresh_config(self) -> dict[str, Any]:
        """Re-read the shared configuration now (a client just changed it)."""
        if self.config_cache is None:
            raise UsageError("this broker keeps no configuration cache")
        return self.config_cache.refresh().to_dict(self.clock.monotonic())
