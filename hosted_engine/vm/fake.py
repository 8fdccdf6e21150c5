"""An in-memory VM backend, so agent logic is tested in milliseconds without processes.

Fakes of several hosts share one :class:`~hosted_engine.locking.MemoryLeaseManager` (or
its store), and the VM lease decides who runs the VM exactly as on real hosts: the loser
of a start race gets ``LeaseHeld``, and a VM whose lease is lost goes down.
"""

from __future__ import annotations

from hosted_engine.errors import LeaseHeldError
from hosted_engine.locking import Lease, MemoryLeaseManager
from hosted_engine.vm.base import (
    AlreadyRunning,
    ExitReason,
    LeaseHeld,
    Started,
    StartFailed,
    StartResult,
    StopResult,
    VmState,
    VmStats,
    VmStatus,
)
from hosted_engine.vm.definition import VmDefinition

_NOT_STARTED = VmStatus(VmState.DOWN, ExitReason.NOT_STARTED)


class FakeVmBackend:
    def __init__(self, leases: MemoryLeaseManager, host_id: int, hostname: str = "") -> None:
        self.leases = leases
        self.host_id = host_id
        self.hostname = hostname or f"host{host_id}"
        self.definition: VmDefinition | None = None  # of the last successful start
        self.start_attempts = 0
        self.cpu_percent = 5.0  # what stats() reports while running
        self._status = _NOT_STARTED
        self._lease: Lease | None = None
        self._start_failure: str | None = None

    @property
    def running(self) -> bool:
        return self.status().state is not VmState.DOWN

    def status(self) -> VmStatus:
        if self._lease is not None and not self._lease.is_held():
            self._down(ExitReason.CRASHED, "the VM lease was lost")
        return self._status

    def start(self, definition: VmDefinition) -> StartResult:
        self.start_attempts += 1
        if self.running:
            return AlreadyRunning(self._status)
        if self._start_failure is not None:
            self._status = VmStatus(VmState.DOWN, ExitReason.START_FAILED, self._start_failure)
            return StartFailed(self._start_failure)
        try:
            self._lease = self.leases.acquire_vm_lease(
                definition.vm_id, self.host_id, self.hostname
            )
        except LeaseHeldError as e:
            self._status = VmStatus(VmState.DOWN, ExitReason.LEASE_HELD, str(e))
            return LeaseHeld(e.holder)
        self.definition = definition
        pid = 10_000 + self.host_id
        self._status = VmStatus(VmState.UP, pid=pid)
        return Started(pid)

    def shutdown(self, grace: float) -> StopResult:
        return self._stop(ExitReason.SHUTDOWN)

    def poweroff(self) -> StopResult:
        return self._stop(ExitReason.POWEROFF)

    def stats(self) -> VmStats | None:
        if not self.running or self.definition is None:
            return None
        return VmStats(self.cpu_percent, self.definition.mem_size_mib * 1024 * 1024)

    # --- test hooks ------------------------------------------------------------------------
    def crash(self, message: str = "killed by signal 9") -> None:
        self._down(ExitReason.CRASHED, message)

    def pause(self) -> None:
        if self.running:
            self._status = VmStatus(VmState.PAUSED, pid=self._status.pid)

    def resume(self) -> None:
        if self.running:
            self._status = VmStatus(VmState.UP, pid=self._status.pid)

    def set_start_failure(self, reason: str | None) -> None:
        """Every start fails with ``reason`` until this is called with None."""
        self._start_failure = reason

    # --- internals -------------------------------------------------------------------------
    def _stop(self, reason: ExitReason) -> StopResult:
        if not self.running:
            return StopResult.NOT_RUNNING
        self._down(reason, reason.value)
        return StopResult.DONE

    def _down(self, reason: ExitReason, message: str) -> None:
        if self._lease is not None:
            self._lease.release()
            self._lease = None
        self._status = VmStatus(VmState.DOWN, reason, message)
