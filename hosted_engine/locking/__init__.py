"""Leases: who may write a metadata slot, and who may run the engine VM."""

from hosted_engine.config.host import HostConfig
from hosted_engine.errors import ConfigError
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
    "lease_manager_for",
]


def lease_manager_for(config: HostConfig) -> LeaseManager:
    """The lease backend a host's configuration asks for."""
    if config.lease_backend != "fcntl":
        raise ConfigError(f"lease_backend {config.lease_backend!r} is not available (known: fcntl)")
    return FcntlLeaseManager(config.ha_dir)
