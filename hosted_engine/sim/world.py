"""The simulated cluster: a clock, a fault schedule, and the invariants checked each step.

Time advances in ticks of ``dt`` seconds. The run alternates *storms* (faults arrive at
random) with *calm* spells longer than the recovery bound, so both invariants are
exercised: at every step at most one engine VM runs (architecture invariant 1), and once
no fault has been active for ``bound`` seconds the engine is up.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from hosted_engine.agent.daemon import MAX_BACKOFF, Policy
from hosted_engine.agent.states import decide
from hosted_engine.config.host import HostConfig, from_values
from hosted_engine.config.timing import Timing
from hosted_engine.sim.host import BackendFactory, SimHost, SimVmBackend
from hosted_engine.sim.storage import SharedStorage
from hosted_engine.vm.definition import VmDefinition

VM_ID = "5ee7a1b2-0000-4000-8000-00000000e1a1"


@dataclass(frozen=True)
class SimSettings:
    hosts: int = 3
    steps: int = 4000
    dt: float = 0.25  # simulated seconds per step
    profile: str = "fast"
    boot_time: float = 1.5  # from VM start until the engine answers its health check
    storm: tuple[float, float] = (10.0, 60.0)  # how long a storm lasts, seconds
    fault_gap: float = 4.0  # mean seconds between two faults within a storm
    calm_extra: float = 30.0  # a calm spell lasts the bound plus up to this


def recovery_bound(timing: Timing, boot_time: float) -> float:
    """How long after the last fault the engine may still be down, derived from the
    timeouts a recovery can run into one after the other: the broker's first liveness
    window, an unexpected-down penalty, a start that never gets healthy, a stop and a
    maybe-away wait, the agent's longest back-off, a boot, and a few loops of slack."""
    return (
        timing.host_alive_timeout
        + timing.unexpected_down_timeout
        + timing.engine_starting_timeout
        + timing.engine_stop_timeout
        + timing.engine_away_timeout
        + MAX_BACKOFF
        + boot_time
        + 10 * timing.loop_period
    )


@dataclass
class _Fault:
    kind: str
    host: SimHost | None
    ends_at: float
    on_end: Callable[[float], None]
    kill_at: float | None = None  # partition: when the VM's unrenewed lease kills it


@dataclass
class SimResult:
    seed: int
    steps: int
    simulated_seconds: float
    faults: int
    bound: float
    worst_recovery: float  # the longest time from calm to the engine up, seconds
    steps_per_second: float
    digest: str  # of everything that happened: equal digests, equal runs
    failure: str | None = None
    history: list[str] = field(default_factory=list)  # the last events before a failure

    @property
    def ok(self) -> bool:
        return self.failure is None

    def summary(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        return (
            f"seed {self.seed}: {self.steps} steps ({self.simulated_seconds:.0f} s simulated), "
            f"{self.faults} faults, worst recovery {self.worst_recovery:.1f} s "
            f"(bound {self.bound:.1f} s), {self.steps_per_second:.0f} steps/s: {verdict}"
        )


class SimulationFailed(AssertionError):
    """An invariant broke; the message names the seed and how to replay it."""

    def __init__(self, result: SimResult) -> None:
        super().__init__(
            f"{result.failure}\nreplay: python -m hosted_engine.sim --seed {result.seed} "
            f"--steps {result.steps}\nlast events:\n  " + "\n  ".join(result.history)
        )
        self.result = result


def host_config(host_id: int, profile: str) -> HostConfig:
    return from_values(
        {
            "host_id": str(host_id),
            "sdUUID": "sim",
            "storage": "/nonexistent/sim-storage",
            "hostname": f"host{host_id}",
            "vmid": VM_ID,
            "timing_profile": profile,
        }
    )


class World:
    def __init__(
        self,
        seed: int,
        settings: SimSettings = SimSettings(),
        *,
        policy: Policy = decide,
        backend_factory: BackendFactory = SimVmBackend,
        record: bool = False,
    ) -> None:
        self.seed = seed
        self.events: list[str] | None = [] if record else None  # every event, when recording
        self.settings = settings
        self.rng = random.Random(seed)
        self.storage = SharedStorage()
        definition = VmDefinition(vm_id=VM_ID, mem_size_mib=4096)
        self.hosts = [
            SimHost(
                host_config(i, settings.profile),
                self.storage,
                self.rng,
                definition,
                policy,
                backend_factory,
                settings.boot_time,
            )
            for i in range(1, settings.hosts + 1)
        ]
        self.timing = self.hosts[0].config.timing
        self.bound = recovery_bound(self.timing, settings.boot_time)
        self.now = 0.0
        self.step_no = 0
        self.faults: list[_Fault] = []
        self.fault_count = 0
        self.quiet_since: float | None = 0.0  # no fault active since then
        self.last_up: float | None = None
        self.worst_recovery = 0.0
        self._recovering_since: float | None = 0.0  # calm, engine not yet up
        self._storm_until = 0.0
        self._calm_until = 0.0
        self._history: deque[str] = deque(maxlen=40)
        self._digest = hashlib.sha256()
        self._sentences: dict[int, str] = {}
        for host in self.hosts:
            host.boot(self.now)

    # --- bookkeeping ---------------------------------------------------------------------
    def _event(self, text: str) -> None:
        line = f"t={self.now:8.2f} step {self.step_no}: {text}"
        self._history.append(line)
        if self.events is not None:
            self.events.append(line)
        self._digest.update(line.encode())

    # --- faults --------------------------------------------------------------------------
    def _schedule(self) -> None:
        """Storms and calm spells; during a storm a fault starts now and then."""
        s = self.settings
        if self.now >= self._calm_until and self.now >= self._storm_until:
            self._storm_until = self.now + self.rng.uniform(*s.storm)
            self._calm_until = self._storm_until + self.bound + self.rng.uniform(0, s.calm_extra)
        if self.now < self._storm_until and self.rng.random() < s.dt / s.fault_gap:
            self._inject()

    def _inject(self) -> None:
        rng = self.rng
        host = rng.choice(self.hosts)
        kind = rng.choice(
            [
                "host death",
                "vm crash",
                "agent restart",
                "broker restart",
                "storage errors",
                "storage latency",
                "lease loss",
                "clock jump",
                "partition",
                "global maintenance",
                "local maintenance",
            ]
        )
        duration = rng.uniform(0.5, 20.0)
        self.fault_count += 1
        now = self.now

        def nothing(_: float) -> None:
            pass

        on_end: Callable[[float], None] = nothing
        kill_at: float | None = None
        if kind == "host death":
            if not host.alive:
                return
            host.die()

            def reboot(t: float) -> None:
                host.boot(t)

            on_end = reboot
        elif kind == "vm crash":
            host.backend.crash()
            duration = 0.0
        elif kind == "agent restart":
            if host.agent is None:
                return
            host.stop_agent(clean=rng.random() < 0.5)
            duration = rng.uniform(0.1, 5.0)
            on_end = lambda t: host.start_agent(t) if host.alive else None  # noqa: E731
        elif kind == "broker restart":
            if host.broker is None:
                return
            host.stop_broker()
            duration = rng.uniform(0.1, 10.0)
            on_end = lambda t: host.start_broker(t) if host.alive else None  # noqa: E731
        elif kind == "storage errors":
            host.access.flaky = rng.uniform(0.2, 0.9)
            on_end = lambda t: setattr(host.access, "flaky", 0.0)  # noqa: E731
        elif kind == "storage latency":
            host.access.latency = rng.uniform(0.2, 2.0 * self.timing.storage_latency_limit)
            on_end = lambda t: setattr(host.access, "latency", 0.0)  # noqa: E731
        elif kind == "lease loss":
            if self.storage.drop_vm_lease():
                for h in self.hosts:
                    h.backend.status()  # its holder notices at once and kills the VM
            duration = 0.0
        elif kind == "clock jump":
            host.clock.advance(rng.uniform(1.0, 60.0))
            duration = 0.0
        elif kind == "partition":
            host.access.partitioned = True
            # a holder that cannot renew its VM lease kills the VM before it expires
            kill_at = now + self.timing.host_alive_timeout
            on_end = lambda t: setattr(host.access, "partitioned", False)  # noqa: E731
        elif kind == "global maintenance":
            self.storage.set_global_maintenance(True)
            on_end = lambda t: self.storage.set_global_maintenance(False)  # noqa: E731
        elif kind == "local maintenance":
            host.local_maintenance = True
            on_end = lambda t: setattr(host, "local_maintenance", False)  # noqa: E731
        self._event(f"fault: {kind} on host {host.host_id} for {duration:.1f} s")
        self.faults.append(_Fault(kind, host, now + duration, on_end, kill_at))
        self.quiet_since = None

    def _end_faults(self) -> None:
        for fault in list(self.faults):
            if fault.kill_at is not None and self.now >= fault.kill_at and fault.host is not None:
                fault.kill_at = None
                if fault.host.engine_vm_running:
                    fault.host.backend.crash("the VM lease could not be renewed")
                    self._event(f"host {fault.host.host_id}: VM killed, lease not renewed")
            if self.now >= fault.ends_at:
                self.faults.remove(fault)
                fault.on_end(self.now)
                host = fault.host.host_id if fault.host else "-"
                self._event(f"end of {fault.kind} on host {host}")
        if not self.faults and self.quiet_since is None:
            self.quiet_since = self.now
            self._recovering_since = self.now

    # --- invariants ----------------------------------------------------------------------
    def _check(self) -> str | None:
        running = [h.host_id for h in self.hosts if h.engine_vm_running]
        if len(running) > 1:
            return f"{len(running)} engine VMs running at once, on hosts {running}"
        up = any(h.engine_up for h in self.hosts)
        if up:
            self.last_up = self.now
            if self._recovering_since is not None:
                self.worst_recovery = max(self.worst_recovery, self.now - self._recovering_since)
                self._recovering_since = None
        elif self.quiet_since is not None:
            if self._recovering_since is None:
                self._recovering_since = self.now  # went down in calm: a recovery too
            down_for = self.now - self._recovering_since
            if down_for > self.bound:
                return (
                    f"engine down for {down_for:.1f} s with no fault for "
                    f"{self.now - self.quiet_since:.1f} s (bound {self.bound:.1f} s)"
                )
        return None

    def _trace(self) -> None:
        for h in self.hosts:
            sentence = h.agent.last_sentence if h.agent is not None else "(no agent)"
            if self._sentences.get(h.host_id) != sentence:
                self._sentences[h.host_id] = sentence
                self._event(f"host {h.host_id}: {sentence}")

    # --- the run -------------------------------------------------------------------------
    def step(self) -> str | None:
        self.step_no += 1
        self.now += self.settings.dt
        for host in self.hosts:
            host.clock.advance(self.settings.dt)
        self._schedule()
        self._end_faults()
        order = list(self.hosts)
        self.rng.shuffle(order)  # who acts first in a tick varies, reproducibly
        for host in order:
            host.tick(self.now)
        self._trace()
        return self._check()

    def run(self) -> SimResult:
        started = time.perf_counter()
        failure = None
        for _ in range(self.settings.steps):
            failure = self.step()
            if failure is not None:
                failure = f"seed {self.seed}, step {self.step_no} (t={self.now:.2f} s): {failure}"
                self._event(f"INVARIANT BROKEN: {failure}")
                break
        elapsed = max(time.perf_counter() - started, 1e-9)
        return SimResult(
            seed=self.seed,
            steps=self.settings.steps,
            simulated_seconds=self.now,
            faults=self.fault_count,
            bound=self.bound,
            worst_recovery=self.worst_recovery,
            steps_per_second=self.step_no / elapsed,
            digest=self._digest.hexdigest(),
            failure=failure,
            history=list(self._history) if failure else [],
        )


def simulate(seed: int, settings: SimSettings = SimSettings(), **kwargs: object) -> SimResult:
    """Run one seed; raises SimulationFailed (with the seed to replay) when it fails."""
    result = World(seed, settings, **kwargs).run()  # type: ignore[arg-type]
    if not result.ok:
        raise SimulationFailed(result)
    return result
