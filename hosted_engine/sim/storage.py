"""The simulated shared storage domain and each host's (fallible) path to it."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hosted_engine.errors import MetadataError, StorageError
from hosted_engine.locking import MemoryLeaseManager, MemoryLeaseStore
from hosted_engine.locking.base import LeaseHolder
from hosted_engine.locking.memory import MemoryLease
from hosted_engine.storage.metadata import (
    SLOT_BYTES,
    GlobalFlags,
    decode_global,
    decode_slot,
    encode_global,
)
from hosted_engine.storage.whiteboard import Scan, Whiteboard


@dataclass
class SharedStorage:
    """What every host sees through the domain: metadata slots, slot 0, the lockspace."""

    slots: dict[int, bytes] = field(default_factory=dict)
    global_block: bytes = field(default_factory=lambda: encode_global(GlobalFlags()))
    leases: MemoryLeaseStore = field(default_factory=MemoryLeaseStore)

    def set_global_maintenance(self, enabled: bool) -> None:
        """What an admin's ``--set-maintenance --mode=global`` does, from a healthy host."""
        self.global_block = encode_global(GlobalFlags(maintenance=enabled))

    def drop_vm_lease(self) -> bool:
        """The lockspace forgets the VM lease (sanlock lost it); True if one was held."""
        with self.leases.lock:
            key = next((k for k in self.leases.held if k.startswith("vm ")), None)
            if key is None:
                return False
            del self.leases.held[key]
            self.leases.owners.pop(key, None)
            return True


class StorageAccess:
    """One host's path to the storage: partitioned (every I/O fails), flaky (each I/O
    fails with probability ``flaky``) or slow (``latency`` seconds per round of I/O)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.partitioned = False
        self.flaky = 0.0
        self.latency = 0.0

    def check(self, what: str) -> None:
        if self.partitioned:
            raise StorageError(f"{what}: storage unreachable (simulated partition)")
        if self.flaky and self._rng.random() < self.flaky:
            raise StorageError(f"{what}: I/O error (simulated)")


class SimWhiteboard(Whiteboard):
    """The metadata file in memory, decoded with the real codec.

    Does not call ``Whiteboard.__init__``: there is no file, and its 8 MiB aligned read
    buffer per host would only slow the simulation down.
    """

    def __init__(self, storage: SharedStorage, access: StorageAccess) -> None:
        self._storage = storage
        self._access = access

    def scan(self) -> Scan:
        self._access.check("scan")
        flags, warnings = decode_global(self._storage.global_block)
        result = Scan(flags, {}, {}, warnings)
        for host_id, data in sorted(self._storage.slots.items()):
            try:
                result.hosts[host_id] = decode_slot(host_id, data)
            except MetadataError as e:
                result.errors[host_id] = e
        return result

    def write_slot(self, host_id: int, data: bytes) -> None:
        self._access.check(f"write slot {host_id}")
        self._storage.slots[host_id] = data.ljust(SLOT_BYTES, b"\0")

    def update_global(self, **changes: bool) -> GlobalFlags:
        self._access.check("update slot 0")
        self._storage.set_global_maintenance(bool(changes.get("maintenance")))
        return decode_global(self._storage.global_block)[0]


class SimLeases(MemoryLeaseManager):
    """The shared in-memory lockspace, reached through this host's storage path."""

    def __init__(self, store: MemoryLeaseStore, access: StorageAccess) -> None:
        super().__init__(store)
        self._access = access

    def acquire_host_id(self, host_id: int, hostname: str | None = None) -> MemoryLease:
        self._access.check("acquire the host-id lease")
        return super().acquire_host_id(host_id, hostname)

    def host_id_holder(self, host_id: int) -> LeaseHolder | None:
        self._access.check("probe the host-id lease")
        return super().host_id_holder(host_id)

    def acquire_vm_lease(
        self, vm_id: str, host_id: int, hostname: str | None = None
    ) -> MemoryLease:
        self._access.check("acquire the VM lease")
        return super().acquire_vm_lease(vm_id, host_id, hostname)

    def vm_lease_holder(self, vm_id: str) -> LeaseHolder | None:
        self._access.check("probe the VM lease")
        return super().vm_lease_holder(vm_id)
