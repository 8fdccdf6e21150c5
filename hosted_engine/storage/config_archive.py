"""The shared configuration archive: one tar on the storage domain, always replaced whole.

Members and format follow the reference (ha-anchor 5.1): a POSIX tar holding ``version``,
``fhanswers.conf``, ``hosted-engine.conf``, ``broker.conf`` and ``vm.conf``, here in the
file ``<ha_agent>/hosted-engine.configuration``. Three things are done differently:

* The reference wrote a fixed 20480-byte volume in place after an md5 taken without any
  lock (D6). Here a write is the compare-and-swap of :mod:`shared_tar`: a crash at any
  point leaves the old or the new archive, never a mix.
* No fixed size: members may grow, up to :data:`MAX_MEMBER_BYTES` each.
* The archive is not trusted: every read checks every member (:mod:`shared_tar`), and
  here also that each is one of the five, none missing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from hosted_engine.errors import ConcurrentChangeError, ConfigArchiveError
from hosted_engine.files import regular
from hosted_engine.files.atomic import Checkpoint, no_checkpoint
from hosted_engine.storage import shared_tar
from hosted_engine.storage.shared_tar import TarLimits, sha256

ARCHIVE_NAME = "hosted-engine.configuration"
VERSION = "version"
MEMBERS = (VERSION, "fhanswers.conf", "hosted-engine.conf", "broker.conf", "vm.conf")
MAX_MEMBER_BYTES = 1 << 20
# every member at its largest, plus headers and end-of-archive padding
MAX_ARCHIVE_BYTES = len(MEMBERS) * (MAX_MEMBER_BYTES + 1024) + 20480
LIMITS = TarLimits(MAX_MEMBER_BYTES, MAX_ARCHIVE_BYTES, len(MEMBERS))


@dataclass(frozen=True)
class ArchiveSnapshot:
    """What one read found: every member's bytes and the checksum of the whole archive."""

    members: Mapping[str, bytes]
    checksum: str


def _name_problem(name: str) -> str | None:
    if name not in MEMBERS:
        return f"unexpected member {name!r} (expected: {', '.join(MEMBERS)})"
    return None


def decode(data: bytes, source: str) -> dict[str, bytes]:
    """The five members of an archive in memory, after checking each of them."""
    members = shared_tar.decode(data, source, LIMITS, _name_problem, ConfigArchiveError)
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
    ordered = {name: members[name] for name in MEMBERS}
    return shared_tar.encode(ordered, LIMITS, ConfigArchiveError)


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive OFD lock on ``path`` (created if needed) for the ``with`` block."""
    with shared_tar.exclusive_lock(path, ConfigArchiveError):
        yield


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
        data = regular.read_bounded(self.path, MAX_ARCHIVE_BYTES, ConfigArchiveError)
        if data is None:
            raise ConfigArchiveError(
                f"no shared configuration archive at {self.path} (was the domain deployed?)"
            )
        return data

    def read(self) -> ArchiveSnapshot:
        data = self.read_raw()
        return ArchiveSnapshot(decode(data, str(self.path)), sha256(data))

    def fingerprint(self) -> str | None:
        """The checksum of whatever the file holds now, valid or not; None when absent."""
        return shared_tar.fingerprint(self.path, ConfigArchiveError)

    def replace(
        self,
        expected: str | None,
        members: Mapping[str, bytes],
        *,
        checkpoint: Checkpoint = no_checkpoint,
    ) -> ArchiveSnapshot:
        """Write ``members`` if the archive is still the one whose checksum is ``expected``
        (None: if there is no archive yet); raises ConcurrentChangeError otherwise."""
        data = encode(members)  # before the lock: keep the critical section short
        shared_tar.swap(
            self.lock_path,
            {self.path: expected},
            data,
            error=ConfigArchiveError,
            checkpoint=checkpoint,
        )
        return ArchiveSnapshot(dict(members), sha256(data))

    def create(self, members: Mapping[str, bytes]) -> ArchiveSnapshot:
        """The first archive of a domain; refuses to overwrite an existing one."""
        try:
            return self.replace(None, members)
        except ConcurrentChangeError:
            raise ConfigArchiveError(f"{self.path} already exists") from None
