"""Repeated whiteboard scans that decode only the slots whose bytes changed.

A broker scans all 2001 slots every period. Decoding them costs several times the read,
and most slots do not change between two scans, so each slot's decoded result is kept
with the bytes it came from: scans alternate between two buffers, and a slot is decoded
again only when its 4096 bytes differ from the previous scan's (compared region by
region, halving only the regions that differ, with the C library's ``memcmp``).

Between full scans only the slots up to the highest one in use plus
:data:`SCAN_MARGIN` are read; one scan in :data:`FULL_SCAN_EVERY` (and the first one)
reads all of them. Bound: a host whose id is more than ``SCAN_MARGIN`` above every
slot in use is seen at most ``FULL_SCAN_EVERY - 1`` scans after its first write (with
the broker scanning once a publish period: within 9 periods, 45 s with the default
timings, 4.5 s with the fast ones); any host within the margin, the usual next id, at
the next scan. A host already known is never missed: its slot is below the limit.
"""

from __future__ import annotations

import ctypes
import mmap
from collections.abc import Callable, Iterator

from hosted_engine.errors import MetadataError
from hosted_engine.storage.blockio import aligned_buffer
from hosted_engine.storage.metadata import (
    MAX_HOST_ID,
    SLOT_BYTES,
    GlobalFlags,
    HostRecord,
    decode_global,
    decode_slot,
)

SLOTS = MAX_HOST_ID + 1
SCAN_BYTES = SLOTS * SLOT_BYTES
FULL_SCAN_EVERY = 10
SCAN_MARGIN = 16

_Same = Callable[[int, int], bool]  # (offset, length): equal in both buffers?


def _comparer(a: mmap.mmap, b: mmap.mmap) -> tuple[_Same, tuple[object, ...]]:
    """A region comparison of ``a`` and ``b``, and the objects that must outlive it.

    ``memcmp`` compares in place; without a usable C library, slices are compared
    (copies, slower but the same answer).
    """
    try:
        memcmp = ctypes.CDLL(None).memcmp
        memcmp.restype = ctypes.c_int
        memcmp.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
        pin_a, pin_b = ctypes.c_char.from_buffer(a), ctypes.c_char.from_buffer(b)
    except (OSError, AttributeError, TypeError):
        return (
            lambda offset, length: a[offset : offset + length] == b[offset : offset + length]
        ), ()
    base_a, base_b = ctypes.addressof(pin_a), ctypes.addressof(pin_b)

    def same(offset: int, length: int) -> bool:
        return int(memcmp(base_a + offset, base_b + offset, length)) == 0

    return same, (pin_a, pin_b)


class ScanCache:
    """The buffers and decoded slots of the previous scan; not thread-safe (the
    whiteboard serialises its scans)."""

    def __init__(self) -> None:
        self._buffers = (aligned_buffer(SCAN_BYTES), aligned_buffer(SCAN_BYTES))
        self._same, self._pins = _comparer(*self._buffers)
        self._turn = 0  # the buffer the next read goes into
        self._valid = 0  # bytes of the previous scan, in the other buffer
        self._scans = 0
        self._hosts: dict[int, HostRecord] = {}
        self._errors: dict[int, MetadataError] = {}
        self._global: tuple[GlobalFlags, list[str]] = (GlobalFlags(), [])

    def read_length(self) -> int:
        """How many bytes the next scan reads: all slots, or those up to the margin."""
        if self._scans % FULL_SCAN_EVERY == 0:
            return SCAN_BYTES
        in_use = max(max(self._hosts, default=0), max(self._errors, default=0))
        return min(SLOTS, in_use + 1 + SCAN_MARGIN) * SLOT_BYTES

    @property
    def buffer(self) -> mmap.mmap:
        """Where the next scan reads into."""
        return self._buffers[self._turn]

    def update(
        self, size: int, requested: int
    ) -> tuple[tuple[GlobalFlags, list[str]], dict[int, HostRecord], dict[int, MetadataError]]:
        """Take in the ``size`` of ``requested`` bytes just read into :attr:`buffer`;
        the decoded scan."""
        slots = -(-size // SLOT_BYTES)
        # whole slots read both times can be compared; the rest is decoded afresh
        comparable = min(size, self._valid) // SLOT_BYTES
        changed = [*self._changed(0, comparable), *range(comparable, slots)]
        if size < requested:  # the file ends here: any slot past it is gone
            for index in [i for i in (*self._hosts, *self._errors) if i >= slots]:
                self._forget(index)
        gained = False
        with memoryview(self.buffer) as view:
            for index in changed:
                end = min(size, (index + 1) * SLOT_BYTES)
                gained |= self._decode(index, view[index * SLOT_BYTES : end])
        if gained:  # keep the slot order callers print in
            self._hosts = dict(sorted(self._hosts.items()))
            self._errors = dict(sorted(self._errors.items()))
        self._valid = size
        self._turn ^= 1
        self._scans += 1
        flags, warnings = self._global
        return (flags, list(warnings)), dict(self._hosts), dict(self._errors)

    def _changed(self, start: int, end: int) -> Iterator[int]:
        """The slots in [start, end) whose bytes differ between the two buffers."""
        pending = [(start, end)] if end > start else []
        while pending:
            low, high = pending.pop()
            if self._same(low * SLOT_BYTES, (high - low) * SLOT_BYTES):
                continue
            if high - low == 1:
                yield low
                continue
            middle = (low + high) // 2
            pending.append((middle, high))
            pending.append((low, middle))

    def _forget(self, index: int) -> None:
        if index == 0:
            self._global = (GlobalFlags(), [])
        self._hosts.pop(index, None)
        self._errors.pop(index, None)

    def _decode(self, index: int, slot: memoryview) -> bool:
        """Decode one changed slot in place; True when a dict gained a key (which then
        sits out of order at its end)."""
        if len(slot) == 0 or slot[0] == 0:
            self._forget(index)
            return False
        try:
            if index == 0:
                self._global = decode_global(slot)
                self._errors.pop(0, None)
                return False
            record = decode_slot(index, slot)
        except MetadataError as e:
            self._forget(index)
            gained = index not in self._errors
            # without its traceback it does not pin the decoder's frames
            self._errors[index] = e.with_traceback(None)
            return gained
        self._errors.pop(index, None)
        gained = index not in self._hosts
        self._hosts[index] = record
        return gained
