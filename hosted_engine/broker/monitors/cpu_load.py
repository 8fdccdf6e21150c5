"""CPU load left for the engine VM: host load minus what the engine VM itself uses.

The engine's own load must not push the engine away from the host running it, so the
engine's share is subtracted. The score uses a time-weighted average over 15 minutes
(reference ``load_factor``), so one busy minute does not trigger a migration.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable

import psutil

from hosted_engine.clock import Clock
from hosted_engine.vm.base import VmBackend

HISTORY_SECONDS = 900.0  # reference STATS_HISTORY_SECS

CpuTimes = Callable[[], tuple[float, float]]
"""Cumulative (busy, total) CPU seconds of the whole host."""


def host_cpu_times() -> tuple[float, float]:
    """Busy and total seconds as the reference counted them from /proc/stat.

    Guest time is already inside user time, so it is not added again; idle and iowait
    are the only not-busy states.
    """
    times = psutil.cpu_times()
    fields = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    total = sum(getattr(times, f, 0.0) for f in fields)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


def trapezoid_average(samples: Iterable[tuple[float, float | None]]) -> float | None:
    """Time-weighted average of ``(time, value)`` samples; None values are gaps.

    A gap is bridged by a straight line between its neighbours. A single sample (or
    samples all at one instant) averages to the latest value; no samples gives None.
    """
    points = sorted((t, v) for t, v in samples if v is not None)
    if not points:
        return None
    span = points[-1][0] - points[0][0]
    if span <= 0:
        return points[-1][1]
    area = sum((v0 + v1) / 2 * (t1 - t0) for (t0, v0), (t1, v1) in itertools.pairwise(points))
    return area / span


class CpuLoadMonitor:
    """Value: the 15-minute average non-engine load, 0..1; ``last_sample`` is the latest."""

    name = "cpu-load"
    initial = None

    def __init__(
        self,
        backend: VmBackend,
        clock: Clock,
        *,
        cpu_times: CpuTimes = host_cpu_times,
        ncpu: int | None = None,
        history_seconds: float = HISTORY_SECONDS,
    ) -> None:
        self._backend = backend
        self._clock = clock
        self._cpu_times = cpu_times
        self._ncpu = ncpu or psutil.cpu_count() or 1
        self._history_seconds = history_seconds
        self._history: deque[tuple[float, float]] = deque()
        self._previous = cpu_times()
        self.last_sample: float | None = None

    @property
    def samples(self) -> int:
        """Samples held for the average: bounded by the window, whatever the uptime."""
        return len(self._history)

    def measure(self) -> float:
        stats = self._backend.stats()  # first: if it raises, no CPU interval is consumed
        busy, total = self._cpu_times()
        elapsed = total - self._previous[1]
        if elapsed <= 0:
            raise RuntimeError("no CPU time elapsed since the previous sample")
        host_load = (busy - self._previous[0]) / elapsed
        self._previous = (busy, total)
        engine_load = stats.cpu_percent / self._ncpu / 100 if stats is not None else 0.0
        self.last_sample = min(1.0, max(0.0, host_load - engine_load))

        now = self._clock.monotonic()
        self._history.append((now, self.last_sample))
        while self._history[0][0] < now - self._history_seconds:
            self._history.popleft()
        average = trapezoid_average(self._history)
        assert average is not None  # the history holds at least the new sample
        return average
