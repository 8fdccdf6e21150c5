"""The runner: typed readings, last good value on error, prompt stop, synchronous refresh."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from hosted_engine.broker.monitors import Degraded, MonitorReading, MonitorRunner
from hosted_engine.clock import FakeClock, SystemClock
from hosted_engine.errors import UsageError


class ScriptedMonitor:
    """Returns (or raises) the scripted results in turn, then repeats the last one."""

    def __init__(self, name: str, *results: Any, initial: Any = None) -> None:
        self.name = name
        self.initial = initial
        self._results = list(results)
        self.calls = 0

    def measure(self) -> Any:
        self.calls += 1
        result = self._results.pop(0) if len(self._results) > 1 else self._results[0]
        if isinstance(result, BaseException):
            raise result
        return result


class CallbackMonitor:
    def __init__(self, name: str, measure: Callable[[], Any]) -> None:
        self.name = name
        self.initial = None
        self.measure = measure


def test_readings_start_with_the_initial_value_and_no_time() -> None:
    runner = MonitorRunner([ScriptedMonitor("network", 0.5, initial=1.0)], 10, FakeClock())
    assert runner.values() == {"network": MonitorReading(1.0, None, None)}


def test_refresh_measures_synchronously_and_keeps_the_type() -> None:
    clock = FakeClock(start=50.0)
    runner = MonitorRunner([ScriptedMonitor("bridge", False)], 10, clock)
    reading = runner.refresh("bridge")
    assert reading == MonitorReading(False, 50.0, None)
    assert reading.value is False
    assert runner.values()["bridge"] == reading


def test_an_error_keeps_the_last_good_value_and_its_time() -> None:
    clock = FakeClock(start=100.0)
    monitor = ScriptedMonitor("mem-free", 2048.0, RuntimeError("boom"), 1024.0)
    runner = MonitorRunner([monitor], 10, clock)
    runner.refresh("mem-free")
    clock.advance(10)
    assert runner.refresh("mem-free") == MonitorReading(2048.0, 100.0, "RuntimeError: boom")
    clock.advance(10)
    assert runner.refresh("mem-free") == MonitorReading(1024.0, 120.0, None)


def test_a_degraded_measurement_publishes_its_value_with_the_reason() -> None:
    clock = FakeClock(start=7.0)
    runner = MonitorRunner(
        [ScriptedMonitor("storage-domain", True, Degraded(False, "I/O error"))], 10, clock
    )
    runner.refresh("storage-domain")
    clock.advance(1)
    assert runner.refresh("storage-domain") == MonitorReading(False, 8.0, "I/O error")


def test_refresh_of_an_unknown_monitor_and_duplicate_names_are_refused() -> None:
    runner = MonitorRunner([ScriptedMonitor("a", 1)], 10, FakeClock())
    with pytest.raises(UsageError, match="unknown monitor 'b'"):
        runner.refresh("b")
    with pytest.raises(UsageError, match="duplicate monitor names: a"):
        MonitorRunner([ScriptedMonitor("a", 1), ScriptedMonitor("a", 2)], 10, FakeClock())


def test_threads_measure_periodically_until_stopped() -> None:
    counts = {"fast": 0}
    third = threading.Event()

    def measure() -> int:
        counts["fast"] += 1
        if counts["fast"] == 3:
            third.set()
        return counts["fast"]

    runner = MonitorRunner([CallbackMonitor("fast", measure)], 0.01, SystemClock())
    runner.start()
    try:
        assert third.wait(5)
    finally:
        assert runner.stop() == []
    measured = counts["fast"]
    assert runner.values()["fast"].value == measured
    assert runner.values()["fast"].measured_at is not None


def test_stop_returns_promptly_during_a_long_period() -> None:
    first = threading.Event()
    runner = MonitorRunner(
        [CallbackMonitor("slow-period", lambda: first.set())], 3600, SystemClock()
    )
    runner.start()
    assert first.wait(5)
    started = time.monotonic()
    assert runner.stop() == []
    assert time.monotonic() - started < 1


def test_stop_gives_up_on_a_measurement_stuck_in_the_kernel() -> None:
    entered, release = threading.Event(), threading.Event()

    def hang() -> None:
        entered.set()
        release.wait(10)

    runner = MonitorRunner([CallbackMonitor("hung", hang)], 10, SystemClock())
    runner.start()
    try:
        assert entered.wait(5)
        started = time.monotonic()
        assert runner.stop(timeout=0.2) == ["hung"]
        assert time.monotonic() - started < 1
    finally:
        release.set()


def test_start_twice_is_refused() -> None:
    runner = MonitorRunner([ScriptedMonitor("a", 1)], 3600, SystemClock())
    runner.start()
    try:
        with pytest.raises(UsageError):
            runner.start()
    finally:
        runner.stop()
