"""Storage-domain monitor: real I/O on a tmp domain (ext4 /tmp, so O_DIRECT is real)."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from hosted_engine.broker.monitors import Degraded
from hosted_engine.broker.monitors.storage_domain import StorageDomainMonitor, read_direct
from hosted_engine.clock import FakeClock, SystemClock


@pytest.fixture
def domain(tmp_path: Path) -> Path:
    domain_dir = tmp_path / "sd-uuid"
    (domain_dir / "ha_agent").mkdir(parents=True)
    (domain_dir / "ha_agent" / "hosted-engine.metadata").write_bytes(bytes(range(256)) * 64)
    return domain_dir


def monitor_for(domain: Path, limit: float = 5.0) -> StorageDomainMonitor:
    metadata = domain / "ha_agent" / "hosted-engine.metadata"
    return StorageDomainMonitor.for_domain(metadata, domain, 3, limit, SystemClock())


def failure_of(monitor: StorageDomainMonitor) -> str:
    with pytest.raises(Degraded) as failed:
        monitor.measure()
    assert failed.value.value is False
    return failed.value.reason


def test_a_healthy_domain(domain: Path) -> None:
    assert monitor_for(domain).measure() is True
    probe = domain / "dom_md" / "he-probe-host-3"
    assert len(probe.read_bytes()) == 32


def test_read_direct_reads_the_first_host_segment(domain: Path) -> None:
    metadata = domain / "ha_agent" / "hosted-engine.metadata"
    assert read_direct(metadata) == metadata.read_bytes()[:4096]


def test_a_removed_domain_fails_and_is_not_recreated(domain: Path) -> None:
    monitor = monitor_for(domain)
    assert monitor.measure() is True
    shutil.rmtree(domain)
    assert "No such file" in failure_of(monitor)
    assert not domain.exists()


def test_a_missing_metadata_volume_fails(domain: Path) -> None:
    (domain / "ha_agent" / "hosted-engine.metadata").unlink()
    assert "hosted-engine.metadata" in failure_of(monitor_for(domain))


def test_an_unwritable_probe_location_fails(domain: Path) -> None:
    (domain / "dom_md").write_text("a file where the directory should be")
    assert "dom_md" in failure_of(monitor_for(domain))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permissions")
def test_a_read_only_domain_fails(domain: Path) -> None:
    (domain / "dom_md").mkdir()
    (domain / "dom_md").chmod(0o500)
    try:
        assert "Permission denied" in failure_of(monitor_for(domain))
    finally:
        (domain / "dom_md").chmod(0o700)


def test_hung_io_fails_within_the_limit_and_does_not_pile_up() -> None:
    release = threading.Event()
    started = []

    def hang() -> None:
        started.append(1)
        release.wait(10)

    monitor = StorageDomainMonitor(hang, 0.1, SystemClock())
    try:
        assert "did not finish within 0.1s" in failure_of(monitor)
        assert "still blocked after" in failure_of(monitor)
        assert len(started) == 1
    finally:
        release.set()


def test_io_slower_than_the_limit_fails() -> None:
    clock = FakeClock()
    monitor = StorageDomainMonitor(lambda: clock.advance(3), 2.0, clock)
    assert failure_of(monitor) == "storage I/O took 3.0s (limit 2s)"


def test_recovers_once_the_hung_io_returns() -> None:
    release, finished = threading.Event(), threading.Event()
    calls = []

    def io() -> None:
        calls.append(1)
        if len(calls) == 1:
            release.wait(10)
            finished.set()

    monitor = StorageDomainMonitor(io, 0.1, SystemClock())
    failure_of(monitor)
    release.set()
    assert finished.wait(5)
    assert monitor._pending is not None
    monitor._pending.join(5)  # the I/O thread ends just after the I/O returns
    assert monitor.measure() is True
