"""Bridge, free memory and CPU load, measured on this machine where that is cheap."""

from __future__ import annotations

import time
from typing import Any

import psutil
import pytest

from hosted_engine.broker.monitors import Degraded
from hosted_engine.broker.monitors.cpu_load import CpuLoadMonitor, host_cpu_times
from hosted_engine.broker.monitors.host import BridgeMonitor, MemFreeMonitor
from hosted_engine.clock import FakeClock, SystemClock
from hosted_engine.vm.base import VmStats


def test_bridge_up_on_loopback() -> None:
    assert BridgeMonitor("lo").measure() is True


def test_missing_bridge_is_false_with_the_reason() -> None:
    with pytest.raises(Degraded) as failed:
        BridgeMonitor("no-such-br0").measure()
    assert failed.value.value is False
    assert failed.value.reason == "interface no-such-br0 not found"


def test_a_down_interface_is_false() -> None:
    down = [name for name, stats in psutil.net_if_stats().items() if not stats.isup]
    if not down:
        pytest.skip("no interface is down on this machine")
    with pytest.raises(Degraded, match="is down") as failed:
        BridgeMonitor(down[0]).measure()
    assert failed.value.value is False


def test_no_bridge_configured_is_unknown_not_truthy() -> None:
    assert BridgeMonitor(None).measure() is None


def test_mem_free_is_mib_as_a_float() -> None:
    value = MemFreeMonitor().measure()
    assert isinstance(value, float)
    assert 0 < value <= psutil.virtual_memory().total / 2**20


# --- cpu-load -----------------------------------------------------------------------------


class FakeCpu:
    """Cumulative (busy, total) seconds that the test advances."""

    def __init__(self) -> None:
        self.busy = 0.0
        self.total = 0.0

    def run(self, seconds: float, busy_fraction: float) -> None:
        self.busy += seconds * busy_fraction
        self.total += seconds

    def __call__(self) -> tuple[float, float]:
        return self.busy, self.total


def cpu_monitor(backend: Any, cpu: FakeCpu, clock: FakeClock) -> CpuLoadMonitor:
    return CpuLoadMonitor(backend, clock, cpu_times=cpu, ncpu=2)


def test_the_engine_vms_share_is_subtracted(backend: Any) -> None:
    cpu, clock = FakeCpu(), FakeClock()
    monitor = cpu_monitor(backend, cpu, clock)
    backend.vm_stats = VmStats(cpu_percent=40.0, rss_bytes=0)  # 0.4 of one core of two
    cpu.run(20, 0.5)
    assert monitor.measure() == pytest.approx(0.3)
    assert monitor.last_sample == pytest.approx(0.3)


def test_the_load_is_floored_at_zero_and_without_a_vm_is_the_host_load(backend: Any) -> None:
    cpu, clock = FakeCpu(), FakeClock()
    monitor = cpu_monitor(backend, cpu, clock)
    backend.vm_stats = VmStats(cpu_percent=190.0, rss_bytes=0)
    cpu.run(20, 0.5)
    assert monitor.measure() == 0.0
    backend.vm_stats = None
    cpu.run(20, 0.5)
    clock.advance(10)
    assert monitor.measure() == pytest.approx(0.25)  # the line from 0 to 0.5
    assert monitor.last_sample == pytest.approx(0.5)


def test_the_value_is_the_average_over_the_last_15_minutes(backend: Any) -> None:
    cpu, clock = FakeCpu(), FakeClock()
    monitor = cpu_monitor(backend, cpu, clock)
    for _ in range(100):  # 1000 s fully busy
        cpu.run(10, 1.0)
        clock.advance(10)
        monitor.measure()
    for _ in range(45):  # then 450 s idle: half of the window
        cpu.run(10, 0.0)
        clock.advance(10)
        value = monitor.measure()
    assert value == pytest.approx(0.5, abs=0.02)
    for _ in range(46):
        cpu.run(10, 0.0)
        clock.advance(10)
        value = monitor.measure()
    assert value == 0.0  # the busy time has left the window


def test_a_failed_vm_query_consumes_no_interval(backend: Any) -> None:
    cpu, clock = FakeCpu(), FakeClock()
    monitor = cpu_monitor(backend, cpu, clock)
    cpu.run(10, 1.0)
    backend.error = OSError("supervisor gone")
    with pytest.raises(OSError):
        monitor.measure()
    backend.error = None
    cpu.run(10, 0.0)
    assert monitor.measure() == pytest.approx(0.5)  # both intervals in one sample


def test_no_elapsed_cpu_time_is_an_error_not_a_division_by_zero(backend: Any) -> None:
    monitor = cpu_monitor(backend, FakeCpu(), FakeClock())
    with pytest.raises(RuntimeError, match="no CPU time elapsed"):
        monitor.measure()


def test_real_host_cpu_times(backend: Any) -> None:
    monitor = CpuLoadMonitor(backend, SystemClock())
    start = host_cpu_times()
    deadline = time.monotonic() + 5
    while host_cpu_times()[1] == start[1] and time.monotonic() < deadline:
        pass  # burn CPU until the kernel's tick counters move
    value = monitor.measure()
    assert 0.0 <= value <= 1.0
    busy, total = host_cpu_times()
    assert 0 <= busy <= total
