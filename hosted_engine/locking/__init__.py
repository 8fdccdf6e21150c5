"""Leases: who may write a metadata slot, and who may run the engine VM."""

from hosted_engine.locking.base import Lease, LeaseHolder, LeaseManager
from hosted_engine.locking.fcntl_backend import FcntlLeaseManager
from hosted_engine.locking.memory import MemoryLeaseManager, MemoryLeaseStore

__all__ = [
    "FcntlLeaseManager",
    "Lease",
    "LeaseHolder",
    "LeaseManager",
    "MemoryLeaseManager",
    "MemoryLeaseStore",
]
