"""Leases: who may write a metadata slot, and who may run the engine VM."""

from __future__ import annotations

from pathlib import Path

from hosted_engine.errors import ConfigError
from hosted_engine.locking.base import Lease, LeaseHolder, LeaseManager
from hosted_engine.locking.fcntl_backend import FcntlLeaseManager
from hosted_engine.locking.memory import MemoryLeaseManager, MemoryLeaseStore

LEASE_BACKENDS = ("fcntl", "sanlock")
SANLOCK_SOCKET = "sanlock.sock"  # the sanlock daemon's socket, in its run dir


def open_lease_manager(
    backend: str, lockspace: Path, *, sanlock_run_dir: Path | None = None, io_timeout: int = 10
) -> LeaseManager:
    """The lease manager ``backend`` names (sanlock is imported only when asked for)."""
    if backend == "fcntl":
        return FcntlLeaseManager(lockspace)
    if backend == "sanlock":
        from hosted_engine.locking.sanlock_backend import SanlockLeaseManager

        return SanlockLeaseManager(lockspace, io_timeout=io_timeout, run_dir=sanlock_run_dir)
    raise ConfigError(
        f"lease_backend {backend!r} is not available (known: {', '.join(LEASE_BACKENDS)})"
    )


__all__ = [
    "LEASE_BACKENDS",
    "SANLOCK_SOCKET",
    "FcntlLeaseManager",
    "Lease",
    "LeaseHolder",
    "LeaseManager",
    "MemoryLeaseManager",
    "MemoryLeaseStore",
    "open_lease_manager",
]
