"""The metadata file as a whole: every host's slot, read in one go, and the global flags.

Each host writes only its own slot (guarded by its host-id lease, which the caller
holds); everyone reads all of them. Slot 0 is shared by every ``--set-maintenance``
caller, so its read-modify-write runs under an exclusive OFD lock on the slot's bytes:
two concurrent updates are serialised instead of one silently undoing the other (the
reference's unlocked read-modify-write, D6).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hosted_engine.errors import MetadataError, StorageError, UsageError
from hosted_engine.locking import ranges
from hosted_engine.storage.blockio import BlockFile
from hosted_engine.storage.metadata import (
    GLOBAL_KEYS,
    MAX_HOST_ID,
    SLOT_BYTES,
    GlobalFlags,
    HostRecord,
    decode_global,
    decode_slot,
    encode_global,
)
from hosted_engine.storage.scan_cache import SCAN_BYTES, ScanCache

__all__ = ["SCAN_BYTES", "Scan", "Whiteboard"]


@dataclass
class Scan:
    """What one full read found; a bad slot is reported in ``errors``, never dropped."""

    global_flags: GlobalFlags
    hosts: dict[int, HostRecord]
    errors: dict[int, MetadataError]
    global_warnings: list[str] = field(default_factory=list)


def _check_host_id(host_id: int) -> None:
    if not 1 <= host_id <= MAX_HOST_ID:
        raise UsageError(f"host id must be between 1 and {MAX_HOST_ID} (got {host_id})")


def _lock_slot0(file: BlockFile) -> None:
    """Wait for an exclusive OFD lock on slot 0; closing ``file`` releases it."""
    try:
        ranges.wait_lock(file.fileno(), 0, SLOT_BYTES)
    except OSError as e:
        raise StorageError(
            f"cannot lock the global metadata of {file.path}: {e.strerror}"
        ) from None


class Whiteboard:
    """``try_direct=False`` forces buffered I/O (tests, filesystems that lie about O_DIRECT)."""

    def __init__(self, path: Path, *, try_direct: bool = True) -> None:
        self.path = Path(path)
        self._try_direct = try_direct
        # Reusable aligned buffers (a fresh 8 MiB mmap per scan costs more in page faults
        # than the read itself) and the slots they decoded to. The lock keeps concurrent
        # scans off each other.
        self._scan_cache = ScanCache()
        self._scan_lock = threading.Lock()

    def _open(self, writable: bool = False) -> BlockFile:
        return BlockFile(self.path, writable=writable, try_direct=self._try_direct)

    # --- all slots ----------------------------------------------------------------------
    def scan(self) -> Scan:
        """Slots 0..2000 (fewer if the file is shorter), decoding only changed slots.

        Between full scans only the slots up to just past the highest one in use are
        read; :mod:`hosted_engine.storage.scan_cache` gives the bound on discovering a
        new host far beyond them.
        """
        with self._scan_lock, self._open() as file:
            cache = self._scan_cache
            length = cache.read_length()
            size = file.pread_into(0, cache.buffer, length)
            (flags, warnings), hosts, errors = cache.update(size, length)
        return Scan(flags, hosts, errors, warnings)

    # --- one host's slot ----------------------------------------------------------------
    def read_slot(self, host_id: int) -> HostRecord | None:
        """The host's record, or None when its slot is empty; a bad slot raises."""
        _check_host_id(host_id)
        with self._open() as file:
            data = file.pread(host_id * SLOT_BYTES, SLOT_BYTES)
        if not data or data[0] == 0:
            return None
        return decode_slot(host_id, data)

    def write_slot(self, host_id: int, data: bytes) -> None:
        """One aligned write of the whole slot; shorter data is NUL padded, longer refused."""
        _check_host_id(host_id)
        if len(data) > SLOT_BYTES:
            raise MetadataError(
                f"Metadata for host {host_id}: {len(data)} bytes do not fit in a "
                f"{SLOT_BYTES}-byte slot"
            )
        with self._open(writable=True) as file:
            file.pwrite(host_id * SLOT_BYTES, data.ljust(SLOT_BYTES, b"\0"))

    def clear_slot(self, host_id: int) -> None:
        """Make every host forget this one (an all-NUL slot is skipped by readers)."""
        self.write_slot(host_id, bytes(SLOT_BYTES))

    # --- slot 0 -------------------------------------------------------------------------
    def read_global(self) -> GlobalFlags:
        with self._open() as file:
            flags, _warnings = decode_global(file.pread(0, SLOT_BYTES))
        return flags

    def update_global(self, **changes: bool) -> GlobalFlags:
        """Change some global flags, keeping the others, serialised across processes."""
        unknown = sorted(set(changes) - GLOBAL_KEYS)
        if unknown:
            raise UsageError(f"unknown global metadata keys: {', '.join(unknown)}")

        def change(block: bytes) -> bytes:
            try:
                current, _warnings = decode_global(block)
            except MetadataError:
                if set(changes) != GLOBAL_KEYS:
                    raise
                current = GlobalFlags()  # every flag is being set: the old block is moot
            return encode_global(dataclasses.replace(current, **changes))

        flags, _warnings = decode_global(self._modify_global_block(change))
        return flags

    def _modify_global_block(self, change: Callable[[bytes], bytes]) -> bytes:
        """Read slot 0, write ``change(old)``, all under the slot-0 lock; returns the new block."""
        with self._open(writable=True) as file:
            _lock_slot0(file)
            new = change(file.pread(0, SLOT_BYTES))
            file.pwrite(0, new)
        return new
