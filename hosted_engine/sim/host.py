"""One simulated host: its clock, VM backend, broker pieces and agent, and their faults."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hosted_engine.agent.daemon import Agent, Policy
from hosted_engine.agent.ports import StateReport
from hosted_engine.broker.monitors.base import Degraded, Monitor, MonitorRunner
from hosted_engine.broker.monitors.engine_health import EngineHealthMonitor
from hosted_engine.broker.publisher import StatusPublisher
from hosted_engine.broker.service import BrokerService
from hosted_engine.broker_contract import BrokerSnapshot, VmLease
from hosted_engine.clock import FakeClock
from hosted_engine.config.host import HostConfig
from hosted_engine.errors import BrokerUnavailableError
from hosted_engine.locking import MemoryLeaseManager
from hosted_engine.sim.storage import SharedStorage, SimLeases, SimWhiteboard, StorageAccess
from hosted_engine.vm import health
from hosted_engine.vm.base import Started, StartResult
from hosted_engine.vm.definition import VmDefinition
from hosted_engine.vm.engine_status import EngineStatus
from hosted_engine.vm.fake import FakeVmBackend

HEALTH_URL = "http://engine.sim/ovirt-engine/services/health"


class SimVmBackend(FakeVmBackend):
    """The shipped fake, remembering when the VM started so the engine can "boot"."""

    def __init__(self, leases: MemoryLeaseManager, host_id: int, clock: FakeClock) -> None:
        super().__init__(leases, host_id)
        self.clock = clock
        self.started_at: float | None = None

    def start(self, definition: VmDefinition) -> StartResult:
        result = super().start(definition)
        if isinstance(result, Started):
            self.started_at = self.clock.monotonic()
        return result

    def engine_answers(self, boot_time: float) -> bool:
        """The engine's health page answers once the VM has been up ``boot_time``."""
        return (
            self.running
            and self.started_at is not None
            and self.clock.monotonic() - self.started_at >= boot_time
        )


BackendFactory = Callable[[MemoryLeaseManager, int, FakeClock], SimVmBackend]


@dataclass(frozen=True)
class _Constant:
    """A host measurement the simulation keeps healthy (network, bridge, memory, load)."""

    name: str
    value: Any
    initial: Any = None

    def measure(self) -> Any:
        return self.value


_CONSTANT = frozenset({"network", "bridge", "mem-free", "cpu-load"})


class _StorageMonitor:
    name = "storage-domain"
    initial = None

    def __init__(self, access: StorageAccess, latency_limit: float) -> None:
        self._access = access
        self._limit = latency_limit

    def measure(self) -> bool:
        try:
            self._access.check("storage-domain check")
        except Exception as e:
            raise Degraded(False, str(e)) from None
        if self._access.latency > self._limit:
            raise Degraded(False, f"storage I/O took {self._access.latency:.1f}s")
        return True


class _ConfigAgeMonitor:
    """The age of the broker's copy of the shared configuration; refreshed from storage."""

    name = "config-age"
    initial = None

    def __init__(self, access: StorageAccess, clock: FakeClock) -> None:
        self._access = access
        self._clock = clock
        self._refreshed_at: float | None = None

    def measure(self) -> float:
        now = self._clock.monotonic()
        try:
            self._access.check("refresh the shared configuration")
            self._refreshed_at = now
        except Exception as e:
            if self._refreshed_at is None:
                raise RuntimeError(f"the shared configuration was never read: {e}") from None
            raise Degraded(now - self._refreshed_at, f"the latest refresh failed: {e}") from None
        return 0.0


class SimBroker:
    """The broker of one host: real publisher, liveness, monitors and snapshot code."""

    def __init__(self, host: SimHost) -> None:
        self.host = host
        config, clock = host.config, host.clock
        whiteboard = SimWhiteboard(host.storage, host.access)
        leases = SimLeases(host.storage.leases, host.access)
        backend = host.backend
        monitors: list[Monitor[Any]] = [
            _Constant("network", 1.0),
            _Constant("bridge", True),
            _Constant("mem-free", 16_384.0),
            _Constant("cpu-load", 0.0),
            EngineHealthMonitor(
                backend,
                HEALTH_URL,
                config.timing.health_check_timeout,
                engine_status=health.engine_status,
                check_liveliness=lambda url, timeout: backend.engine_answers(host.boot_time),
            ),
            _StorageMonitor(host.access, config.timing.storage_latency_limit),
            _ConfigAgeMonitor(host.access, clock),
        ]
        # never started: the simulation measures in its own thread, when it is due
        self.runner = MonitorRunner(monitors, config.timing.monitor_period, clock)
        self.publisher = StatusPublisher(config, whiteboard, leases, self._engine_status, clock)
        self.service = BrokerService(
            config,
            self.publisher,
            whiteboard,
            leases,
            lambda: {k: r.value for k, r in self.runner.values().items()},
            lambda event, detail, hostname: "sent",
            clock,
            monitor_times=lambda: {k: r.measured_at for k, r in self.runner.values().items()},
            monitor_errors=lambda: {k: r.error for k, r in self.runner.values().items()},
        )

    def _engine_status(self) -> EngineStatus | None:
        reading = self.runner.values().get("engine-health")
        value = None if reading is None else reading.value
        return value if isinstance(value, EngineStatus) else None

    def work(self) -> None:
        """One broker period: measure, then publish and read the whiteboard. The constant
        monitors are measured once: they never change, and the simulator's speed counts."""
        for name in self.runner.names:
            if name not in _CONSTANT or self.runner.values()[name].measured_at is None:
                self.runner.refresh(name)
        self.publisher.publish_once()

    def stop(self) -> None:
        self.publisher.release_lease()  # a dead process's fcntl lock goes with it


class SimBrokerPort:
    """The agent's side of the socket: the JSON wire form, through the contract's decoder."""

    def __init__(self, host: SimHost) -> None:
        self._host = host

    def _broker(self) -> SimBroker:
        if self._host.broker is None:
            raise BrokerUnavailableError("cannot connect to the broker (simulated: not running)")
        return self._host.broker

    def get_snapshot(self) -> BrokerSnapshot:
        return BrokerSnapshot.from_json(self._broker().service.get_snapshot())

    def vm_lease(self) -> VmLease:
        return VmLease.from_json(self._broker().service.vm_lease())

    def report_state(self, report: StateReport) -> None:
        self._broker().service.report_state(
            report.state, report.score, report.maintenance, report.stopped, dict(report.metadata)
        )

    def notify(self, event: str, detail: str) -> None:
        self._broker().service.notify(event, detail)

    def record_history(self, event: str, cause: str | None = None, detail: str = "") -> None:
        """Not kept: the simulator judges decisions, and its storage is in memory."""

    def close(self) -> None:
        pass


class SimHost:
    """A host that can die, reboot, lose its daemons and its storage."""

    def __init__(
        self,
        config: HostConfig,
        storage: SharedStorage,
        rng: random.Random,
        definition: VmDefinition,
        policy: Policy,
        backend_factory: BackendFactory,
        boot_time: float,
    ) -> None:
        self.config = config
        self.host_id = config.host_id
        self.storage = storage
        self.rng = rng
        self.access = StorageAccess(rng)
        self.definition = definition
        self.policy = policy
        self.backend_factory = backend_factory
        self.boot_time = boot_time
        self.local_maintenance = False
        self.alive = False
        self.clock = FakeClock()
        self.backend = backend_factory(MemoryLeaseManager(), self.host_id, self.clock)
        self.broker: SimBroker | None = None
        self.agent: Agent | None = None
        self.broker_due = 0.0  # world times
        self.agent_due = 0.0

    # --- lifecycle -----------------------------------------------------------------------
    def boot(self, now: float) -> None:
        """Power on: a fresh monotonic clock (its origin is arbitrary), no VM, both daemons."""
        self.clock = FakeClock(start=self.rng.uniform(50.0, 1_000_000.0))
        self.backend = self.backend_factory(
            SimLeases(self.storage.leases, self.access), self.host_id, self.clock
        )
        self.alive = True
        self.start_broker(now)
        self.start_agent(now)

    def die(self) -> None:
        """Power loss: the VM and both daemons die; the kernel drops their leases."""
        self.backend.crash("host lost power")
        self.stop_broker()
        self.agent = None
        self.alive = False

    def start_broker(self, now: float) -> None:
        self.broker = SimBroker(self)
        self.broker_due = now

    def stop_broker(self) -> None:
        if self.broker is not None:
            self.broker.stop()
        self.broker = None

    def start_agent(self, now: float) -> None:
        self.agent = Agent(
            self.config,
            self.clock,
            threading.Event(),
            broker=SimBrokerPort(self),
            backend=self.backend,
            local_maintenance=lambda: self.local_maintenance,
            definition=lambda: self.definition,
            policy=self.policy,
        )
        self.agent_due = now

    def stop_agent(self, clean: bool) -> None:
        if self.agent is not None and clean:
            self.agent.report_stopped()
        self.agent = None

    # --- one tick ------------------------------------------------------------------------
    def tick(self, now: float, nowait_limit: int = 8) -> None:
        if not self.alive:
            return
        if self.broker is not None and now >= self.broker_due:
            self.broker.work()
            timing = self.config.timing
            self.broker_due = now + min(timing.publish_period, timing.monitor_period)
            self.broker_due += self.access.latency
        if self.agent is not None and now >= self.agent_due:
            delay = 0.0
            for _ in range(nowait_limit):  # a NOWAIT chain decides again at once
                delay = self.agent.loop_once()
                if delay > 0:
                    break
            self.agent_due = now + delay

    @property
    def engine_vm_running(self) -> bool:
        return self.alive and self.backend.running

    @property
    def engine_up(self) -> bool:
        return self.engine_vm_running and self.backend.engine_answers(self.boot_time)
