"""Tars on shared storage: read as hostile input, replaced whole by compare-and-swap.

The configuration archive and the OVF_STORE are both tars that any host, or a broken
engine, may have written. Both are handled the same way:

* **Reading** never touches disk: every member is checked before it is read (a regular
  file with an acceptable name, so no absolute paths, ``..``, links or devices; no
  duplicates; none over the size limit; not too many) and extracted into memory only.
  The header must be plain too (:func:`_header_problem`): permission bits only (no
  setuid, setgid or sticky bit; the regular-file type bits some writers add are fine),
  an mtime between 1970 and 2106, owner numbers that a system can have (0 to 2**32-1:
  accepted but never applied, since nothing is extracted to disk and every write
  records owner 0), and a name that is UTF-8 text without control characters. After
  the end-of-archive blocks only zero bytes may follow: anything else means a writer
  did not write what we read.
* **Writing** is a compare-and-swap. Under an exclusive lock the writer checks that every
  file is still the one it read (sha256 of its bytes), writes the new tar beside it,
  fsyncs it, renames it over the old one and fsyncs the directory. A crash at any point
  leaves the old or the new file, never a mix (the reference wrote in place after an md5
  taken without a lock, D6).

The lock is a kernel-held OFD lock on a sibling file, not on the tar: every write replaces
the tar's inode, so a writer that waited for a lock on the old inode would wake up holding
a lock that nobody else checks. The kernel drops the lock when its holder dies, so a
killed writer never blocks the next one.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import math
import os
import stat
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from hosted_engine.errors import ConcurrentChangeError, StorageError
from hosted_engine.files.atomic import (
    Checkpoint,
    leftover_temps,
    no_checkpoint,
    write_atomically,
)
from hosted_engine.locking import ranges

NameCheck = Callable[[str], str | None]
"""Why a member name is not acceptable in a given tar; None when it is."""

FILE_MODE = 0o660


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class TarLimits:
    member_bytes: int
    total_bytes: int
    members: int


# --- the tar format -------------------------------------------------------------------------


MAX_MTIME = 1 << 32  # 2106-02-07, the end of unsigned 32-bit time: later is not a date
MAX_OWNER_ID = (1 << 32) - 1  # uid_t and gid_t are 32 bits
END_BLOCKS = 2 * tarfile.BLOCKSIZE  # the two zero blocks that close every tar


def _is_text(name: str) -> bool:
    """Whether a name is printable text: no NUL, newline or other control character, and
    no byte that was not UTF-8 (tarfile reads those as lone surrogates)."""
    return name.isprintable() and not any("\udc80" <= ch <= "\udcff" for ch in name)


def _header_problem(info: tarfile.TarInfo) -> str | None:
    shown = repr(info.name[:60])
    if not _is_text(info.name):
        return f"member {shown} has a name that is not UTF-8 text without control characters"
    if info.mode & ~(stat.S_IFREG | 0o777):  # Java's tar writers put S_IFREG in the field
        return f"member {shown} has mode {info.mode:o} (only permission bits are allowed)"
    mtime = info.mtime
    if not (isinstance(mtime, int | float) and math.isfinite(mtime) and 0 <= mtime < MAX_MTIME):
        return f"member {shown} has an impossible modification time {mtime!r}"
    for what, number in (("uid", info.uid), ("gid", info.gid)):
        if not (isinstance(number, int) and 0 <= number <= MAX_OWNER_ID):
            return f"member {shown} has an impossible {what} {number!r}"
    return None


def _member_problem(info: tarfile.TarInfo, limits: TarLimits, name_check: NameCheck) -> str | None:
    name = info.name
    header = _header_problem(info)
    if header is not None:
        return header
    if name.startswith("/"):
        return f"member {name!r} has an absolute path"
    if ".." in name.split("/"):
        return f"member {name!r} points outside the archive (..)"
    if info.issym() or info.islnk():
        return f"member {name!r} is a link"
    if info.ischr() or info.isblk() or info.isfifo():
        return f"member {name!r} is a device or a fifo"
    if not info.isreg() or info.issparse():
        return f"member {name!r} is not a regular file"
    problem = name_check(name)
    if problem is not None:
        return problem
    if info.size > limits.member_bytes:
        return f"member {name!r} is {info.size} bytes, more than the {limits.member_bytes} allowed"
    return None


def decode(
    data: bytes,
    source: str,
    limits: TarLimits,
    name_check: NameCheck,
    error: type[StorageError],
) -> dict[str, bytes]:
    """The members of a tar in memory, in tar order, after checking each of them."""
    if len(data) > limits.total_bytes:
        raise error(
            f"{source}: the archive is {len(data)} bytes, more than the "
            f"{limits.total_bytes} allowed"
        )
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(
            fileobj=io.BytesIO(data), mode="r:", encoding="utf-8", errors="surrogateescape"
        ) as tar:
            for info in tar:
                problem = _member_problem(info, limits, name_check)
                if problem is None and info.name in members:
                    problem = f"member {info.name!r} appears twice"
                if problem is None and len(members) >= limits.members:
                    problem = f"more than the {limits.members} members allowed"
                if problem is not None:
                    raise error(f"{source}: {problem}")
                content = tar.extractfile(info)
                assert content is not None  # a regular file always has content
                members[info.name] = content.read()
            end = tar.offset  # where the end-of-archive blocks start
    except (tarfile.TarError, EOFError, OSError, ValueError, OverflowError) as e:
        raise error(f"{source}: not a valid tar archive ({' '.join(str(e).split())})") from None
    rest = data[end:]
    if len(rest) < END_BLOCKS:
        raise error(f"{source}: the archive ends without its two zero end blocks (truncated?)")
    if rest.count(0) != len(rest):
        junk = end + len(rest) - len(rest.lstrip(b"\0"))
        raise error(f"{source}: non-zero bytes at offset {junk}, after the end of the archive")
    return members


def encode(members: Mapping[str, bytes], limits: TarLimits, error: type[StorageError]) -> bytes:
    """A POSIX tar of ``members`` in their order, each refused when over the limit."""
    buffer = io.BytesIO()
    now = int(time.time())
    with tarfile.open(
        fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT, encoding="utf-8"
    ) as tar:
        for name, data in members.items():
            if len(data) > limits.member_bytes:
                raise error(
                    f"{name} would be {len(data)} bytes, more than the "
                    f"{limits.member_bytes} allowed"
                )
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, now
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# --- files ----------------------------------------------------------------------------------


@contextlib.contextmanager
def exclusive_lock(path: Path, error: type[StorageError]) -> Iterator[None]:
    """Hold an exclusive OFD lock on ``path`` (created if needed) for the ``with`` block."""
    try:
        with ranges.exclusive_lock(path, FILE_MODE):
            yield
    except OSError as e:
        raise error(f"cannot lock {path}: {e.strerror}") from None


def _open_regular(path: Path) -> io.BufferedReader:
    """``path`` opened for reading if it is a regular file. Opened without blocking, so a
    FIFO (or a device) in the file's place is refused at once rather than waited on; a
    directory there is refused the same way."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file")
    return os.fdopen(fd, "rb")


def fingerprint(path: Path, error: type[StorageError]) -> str | None:
    """The checksum of whatever the file holds now, valid or not; None when absent."""
    digest = hashlib.sha256()
    try:
        with _open_regular(path) as f:
            for block in iter(lambda: f.read(1 << 16), b""):
                digest.update(block)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise error(f"cannot read {path}: {e.strerror}") from None
    return digest.hexdigest()


def swap(
    lock_path: Path,
    expected: Mapping[Path, str | None],
    data: bytes,
    *,
    error: type[StorageError],
    checkpoint: Checkpoint = no_checkpoint,
) -> None:
    """Write ``data`` to every file of ``expected``, in order, if each still has the
    checksum given there (None: if it does not exist); ConcurrentChangeError otherwise."""
    with exclusive_lock(lock_path, error):
        checkpoint("locked")
        if any(fingerprint(path, error) != checksum for path, checksum in expected.items()):
            raise ConcurrentChangeError()
        checkpoint("checked")
        for path in expected:
            for leftover in leftover_temps(path):  # of killed writers
                leftover.unlink(missing_ok=True)
            try:
                write_atomically(path, data, mode=FILE_MODE, checkpoint=checkpoint)
            except OSError as e:
                raise error(f"cannot write {path}: {e.strerror}") from None
        checkpoint("done")
