"""The lease interface every backend implements (fcntl today, sanlock later).

Two kinds of lease, as in the reference:

* the **host-id lease** guards one metadata slot: a broker writes its slot only while it
  holds the lease for its host id, so two hosts configured with the same id cannot both
  write (the second one's claim fails loudly);
* the **VM lease** is held by the process that runs the engine VM, for the VM's whole
  life. It is what makes two engine VMs impossible; agents agreeing is only an
  optimisation on top of it.

Contention is reported as :class:`~hosted_engine.errors.LeaseHeldError`, a type, never
as text to be parsed (D10).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class LeaseState(StrEnum):
    """The VM lease as its holder sees it, for ``--vm-status`` and the lab view."""

    NONE = "none"  # this host holds no VM lease
    HELD = "held"  # held, last renewal in time
    RENEWING = "renewing"  # held, but the last renewal is late (storage slow or failing)
    EXPIRED = "expired"  # not renewed for too long: the holder is fencing itself
    FENCED = "fenced"  # the holder killed its VM because it could not renew


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a lease, as far as the backend can tell."""

    host_id: int | None
    pid: int | None = None
    hostname: str | None = None

    def describe(self) -> str:
        parts = []
        if self.host_id is not None:
            parts.append(f"host {self.host_id}")
        if self.hostname:
            parts.append(self.hostname)
        if self.pid is not None:
            parts.append(f"pid {self.pid}")
        return ", ".join(parts) or "another holder"


class Lease(Protocol):
    """A held lease. Releasing twice is harmless."""

    @property
    def name(self) -> str: ...

    def release(self) -> None: ...

    def is_held(self) -> bool:
        """False once released or lost (a sanlock lease can be lost to storage failure)."""
        ...

    def inheritable_fds(self) -> tuple[int, ...]:
        """File descriptors a child process must keep open to go on holding the lease."""
        ...

    def renew(self) -> None:
        """Prove on storage that the lease is still ours (the holder calls this every
        ``timing.lease_renewal``). Raises LeaseError when it is lost or the I/O fails,
        and may block as long as the storage does: call it off the thread that fences."""
        ...


class LeaseManager(Protocol):
    def acquire_host_id(self, host_id: int, hostname: str | None = None) -> Lease:
        """Claim a host id; raises LeaseHeldError if a live holder has it."""
        ...

    def host_id_holder(self, host_id: int) -> LeaseHolder | None:
        """The live holder of a host id, or None when nobody holds it."""
        ...

    def acquire_vm_lease(self, vm_id: str, host_id: int, hostname: str | None = None) -> Lease:
        """Claim the right to run the engine VM; raises LeaseHeldError if it is taken."""
        ...

    def vm_lease_holder(self, vm_id: str) -> LeaseHolder | None:
        """Who runs the engine VM right now, or None when no VM holds the lease."""
        ...

    def reinitialize(self) -> None:
        """Wipe the lockspace (``--reinitialize-lockspace``); the caller checks safety."""
        ...
