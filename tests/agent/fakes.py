"""An in-process broker for the agent's loop tests: hands out snapshots, records reports."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from hosted_engine.agent.ports import StateReport
from hosted_engine.broker_contract import BrokerSnapshot, Monitors, Reading, RemoteRecord, VmLease
from hosted_engine.clock import FakeClock
from hosted_engine.vm.engine_status import EngineStatus

UP = EngineStatus("up", "good", "Up")
DOWN = EngineStatus("down", "bad", "Down", "vm not running on this host")


def monitors(clock: FakeClock, **values: Any) -> Monitors:
    """Healthy readings taken now; ``values`` override by monitor name (``mem_free=...``)."""
    now = clock.monotonic()
    defaults: dict[str, Any] = {
        "engine-health": DOWN,
        "network": 1.0,
        "bridge": True,
        "mem-free": 16_384.0,
        "cpu-load": 0.0,
        "storage-domain": True,
        "config-age": 1.0,
    }
    defaults.update({k.replace("_", "-"): v for k, v in values.items()})
    return Monitors.from_readings({k: Reading(v, now) for k, v in defaults.items()})


def remote(host_id: int = 2, **overrides: Any) -> RemoteRecord:
    host = RemoteRecord(host_id, f"host{host_id}", 3400, DOWN, True, False, False, "EngineDown")
    return replace(host, **overrides)


@dataclass
class FakeBroker:
    """``snapshot`` is what ``get_snapshot`` answers; set ``fail`` to an exception to raise
    it instead. ``engine`` follows the VM backend when given one (like the real monitor)."""

    clock: FakeClock
    hosts: tuple[RemoteRecord, ...] = ()
    lease: VmLease = field(default_factory=lambda: VmLease(known=True))
    fail: Exception | None = None
    backend: Any = None
    global_maintenance: bool = False
    monitor_values: dict[str, Any] = field(default_factory=dict)
    reports: list[StateReport] = field(default_factory=list)
    notifications: list[tuple[str, str]] = field(default_factory=list)
    history: list[tuple[str, str | None]] = field(default_factory=list)
    closed: int = 0
    calls: int = 0

    def get_snapshot(self) -> BrokerSnapshot:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        values = dict(self.monitor_values)
        if self.backend is not None and "engine_health" not in values:
            values["engine_health"] = UP if self.backend.running else DOWN
        return BrokerSnapshot(
            host_id=1,
            broker_now=self.clock.monotonic(),
            global_maintenance=self.global_maintenance,
            enough_data=True,
            hosts=self.hosts,
            monitors=monitors(self.clock, **values),
            vm_lease=self.lease,
        )

    def vm_lease(self) -> VmLease:
        if self.fail is not None:
            raise self.fail
        return self.lease

    def report_state(self, report: StateReport) -> None:
        self.reports.append(report)

    def notify(self, event: str, detail: str) -> None:
        self.notifications.append((event, detail))

    def record_history(self, event: str, cause: str | None = None, detail: str = "") -> None:
        self.history.append((event, cause))

    def close(self) -> None:
        self.closed += 1
