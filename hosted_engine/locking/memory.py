"""In-memory leases for unit tests, shared between "hosts" through one store."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from hosted_engine.errors import LeaseError, LeaseHeldError
from hosted_engine.locking.base import LeaseHolder


@dataclass
class MemoryLeaseStore:
    """The shared storage of the fake: what would be the lockspace on a real domain."""

    held: dict[str, LeaseHolder] = field(default_factory=dict)
    owners: dict[str, object] = field(default_factory=dict)  # which lease object holds a key
    lock: threading.Lock = field(default_factory=threading.Lock)


class MemoryLease:
    def __init__(self, store: MemoryLeaseStore, key: str) -> None:
        self._store = store
        self._key = key
        self._held = True

    @property
    def name(self) -> str:
        return self._key

    def _mine(self) -> bool:
        return (
            self._held
            and self._key in self._store.held
            and self._store.owners.get(self._key) is self
        )

    def release(self) -> None:
        with self._store.lock:
            if self._mine():
                del self._store.held[self._key]
                del self._store.owners[self._key]
            self._held = False

    def is_held(self) -> bool:
        """Ours and still ours: a lost lease stays lost even if someone re-takes it."""
        with self._store.lock:
            return self._mine()

    def inheritable_fds(self) -> tuple[int, ...]:
        return ()

    def renew(self) -> None:
        if not self.is_held():
            raise LeaseError(f"lease {self._key} is lost")

    def lose(self) -> None:
        """Simulate a lease lost to storage failure (to its holder it looks the same)."""
        self.release()


class MemoryLeaseManager:
    def __init__(self, store: MemoryLeaseStore | None = None) -> None:
        self.store = store if store is not None else MemoryLeaseStore()

    def _acquire(self, key: str, holder: LeaseHolder, what: str) -> MemoryLease:
        with self.store.lock:
            current = self.store.held.get(key)
            if current is not None:
                raise LeaseHeldError(f"{what} is held by {current.describe()}", current.describe())
            self.store.held[key] = holder
            lease = MemoryLease(self.store, key)
            self.store.owners[key] = lease
        return lease

    def acquire_host_id(self, host_id: int, hostname: str | None = None) -> MemoryLease:
        return self._acquire(
            f"host-id {host_id}", LeaseHolder(host_id, None, hostname), f"host id {host_id}"
        )

    def host_id_holder(self, host_id: int) -> LeaseHolder | None:
        with self.store.lock:
            return self.store.held.get(f"host-id {host_id}")

    def acquire_vm_lease(
        self, vm_id: str, host_id: int, hostname: str | None = None
    ) -> MemoryLease:
        return self._acquire(
            f"vm {vm_id}", LeaseHolder(host_id, None, hostname), "the engine VM lease"
        )

    def vm_lease_holder(self, vm_id: str) -> LeaseHolder | None:
        with self.store.lock:
            return self.store.held.get(f"vm {vm_id}")

    def reinitialize(self) -> None:
        with self.store.lock:
            for key in [k for k in self.store.held if k.startswith("host-id ")]:
                del self.store.held[key]
                self.store.owners.pop(key, None)
