"""Keeping an idle broker's resident memory flat.

The broker runs for months and allocates in small bursts every period (a record, a read of
every slot, a health check). The Python heap stays flat, but glibc keeps the freed pages
of those bursts, so RSS crept up by a few KB a minute. Three cheap measures: move the
objects that live for the whole run out of the collector's generations once start-up is
done (``gc.freeze``), so collections neither touch nor dirty their pages; hand free heap
pages back to the kernel once a minute (``malloc_trim``, glibc only); and tune glibc's
allocator. Its mmap threshold, left dynamic, rises to the size of every mapped block
freed, so the periodic large buffers (a read of every slot, an OVF_STORE copy) move from
their own mappings, returned whole on free, into the heap, where they fragment it: it is
fixed. And each of the broker's threads (monitors, publisher, RPC workers) would get an
arena, a heap of its own to fragment, buying nothing under the GIL: one arena serves all.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("hosted_engine.broker.memory")

TRIM_PERIOD = 60.0
# mallopt's parameter numbers (glibc's malloc.h) and the values set
M_MMAP_THRESHOLD, MMAP_THRESHOLD = -3, 128 * 1024  # glibc's starting threshold, kept
M_ARENA_MAX, ARENA_MAX = -8, 1


def _libc_function(name: str) -> Any:
    """A glibc function, or None on a C library without it (musl, macOS, ...)."""
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c")), name)
    except (OSError, AttributeError, TypeError):
        return None


def _load_trim() -> Callable[[], int] | None:
    """``malloc_trim(0)``."""
    trim = _libc_function("malloc_trim")
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: int(trim(0))


def tune_malloc() -> bool:
    """A fixed mmap threshold and one arena (glibc); True when both were set."""
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    settings = ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_ARENA_MAX, ARENA_MAX))
    return all(int(mallopt(param, value)) == 1 for param, value in settings)


class MemoryKeeper:
    """Freezes the start-up heap once, then trims free heap pages when asked."""

    def __init__(self, trim: Callable[[], int] | None = None, *, use_libc: bool = True) -> None:
        self._trim = trim if trim is not None else (_load_trim() if use_libc else None)

    @property
    def can_trim(self) -> bool:
        return self._trim is not None

    def freeze_startup(self) -> None:
        """Collect start-up garbage first, so only live objects become permanent."""
        gc.collect()
        gc.freeze()

    def trim(self) -> bool:
        """True when pages were returned to the kernel; never raises."""
        if self._trim is None:
            return False
        try:
            return self._trim() == 1
        except OSError as e:  # pragma: no cover - a libc call that fails is only logged
            log.debug("malloc_trim failed: %s", e)
            return False

    def close(self) -> None:
        """Return frozen objects to the collector, so a stopped broker frees normally."""
        gc.unfreeze()
