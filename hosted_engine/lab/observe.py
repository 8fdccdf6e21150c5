"""Watching a running lab from outside: is the cluster settled, and what ran when.

The benchmarks and the chaos command judge the lab the same way: by what an admin could
see (each host's published state, the engine's health URL) and by what the machine holds
(the engine VM processes, the VM lease), never by asking a daemon how it thinks it is
doing.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from hosted_engine.lab.cluster import Lab, engine_healthy

# States an agent passes through on its way somewhere: a cluster showing one is not settled.
TRANSIENT_STATES = frozenset(
    {
        "StartState",
        "ReinitializeFSM",
        "EngineStart",
        "EngineStarting",
        "EngineStop",
        "EngineForceStop",
    }
)


# --- the cluster's state ------------------------------------------------------------------


def unsettled_reason(lab: Lab, need_standby: bool = True) -> str | None:
    """Why the cluster is not settled yet, or None when it is.

    Settled: every host's broker and agent running, every host live and reporting a
    non-transient state, the engine healthy and exactly one engine VM, and (when
    ``need_standby``) another host standing by (EngineDown, score above 0) to take the
    engine over. A host whose VM just died sits in EngineUnexpectedlyDown with score 0 for
    ``unexpected_down_timeout``; a round started while every other host is in that state
    would time that penalty, not a failover.
    """
    try:
        status = lab.status()
    except Exception as e:
        return f"status failed: {e}"
    for host in status["hosts"]:
        hid = host["id"]
        if host["broker"] != "running" or host["agent"] != "running":
            return f"host {hid}: broker {host['broker']}, agent {host['agent']}"
        if host["live"] is not True:
            return f"host {hid}: live-data {host['live']}"
        if host["state"] is None or host["state"] in TRANSIENT_STATES:
            return f"host {hid}: state {host['state']}"
    if not status["engine_healthy"]:
        return "engine not healthy"
    standby = [
        h
        for h in status["hosts"]
        if h["id"] != status["engine_host"] and h["state"] == "EngineDown" and (h["score"] or 0) > 0
    ]
    if need_standby and not standby:
        return "no other host standing by (EngineDown, score > 0)"
    vms = len(lab.engine_vms())
    if vms != 1:
        return f"{vms} engine VMs"
    return None


def wait_settled(
    lab: Lab, timeout: float, stable_for: float, poll: float, need_standby: bool = True
) -> float:
    """Wait until the cluster stays settled for ``stable_for`` seconds; returns the wait."""
    started = time.monotonic()
    deadline = started + timeout
    settled_since: float | None = None
    reason: str | None = "not checked"
    while time.monotonic() < deadline:
        reason = unsettled_reason(lab, need_standby)
        now = time.monotonic()
        if reason is None:
            settled_since = settled_since if settled_since is not None else now
            if now - settled_since >= stable_for:
                return now - started
        else:
            settled_since = None
        time.sleep(poll)
    raise TimeoutError(f"cluster not settled after {timeout:.0f} s: {reason}")


# --- sampling the engine VMs in the background ---------------------------------------------


@dataclass(frozen=True)
class Sample:
    at: float  # monotonic
    vm_pids: frozenset[int]
    lease_holder: int | None  # host id; None = free
    healthy: bool | None = None  # the engine's health URL answered; None = not checked


@dataclass
class EngineSampler:
    """Every ``period`` seconds: the engine VM payloads (``Lab.engine_vms()``), the VM
    lease holder and, with ``health``, whether the engine's health URL answers. Keeps
    every sample so a failover can be broken down afterwards."""

    lab: Lab
    period: float = 0.05
    health: bool = False
    samples: list[Sample] = field(default_factory=list)
    errors: int = 0
    cpu_seconds: float = 0.0  # the sampler's own CPU time (it competes with the lab)
    started_at: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> EngineSampler:
        self._thread = threading.Thread(target=self._run, name="engine-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)

    def _holder(self, number: int, last: int | None) -> int | None:
        """The lease holder as ``Lab.engine_host`` reads it; with sanlock that is a
        ``sanlock direct`` process, so it is read every fifth sample only."""
        if self.lab.manifest.leases == "sanlock" and number % 5:
            return last
        return self.lab.engine_host()

    def _run(self) -> None:
        self.started_at = time.monotonic()
        cpu_start = time.thread_time()
        holder: int | None = None
        number = 0
        url = self.lab.manifest.engine_url if self.health else None
        while not self._stop.is_set():
            try:
                at = time.monotonic()
                pids = frozenset(p.pid for p in self.lab.engine_vms())
                holder = self._holder(number, holder)
                healthy = engine_healthy(url, min(0.5, self.period)) if url else None
                number += 1
                sample = Sample(at, pids, holder, healthy)
            except Exception:
                self.errors += 1
            else:
                self.samples.append(sample)
            self.cpu_seconds = time.thread_time() - cpu_start
            self._stop.wait(self.period)

    def describe(self) -> str:
        wall = (self.samples[-1].at - self.started_at) if self.samples else 0.0
        share = 100 * self.cpu_seconds / wall if wall > 0 else 0.0
        per = 1000 * self.cpu_seconds / len(self.samples) if self.samples else 0.0
        return (
            f"{len(self.samples)} samples over {wall:.0f} s "
            f"({per:.1f} ms CPU each, {share:.1f} % of a core)"
        )

    @property
    def max_vms(self) -> int:
        return max((len(s.vm_pids) for s in self.samples), default=0)

    def since(self, start: float) -> list[Sample]:
        return [s for s in list(self.samples) if s.at >= start]
