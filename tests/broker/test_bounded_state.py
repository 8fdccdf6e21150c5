"""What a broker keeps between periods stays bounded however long it runs (issue 12 §5).

An idle broker's RSS must stay flat: each structure that grows with the periods it has
seen is driven through many periods on a FakeClock and must stop growing at its bound.
"""

from __future__ import annotations

from typing import Any

from hosted_engine.broker.liveness import LivenessTracker
from hosted_engine.broker.monitors.cpu_load import CpuLoadMonitor
from hosted_engine.clock import FakeClock


class _Cpu:
    def __init__(self) -> None:
        self.busy = self.total = 0.0

    def __call__(self) -> tuple[float, float]:
        self.busy += 1.0
        self.total += 4.0
        return self.busy, self.total


class _NoVm:
    def stats(self) -> Any:
        return None


def test_the_cpu_load_history_keeps_one_window_of_samples() -> None:
    clock = FakeClock()
    monitor = CpuLoadMonitor(_NoVm(), clock, cpu_times=_Cpu(), ncpu=1, history_seconds=900)  # type: ignore[arg-type]
    sizes = []
    for period in range(5_000):  # ~7 hours of 5 s periods
        monitor.measure()
        clock.advance(5)
        if period % 500 == 499:
            sizes.append(monitor.samples)
    assert max(sizes) <= 900 / 5 + 1
    assert len(set(sizes)) == 1  # full after 15 minutes, then flat


def test_liveness_watches_only_the_slots_of_the_latest_read() -> None:
    clock = FakeClock()
    tracker = LivenessTracker(timeout=30, started_at=clock.monotonic())
    for period in range(2_000):
        # hosts come and go: a different pair of slots every period, plus host 1
        hosts = {1: period, 2 + period % 50: period, 100 + period % 7: period}
        tracker.observe(clock.monotonic(), hosts)
        clock.advance(5)
        assert tracker.watched == frozenset(hosts)
