"""How old this host's copy of the shared configuration is (seed 003).

The agent compares the age with ``config_max_age``: a host whose copy is too old may be
running with settings or a VM definition the others no longer have, so it takes the
reference's not-up-to-date-config penalty instead of winning elections.
"""

from __future__ import annotations

from collections.abc import Callable

from hosted_engine.broker.config_cache import CacheStatus
from hosted_engine.broker.monitors.base import Degraded
from hosted_engine.clock import Clock


class ConfigAgeMonitor:
    """Value: seconds since the last successful refresh; no value before the first one."""

    name = "config-age"
    initial = None

    def __init__(self, status: Callable[[], CacheStatus], clock: Clock) -> None:
        self._status = status
        self._clock = clock

    def measure(self) -> float:
        status = self._status()
        age = status.age(self._clock.monotonic())
        if age is None:
            raise RuntimeError(f"the shared configuration was never read: {status.error}")
        if status.error is not None:
            raise Degraded(age, f"the latest refresh failed: {status.error}")
        return age
