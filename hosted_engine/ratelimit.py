"""Rate-limited log messages: a warning that repeats every period is said once per window.

The broker re-reads every slot and re-probes storage every few seconds, so a lasting
condition (a host writing a newer metadata version, a slot that does not decode, the OVF
fallback) would otherwise log the same line forever and bury everything else. Each
distinct key is logged at most once per ``interval``; the next time it is logged, the
line says how many repeats were held back in between.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

DEFAULT_INTERVAL = 300.0
MAX_KEYS = 256  # distinct keys remembered; the oldest is forgotten first


class RateLimitedLog:
    """Logs through ``logger``, once per ``interval`` seconds for each key."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = DEFAULT_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self._monotonic = monotonic
        self._max_keys = max_keys
        # key -> (monotonic time it was last logged, repeats held back since)
        self._seen: OrderedDict[Hashable, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def log(self, level: int, key: Hashable, msg: str, *args: object) -> bool:
        """Log unless ``key`` was logged less than ``interval`` ago; True when logged."""
        now = self._monotonic()
        with self._lock:
            last = self._seen.get(key)
            if last is not None and now - last[0] < self.interval:
                self._seen[key] = (last[0], last[1] + 1)
                return False
            suppressed, since = (0, 0.0) if last is None else (last[1], now - last[0])
            self._seen[key] = (now, 0)
            self._seen.move_to_end(key)
            while len(self._seen) > self._max_keys:
                self._seen.popitem(last=False)
        if suppressed:
            msg = f"{msg} (%d repeats suppressed in the last %.0f s)"
            args = (*args, suppressed, since)
        self.logger.log(level, msg, *args)
        return True

    def warning(self, key: Hashable, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, key, msg, *args)

    def forget(self, key: Hashable) -> None:
        """The condition is over: its next occurrence is news and is logged at once."""
        with self._lock:
            self._seen.pop(key, None)
