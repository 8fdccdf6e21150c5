"""Keeping an idle broker's resident memory flat.

The broker runs for months and allocates in small bursts every period (a record, a read of
every slot, a health check). The Python heap stays flat, but glibc keeps the freed pages
of those bursts, so RSS crept up by a few KB a minute. Two cheap measures: move the
objects that live for the whole run out of the collector's generations once start-up is
done (``gc.freeze``), so collections neither touch nor dirty their pages, and hand free
heap pages back to the kernel once a minute (``malloc_trim``, glibc only).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
from collections.abc import Callable

log = logging.getLogger("hosted_engine.broker.memory")

TRIM_PERIOD = 60.0


def _load_trim() -> Callable[[], int] | None:
    """``malloc_trim(0)`` when the C library has it (glibc); None on musl, macOS, ..."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: int(trim(0))


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
