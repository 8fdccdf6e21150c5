"""The VM backend interface and its typed results.

Every outcome the agent acts on is a type (``LeaseHeld``, ``AlreadyRunning``, ...),
never a message to be matched (the reference matched VDSM and qemu error text and broke
when the wording changed: D10, BZ 1619365).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from hosted_engine.locking.base import LeaseState
from hosted_engine.vm.definition import VmDefinition


class VmState(StrEnum):
    UP = "up"
    POWERING_UP = "powering_up"
    PAUSED = "paused"
    DOWN = "down"


class ExitReason(StrEnum):
    """Why a VM is down; ``NOT_STARTED`` means no VM was ever run here (VDSM's NoSuchVM)."""

    NOT_STARTED = "not started"
    SHUTDOWN = "shutdown"  # a graceful shutdown was asked for and completed
    POWEROFF = "poweroff"  # a forced stop was asked for
    EXITED = "exited"  # the payload ended by itself with status 0
    CRASHED = "crashed"  # the payload died with an error status or a signal nobody sent
    SUPERVISOR_LOST = "supervisor lost"  # the supervising process vanished
    LEASE_HELD = "lease held"  # the start lost the race for the VM lease
    START_FAILED = "start failed"  # the payload could not be launched
    FENCED = "fenced"  # killed by its own host because the VM lease could not be renewed

    @property
    def expected(self) -> bool:
        """True when somebody asked for the VM to be down."""
        return self in (ExitReason.NOT_STARTED, ExitReason.SHUTDOWN, ExitReason.POWEROFF)


@dataclass(frozen=True)
class VmStatus:
    state: VmState
    exit_reason: ExitReason | None = None  # set when state is DOWN
    message: str = ""  # human detail, e.g. "killed by signal 9"
    pid: int | None = None  # the payload's pid while it runs
    lease: LeaseState = LeaseState.NONE  # the VM lease as this host holds it
    lease_renewed: float | None = None  # epoch of its last good renewal, when held

    @property
    def detail(self) -> str:
        """The reference's VDSM status word, as shown in ``Engine status``."""
        return {
            VmState.UP: "Up",
            VmState.POWERING_UP: "Powering up",
            VmState.PAUSED: "Paused",
            VmState.DOWN: "Down",
        }[self.state]


@dataclass(frozen=True)
class VmStats:
    cpu_percent: float  # of one core, summed over the VM's processes
    rss_bytes: int


@dataclass(frozen=True)
class Started:
    pid: int


@dataclass(frozen=True)
class LeaseHeld:
    holder: str | None


@dataclass(frozen=True)
class AlreadyRunning:
    status: VmStatus


@dataclass(frozen=True)
class StartFailed:
    reason: str


StartResult = Started | LeaseHeld | AlreadyRunning | StartFailed


class StopResult(StrEnum):
    DONE = "done"  # the request was carried out (or the VM is now down)
    NOT_RUNNING = "not running"  # there was nothing to stop
    FAILED = "failed"


class VmBackend(Protocol):
    def start(self, definition: VmDefinition) -> StartResult: ...

    def status(self) -> VmStatus: ...

    def shutdown(self, grace: float) -> StopResult:
        """Ask the VM to stop; it is powered off if still running after ``grace`` seconds.
        Returns once the request is delivered, not when the VM is down."""
        ...

    def poweroff(self) -> StopResult:
        """Stop the VM now; returns once it is down."""
        ...

    def stats(self) -> VmStats | None:
        """Resource use of the running VM, None when it is not running."""
        ...
