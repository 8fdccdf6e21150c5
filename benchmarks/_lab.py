"""Shared plumbing of the lab benchmarks: a throw-away lab, settling, sampling, reporting.

Not a benchmark itself. The scripts next to it import it as ``_lab`` (a script's own
directory is first on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from hosted_engine.config.timing import PROFILES, Timing
from hosted_engine.lab import processes
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


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def temp_lab(
    hosts: int,
    profile: str,
    keep_dir: bool = False,
    up_timeout: float | None = None,
    engine: str = "stand-in",
    leases: str = "fcntl",
) -> Iterator[Lab]:
    """A fresh lab in a temporary directory, torn down on the way out whatever happens.

    The engine VM runs the stand-in by default: it tells which host and pid answer (see
    :func:`engine_identity`), which the HA benchmarks time; ``engine="manager"`` runs the
    real manager.

    SIGTERM is turned into KeyboardInterrupt for the duration so a killed benchmark still
    reaches the teardown. The directory is removed unless ``keep_dir`` (the logs are in
    ``hosts/hostN/log/``).
    """
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    lab_dir = Path(tempfile.mkdtemp(prefix=f"he-bench-{profile}-"))
    lab = Lab(lab_dir.resolve())
    print(f"lab: {hosts} hosts, profile {profile}, {leases} leases, in {lab.dir}", flush=True)
    try:
        started = time.monotonic()
        lab = Lab.up(lab_dir, hosts, profile, timeout=up_timeout, engine=engine, leases=leases)
        print(f"lab: engine healthy {time.monotonic() - started:.1f} s after `up`", flush=True)
        yield lab
    finally:
        teardown(lab)
        if keep_dir:
            print(f"lab: kept {lab.dir} (logs under hosts/hostN/log/)", flush=True)
        else:
            shutil.rmtree(lab.dir, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)


def teardown(lab: Lab) -> None:
    """``down``, then make sure nothing of the lab is left running (VM payloads included)."""
    with contextlib.suppress(Exception):
        lab.down()
    left: list[Any] = []
    with contextlib.suppress(Exception):
        left = lab.running_processes() + lab.engine_vms()
    if left:
        print(f"lab: {len(left)} processes survived `down`; killing them", flush=True)
        processes.kill_now(left)
    print("lab: torn down", flush=True)


def timing_of(lab: Lab) -> Timing:
    """The lab's timing profile (the lab writes no overrides)."""
    return PROFILES[lab.manifest.profile]


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


def engine_identity(url: str, timeout: float = 0.5) -> tuple[int, int] | None:
    """``(host id, pid)`` of the engine VM answering at ``url``'s server, None if none.

    The lab's engine service prints both on its ``/`` page.
    """
    root = url.split("/ovirt-engine/", 1)[0] + "/"
    try:
        reply = httpx.get(root, timeout=timeout)
    except httpx.HTTPError:
        return None
    if reply.status_code != 200:
        return None
    host = re.search(r"^host id: (\d+)$", reply.text, re.MULTILINE)
    pid = re.search(r"^pid: (\d+)$", reply.text, re.MULTILINE)
    if host is None or pid is None:
        return None
    return int(host.group(1)), int(pid.group(1))


def healthy_identity(url: str, timeout: float = 0.5) -> tuple[int, int] | None:
    """The engine's identity, but only when its health URL answers 200."""
    if not engine_healthy(url, timeout):
        return None
    return engine_identity(url, timeout)


# --- sampling the engine VMs in the background ---------------------------------------------


@dataclass(frozen=True)
class Sample:
    at: float  # monotonic
    vm_pids: frozenset[int]
    lease_holder: int | None  # host id; None = free


@dataclass
class EngineSampler:
    """Every ``period`` seconds: the engine VM payloads (``Lab.engine_vms()``) and the VM
    lease holder. Keeps every sample so a failover can be broken down afterwards."""

    lab: Lab
    period: float = 0.05
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
        while not self._stop.is_set():
            try:
                pids = frozenset(p.pid for p in self.lab.engine_vms())
                holder = self._holder(number, holder)
                number += 1
                sample = Sample(time.monotonic(), pids, holder)
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


# --- reporting ------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def summary(values: Sequence[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """A plain left-aligned text table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)), line]
    out.extend("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
    return "\n".join(out)


def wait_for(predicate: Callable[[], Any], timeout: float, poll: float, what: str) -> Any:
    """Poll until ``predicate()`` is truthy; returns its value; TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def log(text: str) -> None:
    print(text, file=sys.stdout, flush=True)
