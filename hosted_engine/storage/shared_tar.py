"""Tars on shared storage: read as hostile input, replaced whole by compare-and-swap.

The configuration archive and the OVF_STORE are both tars that any host, or a broken
engine, may have written. Both are handled the same way:

* **Reading** never touches disk: every member is checked before it is read (a regular
  file with an acceptable name, so no absolute paths, ``..``, links or devices; no
  duplicates; none over the size limit; not too many) and extracted into memory only.
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
import hashlib
import io
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from hosted_engine.errors import ConcurrentChangeError, HostedEngineError, StorageError
from hosted_engine.files import regular
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


def _member_problem(info: tarfile.TarInfo, limits: TarLimits, name_check: NameCheck) -> str | None:
    name = info.name
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
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
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
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:
        raise error(f"{source}: not a valid tar archive ({e})") from None
    return members


def encode(members: Mapping[str, bytes], limits: TarLimits, error: type[StorageError]) -> bytes:
    """A POSIX tar of ``members`` in their order, each refused when over the limit."""
    buffer = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
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


def read_bounded(path: Path, limit: int, error: type[HostedEngineError]) -> bytes | None:
    """The file's bytes, None when it does not exist; refused when over ``limit`` or not
    a regular file (a FIFO planted on storage must not hang every reader)."""
    return regular.read_bounded(path, limit, error)


def fingerprint(path: Path, error: type[StorageError]) -> str | None:
    """The checksum of whatever the file holds now, valid or not; None when absent."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
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
