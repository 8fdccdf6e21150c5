"""Sector-aligned I/O on a shared file, bypassing the page cache where the filesystem allows.

Hosts on shared storage see each other only through these files, so a read must return
what the other host wrote, not a page this kernel cached a minute ago: ``O_DIRECT``
gives that on NFS and block storage. Some filesystems refuse ``O_DIRECT`` at open
(EINVAL); there we fall back to buffered I/O with an ``fsync`` after every write, which
is correct for a local directory and says so in :attr:`BlockFile.direct`.

Direct I/O needs the buffer, offset and length aligned to the sector: buffers are
anonymous mmaps (page-aligned) and offsets and lengths must be multiples of 512, in
both modes, so code that works on a local directory also works on real shared storage.
"""

from __future__ import annotations

import errno
import mmap
import os
from pathlib import Path
from types import TracebackType

from hosted_engine.errors import StorageError
from hosted_engine.files import faults
from hosted_engine.files.faults import FaultPoint

SECTOR_BYTES = 512


def aligned_buffer(length: int) -> mmap.mmap:
    """A zero-filled, page-aligned buffer of ``length`` (> 0) bytes that direct I/O accepts."""
    return mmap.mmap(-1, length)


def _check_aligned(path: Path, what: str, offset: int, length: int) -> None:
    if offset < 0 or offset % SECTOR_BYTES or length % SECTOR_BYTES:
        raise StorageError(
            f"cannot {what} {path}: offset {offset} and length {length} must be "
            f"non-negative multiples of {SECTOR_BYTES}"
        )


class BlockFile:
    """One open file description; closing it also drops any OFD lock taken on it."""

    def __init__(
        self, path: str | Path, *, writable: bool = False, try_direct: bool = True
    ) -> None:
        self._fd = -1
        self._direct = False
        self.path = Path(path)
        flags = (os.O_RDWR if writable else os.O_RDONLY) | os.O_CLOEXEC
        try:
            if try_direct:
                try:
                    self._fd = os.open(self.path, flags | os.O_DIRECT | os.O_SYNC)
                    self._direct = True
                except OSError as e:
                    if e.errno != errno.EINVAL:
                        raise
            if self._fd < 0:
                self._fd = os.open(self.path, flags)
        except OSError as e:
            raise StorageError(f"cannot open {self.path}: {e.strerror}") from None

    @property
    def direct(self) -> bool:
        """True when I/O bypasses the page cache (O_DIRECT|O_SYNC)."""
        return self._direct

    def fileno(self) -> int:
        if self._fd < 0:
            raise StorageError(f"{self.path} is closed")
        return self._fd

    def pread_into(self, offset: int, buffer: mmap.mmap, length: int | None = None) -> int:
        """Fill ``buffer`` (its first ``length`` bytes) from ``offset``; returns the bytes
        read, fewer at end of file.

        Lets a caller reuse one large aligned buffer instead of paying for a fresh mmap
        (and its page faults) on every read.
        """
        length = len(buffer) if length is None else min(length, len(buffer))
        _check_aligned(self.path, "read", offset, length)
        fd = self.fileno()
        total = 0
        with memoryview(buffer) as whole, whole[:length] as view:
            while total < len(view):
                try:
                    faults.check(FaultPoint.METADATA_READ)
                    n = os.preadv(fd, [view[total:]], offset + total)
                except OSError as e:
                    raise StorageError(
                        f"cannot read {self.path} at offset {offset + total}: {e.strerror}"
                    ) from None
                total += n
                if n == 0 or n % SECTOR_BYTES:  # end of file, possibly mid-sector
                    break
        return total

    def pread(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``offset``; shorter only at end of file."""
        _check_aligned(self.path, "read", offset, length)
        if not length:
            return b""
        with aligned_buffer(length) as buffer:
            return buffer[: self.pread_into(offset, buffer)]

    def pwrite(self, offset: int, data: bytes) -> None:
        """Write all of ``data`` at ``offset`` and make it durable before returning."""
        _check_aligned(self.path, "write", offset, len(data))
        fd = self.fileno()
        if not data:
            return
        try:
            faults.check(FaultPoint.METADATA_WRITE)
            if self._direct:
                with aligned_buffer(len(data)) as buffer:
                    buffer[:] = data
                    n = os.pwritev(fd, [buffer], offset)
            else:
                n = os.pwrite(fd, data, offset)
                os.fsync(fd)
        except OSError as e:
            raise StorageError(
                f"cannot write {self.path} at offset {offset}: {e.strerror}"
            ) from None
        if n != len(data):
            raise StorageError(
                f"cannot write {self.path} at offset {offset}: "
                f"short write ({n} of {len(data)} bytes)"
            )

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> BlockFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort for a forgotten file
        self.close()
