"""The faults the chaos command injects, each with the repair the real world would make.

A fault is injected and then repaired the way it would be on real hosts: a killed host
reboots after a while, a killed daemon is restarted by systemd, a hung host is reset by
its watchdog (or comes back when whatever held it lets go), a stalled mount recovers.
The HA daemons are never told; whatever they do about the fault is what is measured.

Storage errors go through the storage layer's injectable fault points
(:mod:`hosted_engine.files.faults`), so one host's I/O fails or hangs while the files
stay good for the others, as with one host's broken path to a shared LUN.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from signal import SIGCONT, SIGSTOP
from threading import Event

import psutil

from hosted_engine.config.timing import Timing
from hosted_engine.errors import UsageError
from hosted_engine.files.faults import FaultMode, FaultPoint
from hosted_engine.lab import processes
from hosted_engine.lab.cluster import Lab
from hosted_engine.lab.layout import storage_dir
from hosted_engine.storage import domain
from hosted_engine.storage.metadata import SLOT_BYTES
from hosted_engine.storage.whiteboard import Whiteboard


class FaultKind(StrEnum):
    KILL_HOST = "kill-host"  # power loss: every process of the host SIGKILLed
    KILL_VM = "kill-vm"  # the engine VM's payload SIGKILLed
    KILL_AGENT = "kill-agent"
    KILL_BROKER = "kill-broker"
    FREEZE_HOST = "freeze-host"  # every process of the host SIGSTOPped
    FREEZE_VM = "freeze-vm"  # the engine VM's payload SIGSTOPped: it stops answering
    STORAGE_ERRORS = "storage-errors"  # one host's I/O at one fault point fails or hangs
    CORRUPT_SLOT = "corrupt-slot"  # a host's metadata slot overwritten with garbage


def parse_kinds(text: str) -> tuple[FaultKind, ...]:
    """``kill-host,kill-vm``; UsageError (one line) naming an unknown kind."""
    kinds: list[FaultKind] = []
    for raw in text.split(","):
        name = raw.strip()
        try:
            kind = FaultKind(name)
        except ValueError:
            known = ",".join(k.value for k in FaultKind)
            raise UsageError(f"unknown fault {name!r:.40}; known: {known}") from None
        if kind not in kinds:
            kinds.append(kind)
    return tuple(kinds)


@dataclass(frozen=True)
class Applied:
    """One fault as it happened: when (monotonic and epoch), on which host, and how."""

    kind: FaultKind
    host_id: int
    at: float
    epoch: float
    detail: str
    repaired_at: float


class FaultInjector:
    """Injects one fault at a time into ``lab`` and repairs it.

    ``rng`` makes a run repeatable: the same seed picks the same hosts, points, modes and
    delays (what the HA daemons then do still depends on timing). ``stop`` cuts a repair
    wait short when the run is interrupted; the repair itself is still made.
    """

    def __init__(self, lab: Lab, timing: Timing, rng: random.Random, stop: Event) -> None:
        self.lab = lab
        self.timing = timing
        self.rng = rng
        self.stop = stop
        self.hosts = list(range(1, lab.manifest.hosts + 1))

    def apply(self, kind: FaultKind) -> Applied:
        action: Callable[[int], str] = {
            FaultKind.KILL_HOST: self._kill_host,
            FaultKind.KILL_VM: self._kill_vm,
            FaultKind.KILL_AGENT: lambda h: self._kill_daemon(h, "agent"),
            FaultKind.KILL_BROKER: lambda h: self._kill_daemon(h, "broker"),
            FaultKind.FREEZE_HOST: self._freeze_host,
            FaultKind.FREEZE_VM: self._freeze_vm,
            FaultKind.STORAGE_ERRORS: self._storage_errors,
            FaultKind.CORRUPT_SLOT: self._corrupt_slot,
        }[kind]
        engine_only = kind in (FaultKind.KILL_VM, FaultKind.FREEZE_VM)
        host_id = self._target(engine_only)
        at, epoch = time.monotonic(), time.time()
        detail = action(host_id)
        return Applied(kind, host_id, at, epoch, detail, time.monotonic())

    def heal_everything(self) -> None:
        """Clear every fault, resume every process, start whatever is missing: what an
        admin does when the cluster did not recover on its own."""
        for host_id in self.hosts:
            for point in FaultPoint:
                self.lab.set_fault(host_id, point, None)
            self.lab.thaw_host(host_id)
            processes.signal_all(self._payload(host_id), SIGCONT)
        for host_id in self.hosts:
            self.lab.start_host(host_id)

    # --- choosing -------------------------------------------------------------------------
    def _target(self, engine_only: bool) -> int:
        """The engine's host half the time (where a fault hurts), any host otherwise."""
        engine = self.lab.engine_host()
        if engine is not None and (engine_only or self.rng.random() < 0.5):
            return engine
        return self.rng.choice(self.hosts)

    def _pause(self, seconds: float) -> None:
        """How long the world takes to react (a reboot, systemd's restart delay): a
        duration of the fault itself, not a wait for an event."""
        self.stop.wait(seconds)

    def _payload(self, host_id: int) -> list[psutil.Process]:
        """The engine VM's payload processes on ``host_id`` (not its supervisor)."""
        payload = {p.pid for p in self.lab.engine_vms()}
        vm = processes.host_processes(self.lab.dir, host_id)["vm"]
        return [p for p in vm if p.pid in payload]

    # --- the faults -----------------------------------------------------------------------
    def _kill_host(self, host_id: int) -> str:
        self.lab.kill_host(host_id)
        reboot = self.rng.uniform(1.0, 3.0) * self.timing.host_alive_timeout
        self._pause(reboot)
        self.lab.start_host(host_id)
        return f"powered off, rebooted after {reboot:.1f} s"

    def _kill_vm(self, host_id: int) -> str:
        self.lab.kill_vm(host_id)
        return "SIGKILL"

    def _kill_daemon(self, host_id: int, kind: str) -> str:
        processes.kill_now(processes.host_processes(self.lab.dir, host_id)[kind])
        restart = self.rng.uniform(1.0, 3.0) * self.timing.loop_period
        self._pause(restart)
        self.lab.start_host(host_id)
        return f"SIGKILL, restarted after {restart:.1f} s"

    def _freeze_host(self, host_id: int) -> str:
        before = self.lab.last_reset(host_id)
        self.lab.freeze_host(host_id)
        limit = time.monotonic() + self.timing.watchdog_timeout + 10.0
        while self.lab.last_reset(host_id) == before and time.monotonic() < limit:
            if self.stop.wait(0.1):
                break
        reset = self.lab.last_reset(host_id) != before
        self.lab.thaw_host(host_id)  # nothing is left to resume after a reset
        self.lab.start_host(host_id)
        return "reset by its watchdog" if reset else "no watchdog armed; thawed"

    def _freeze_vm(self, host_id: int) -> str:
        payload = self._payload(host_id)
        processes.signal_all(payload, SIGSTOP)
        t = self.timing
        limit = t.engine_bad_health_timeout + t.engine_stop_timeout + 4 * t.loop_period + 10.0
        left = payload
        deadline = time.monotonic() + limit
        while left and time.monotonic() < deadline and not self.stop.is_set():
            left = processes.wait_gone(left, 0.5)
        processes.signal_all(left, SIGCONT)
        return "stopped by its agent" if not left else f"still there after {limit:.0f} s; resumed"

    def _storage_errors(self, host_id: int) -> str:
        point = self.rng.choice(list(FaultPoint))
        mode = self.rng.choice(list(FaultMode))
        duration = self.rng.uniform(1.0, 3.0) * self.timing.host_alive_timeout
        self.lab.set_fault(host_id, point, mode)
        try:
            self._pause(duration)
        finally:
            self.lab.set_fault(host_id, point, None)
        return f"{point.value}={mode.value} for {duration:.1f} s"

    def _corrupt_slot(self, host_id: int) -> str:
        m = self.lab.manifest
        path = domain.ha_dir(storage_dir(self.lab.dir), m.sd_uuid) / domain.METADATA_NAME
        garbage = self.rng.randbytes(SLOT_BYTES)
        Whiteboard(path).write_slot(host_id, garbage)
        return f"{SLOT_BYTES} random bytes"
