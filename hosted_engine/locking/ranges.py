"""Byte-range locks through ``fcntl``: the one place that knows ``struct flock``.

Open-file-description (OFD) locks belong to an open file, not to a process: the kernel
drops them when the last descriptor closes (also on SIGKILL), a descriptor inherited by
a child keeps them, and two descriptors in one process conflict. Classic POSIX locks
belong to a process; they are only queried here (the VM supervisor's liveness lock).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import struct
from collections.abc import Iterator
from pathlib import Path

_FLOCK = "@hhqqi4x"  # struct flock on Linux x86_64/aarch64: 32 bytes


def _request(kind: int, start: int, length: int) -> bytes:
    return struct.pack(_FLOCK, kind, os.SEEK_SET, start, length, 0)


def try_lock(fd: int, start: int = 0, length: int = 0) -> bool:
    """Take an exclusive OFD lock without waiting; False when somebody holds it.

    ``length`` 0 means to the end of the file. Other OSErrors propagate.
    """
    try:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _request(fcntl.F_WRLCK, start, length))
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def wait_lock(fd: int, start: int = 0, length: int = 0) -> None:
    """Take an exclusive OFD lock, waiting for the holder to let go."""
    fcntl.fcntl(fd, fcntl.F_OFD_SETLKW, _request(fcntl.F_WRLCK, start, length))


def is_locked(fd: int, start: int = 0, length: int = 0) -> bool:
    """Whether another open file holds a lock that would conflict with ours."""
    answer = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, _request(fcntl.F_WRLCK, start, length))
    return bool(struct.unpack(_FLOCK, answer)[0] != fcntl.F_UNLCK)


def posix_lock_holder(fd: int) -> int | None:
    """The pid holding a classic POSIX lock on the whole file, None when free."""
    answer = fcntl.fcntl(fd, fcntl.F_GETLK, _request(fcntl.F_WRLCK, 0, 0))
    kind, _, _, _, pid = struct.unpack(_FLOCK, answer)
    return None if kind == fcntl.F_UNLCK else int(pid)


@contextlib.contextmanager
def exclusive_lock(path: Path, mode: int = 0o644) -> Iterator[None]:
    """Hold an exclusive OFD lock on a lock file (created if needed) for a ``with`` block.

    OSError propagates; callers turn it into their own one-line error.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, mode)
    try:
        wait_lock(fd)
        yield
    finally:
        os.close(fd)  # closing our open file description drops the lock
