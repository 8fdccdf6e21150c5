"""The shared configuration archive: one tar on the storage domain, always replaced whole.

Members and format follow the reference (ha-anchor 5.1): a POSIX tar holding ``version``,
``fhanswers.conf``, ``hosted-engine.conf``, ``broker.conf`` and ``vm.conf``, here in the
file ``<ha_agent>/hosted-engine.configuration``. Three things are done differently:

* The reference wrote a fixed 20480-byte volume in place after an md5 taken without any
  lock, so two writers could both "win" and a crash in the middle of ``dd`` left a torn
  archive (D6). Here a write is a compare-and-swap: under an exclusive lock the writer
  checks that the archive is still the one it read (sha256 of its bytes), writes the new
  archive beside it, fsyncs it, renames it over the old one and fsyncs the directory. A
  crash at any point leaves the old or the new archive, never a mix.
* No fixed size: members may grow, up to :data:`MAX_MEMBER_BYTES` each.
* The archive is not trusted. Every read checks every member (a regular file named as one
  of the five, so no paths, ``..``, links or devices; no duplicates, none missing, none
  oversize) and extracts only into memory.

The lock is a kernel-held OFD lock on a sibling file, not on the archive: every write
replaces the archive's inode, so a writer that waited for a lock on the old inode would
wake up holding a lock that nobody else checks. The kernel drops the lock when its holder
dies, so a killed writer never blocks the next one.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from hosted_engine.errors import ConcurrentChangeError, ConfigArchiveError
from hosted_engine.locking import ranges

ARCHIVE_NAME = "hosted-engine.configuration"
VERSION = "version"
MEMBERS = (VERSION, "fhanswers.conf", "hosted-engine.conf", "broker.conf", "vm.conf")
MAX_MEMBER_BYTES = 1 << 20
# every member at its largest, plus headers and end-of-archive padding
MAX_ARCHIVE_BYTES = len(MEMBERS) * (MAX_MEMBER_BYTES + 1024) + 20480
_FILE_MODE = 0o660

Checkpoint = Callable[[str], None]
"""Called between the steps of a write, with the step just done; tests kill writers there."""


def _no_checkpoint(step: str) -> None:
    pass


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ArchiveSnapshot:
    """What one read found: every member's bytes and the checksum of the whole archive."""

    members: Mapping[str, bytes]
    checksum: str


# --- the tar format -------------------------------------------------------------------------


def _member_problem(info: tarfile.TarInfo) -> str | None:
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
    if name not in MEMBERS:
        return f"unexpected member {name!r} (expected: {', '.join(MEMBERS)})"
    if info.size > MAX_MEMBER_BYTES:
        return f"member {name!r} is {info.size} bytes, more than the {MAX_MEMBER_BYTES} allowed"
    return None


def decode(data: bytes, source: str) -> dict[str, bytes]:
    """The members of a tar in memory, after checking each of them; never touches disk."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise ConfigArchiveError(
            f"{source}: the archive is {len(data)} bytes, more than the {MAX_ARCHIVE_BYTES} allowed"
        )
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for info in tar:
                problem = _member_problem(info)
                if problem is None and info.name in members:
                    problem = f"member {info.name!r} appears twice"
                if problem is not None:
                    raise ConfigArchiveError(f"{source}: {problem}")
                content = tar.extractfile(info)
                assert content is not None  # a regular file always has content
                members[info.name] = content.read()
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:
        raise ConfigArchiveError(f"{source}: not a valid tar archive ({e})") from None
    missing = [name for name in MEMBERS if name not in members]
    if missing:
        raise ConfigArchiveError(f"{source}: members missing: {', '.join(missing)}")
    return members


def encode(members: Mapping[str, bytes]) -> bytes:
    """A POSIX tar of exactly the five members, in the reference's order."""
    if sorted(members) != sorted(MEMBERS):
        raise ConfigArchiveError(
            f"a configuration archive holds exactly {', '.join(MEMBERS)} "
            f"(got {', '.join(sorted(members))})"
        )
    buffer = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in MEMBERS:
            data = members[name]
            if len(data) > MAX_MEMBER_BYTES:
                raise ConfigArchiveError(
                    f"{name} would be {len(data)} bytes, more than the {MAX_MEMBER_BYTES} allowed"
                )
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, now
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# --- files ----------------------------------------------------------------------------------


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive OFD lock on ``path`` (created if needed) for the ``with`` block."""
    try:
        with ranges.exclusive_lock(path, _FILE_MODE):
            yield
    except OSError as e:
        raise ConfigArchiveError(f"cannot lock {path}: {e.strerror}") from None


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(
    path: Path, data: bytes, *, mode: int = 0o644, checkpoint: Checkpoint = _no_checkpoint
) -> None:
    """Replace ``path`` with ``data`` whole or not at all, durably (temp, fsync, rename)."""
    tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            checkpoint("written")
            os.fsync(fd)
        finally:
            os.close(fd)
        checkpoint("synced")
        os.replace(tmp, path)
        checkpoint("renamed")
        _fsync_directory(path.parent)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ConfigArchiveError(f"cannot write {path}: {e.strerror}") from None


class ConfigArchive:
    """The archive file of one storage domain; readers never lock, writers compare-and-swap."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    @classmethod
    def in_domain(cls, ha_dir: Path) -> ConfigArchive:
        return cls(Path(ha_dir) / ARCHIVE_NAME)

    def read_raw(self) -> bytes:
        """The archive's bytes, unchecked (but never more than the size limit)."""
        try:
            with self.path.open("rb") as f:
                data = f.read(MAX_ARCHIVE_BYTES + 1)
        except FileNotFoundError:
            raise ConfigArchiveError(
                f"no shared configuration archive at {self.path} (was the domain deployed?)"
            ) from None
        except OSError as e:
            raise ConfigArchiveError(f"cannot read {self.path}: {e.strerror}") from None
        if len(data) > MAX_ARCHIVE_BYTES:
            raise ConfigArchiveError(
                f"{self.path} is more than the {MAX_ARCHIVE_BYTES} bytes an archive may have"
            )
        return data

    def read(self) -> ArchiveSnapshot:
        data = self.read_raw()
        return ArchiveSnapshot(decode(data, str(self.path)), sha256(data))

    def fingerprint(self) -> str | None:
        """The checksum of whatever the file holds now, valid or not; None when absent."""
        digest = hashlib.sha256()
        try:
            with self.path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 16), b""):
                    digest.update(block)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ConfigArchiveError(f"cannot read {self.path}: {e.strerror}") from None
        return digest.hexdigest()

    def replace(
        self,
        expected: str | None,
        members: Mapping[str, bytes],
        *,
        checkpoint: Checkpoint = _no_checkpoint,
    ) -> ArchiveSnapshot:
        """Write ``members`` if the archive is still the one whose checksum is ``expected``
        (None: if there is no archive yet); raises ConcurrentChangeError otherwise."""
        data = encode(members)  # before the lock: keep the critical section short
        with exclusive_lock(self.lock_path):
            checkpoint("locked")
            if self.fingerprint() != expected:
                raise ConcurrentChangeError()
            checkpoint("checked")
            self._remove_leftovers()
            write_atomically(self.path, data, mode=_FILE_MODE, checkpoint=checkpoint)
            checkpoint("done")
        return ArchiveSnapshot(dict(members), sha256(data))

    def create(self, members: Mapping[str, bytes]) -> ArchiveSnapshot:
        """The first archive of a domain; refuses to overwrite an existing one."""
        try:
            return self.replace(None, members)
        except ConcurrentChangeError:
            raise ConfigArchiveError(f"{self.path} already exists") from None

    def _remove_leftovers(self) -> None:
        """Temp files of writers killed mid-write (only called under the lock)."""
        for leftover in self.path.parent.glob(f"{self.path.name}.tmp.*"):
            leftover.unlink(missing_ok=True)
