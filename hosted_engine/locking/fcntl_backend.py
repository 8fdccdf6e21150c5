"""Leases as kernel-held open-file-description (OFD) locks on files in the domain.

OFD locks are released by the kernel when the last descriptor of the open file goes
away, so a lease dies with its holder, whether it exits cleanly or is SIGKILLed. Unlike
classic POSIX locks they are not per-process: a descriptor inherited by a child keeps the
lease, which is how the VM supervisor hands its lease to the payload, and two descriptors
in one process do conflict, which makes single-process tests honest. Correct on local
filesystems and NFSv4.

Layout under ``<domain>/ha_agent``:
  ``hosted-engine.lockspace``  one byte per host id at offset ``host_id``;
  ``<vm_id>.vmlease``          the VM lease, byte 0, with a holder line for diagnostics.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from hosted_engine.errors import LeaseError, LeaseHeldError
from hosted_engine.files import faults
from hosted_engine.files.atomic import write_atomically
from hosted_engine.files.faults import FaultPoint
from hosted_engine.files.paths import child
from hosted_engine.locking import ranges
from hosted_engine.locking.base import LeaseHolder

_HOLDER_BYTES = 512
_RENEWAL_BYTES = 64  # after the holder record: "renewed <epoch>"
_VM_LOCK_OFFSET = 4096  # past the holder record, so reading it never contends


class FcntlLease:
    def __init__(self, name: str, fd: int) -> None:
        self._name = name
        self._fd: int | None = fd
        self._guard = threading.Lock()
        self._renewing = False
        self._orphan: int | None = None  # a released fd a hung renewal still uses

    @property
    def name(self) -> str:
        return self._name

    def release(self) -> None:
        """Drop the lock now, even while a renewal hangs on storage.

        Closing the descriptor under a hung renewal would let its number be reused, and
        the renewal's late write land in whatever file got it; so the descriptor is
        pointed at /dev/null instead (which drops our lock at once) and closed when the
        renewal returns.
        """
        with self._guard:
            fd, self._fd = self._fd, None
            if fd is None:
                return
            if not self._renewing:
                os.close(fd)  # closing our description drops the lock
                return
            null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.dup2(null, fd, inheritable=False)
            finally:
                os.close(null)
            self._orphan = fd

    def is_held(self) -> bool:
        return self._fd is not None

    def inheritable_fds(self) -> tuple[int, ...]:
        return () if self._fd is None else (self._fd,)

    def renew(self) -> None:
        """The kernel keeps the lock itself; renewing proves the storage still takes our
        writes (a stalled mount is what a lock cannot see), by rewriting the renewal
        time after the holder record."""
        with self._guard:
            fd = self._fd
            if fd is None:
                raise LeaseError(f"lease {self._name} is released")
            self._renewing = True
        stamp = f"renewed {time.time():.3f}\n".encode().ljust(_RENEWAL_BYTES, b"\0")
        try:
            faults.check(FaultPoint.LEASE_RENEWAL)
            os.pwrite(fd, stamp, _HOLDER_BYTES)
            os.fdatasync(fd)
        except OSError as e:
            raise LeaseError(f"cannot renew lease {self._name}: {e.strerror or e}") from None
        finally:
            with self._guard:
                self._renewing = False
                if self._orphan is not None:
                    os.close(self._orphan)
                    self._orphan = None

    def __del__(self) -> None:  # pragma: no cover - best effort for forgotten leases
        if self._fd is not None:
            os.close(self._fd)


class FcntlLeaseManager:
    """Host ids are byte-range locks in the lockspace file; each VM lease is a file beside it."""

    def __init__(self, lockspace: str | Path) -> None:
        self.lockspace = Path(lockspace)
        self.ha_dir = self.lockspace.parent

    # --- helpers ---------------------------------------------------------------------
    def _open(self, path: Path) -> int:
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o660)
        except OSError as e:
            raise LeaseError(f"cannot open lease file {path}: {e.strerror}") from None

    def _vm_path(self, vm_id: str) -> Path:
        if not vm_id or "/" in vm_id or vm_id.startswith("."):
            raise LeaseError(f"invalid VM id for a lease: {vm_id!r}")
        return child(self.ha_dir, f"{vm_id}.vmlease")

    @staticmethod
    def _try(fd: int, offset: int) -> bool:
        try:
            return ranges.try_lock(fd, offset, 1)
        except OSError as e:
            raise LeaseError(f"cannot lock: {e.strerror}") from None

    @staticmethod
    def _check_host_id(host_id: int) -> None:
        if not 1 <= host_id <= 2000:
            raise LeaseError(f"host id must be between 1 and 2000 (got {host_id})")

    # --- host id ---------------------------------------------------------------------
    def acquire_host_id(self, host_id: int, hostname: str | None = None) -> FcntlLease:
        self._check_host_id(host_id)
        fd = self._open(self.lockspace)
        if not self._try(fd, host_id):
            os.close(fd)
            raise LeaseHeldError(
                f"host id {host_id} is already held by a live broker "
                "(another host is configured with the same host_id, or a broker is running)",
                holder=f"host {host_id}",
            )
        return FcntlLease(f"host-id {host_id}", fd)

    def host_id_holder(self, host_id: int) -> LeaseHolder | None:
        self._check_host_id(host_id)
        if not self.lockspace.exists():
            return None
        fd = self._open(self.lockspace)
        try:
            return LeaseHolder(host_id=host_id) if ranges.is_locked(fd, host_id, 1) else None
        finally:
            os.close(fd)

    # --- VM ---------------------------------------------------------------------------
    def acquire_vm_lease(self, vm_id: str, host_id: int, hostname: str | None = None) -> FcntlLease:
        path = self._vm_path(vm_id)
        fd = self._open(path)
        if not self._try(fd, _VM_LOCK_OFFSET):
            os.close(fd)
            holder = self._read_holder(path)
            raise LeaseHeldError(
                f"the engine VM lease is held by {holder.describe() if holder else 'another host'}",
                holder=holder.describe() if holder else None,
            )
        record = f"{host_id} {os.getpid()} {hostname or '-'}\n".encode()
        os.pwrite(fd, record.ljust(_HOLDER_BYTES, b"\0"), 0)
        return FcntlLease(f"vm {vm_id}", fd)

    def _read_holder(self, path: Path) -> LeaseHolder | None:
        try:
            raw = path.read_bytes()[:_HOLDER_BYTES].split(b"\0", 1)[0].decode()
            host, pid, name = raw.split()
            return LeaseHolder(int(host), int(pid), None if name == "-" else name)
        except (OSError, ValueError, UnicodeDecodeError):
            return None

    def vm_lease_holder(self, vm_id: str) -> LeaseHolder | None:
        path = self._vm_path(vm_id)
        if not path.exists():
            return None
        fd = self._open(path)
        try:
            if not ranges.is_locked(fd, _VM_LOCK_OFFSET, 1):
                return None
        finally:
            os.close(fd)
        return self._read_holder(path) or LeaseHolder(host_id=None)

    def reinitialize(self) -> None:
        self.ha_dir.mkdir(parents=True, exist_ok=True)
        write_atomically(self.lockspace, b"", mode=0o660)
