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
        monitor.worker.wait_free(5)
        monitor.close()


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
    try:
        failure_of(monitor)
        release.set()
        assert finished.wait(5)
        assert monitor.worker.wait_free(5)  # the worker is free just after the I/O returns
        assert monitor.measure() is True
        assert len(calls) == 2
    finally:
        monitor.close()


def test_every_probe_runs_on_one_long_lived_thread(domain: Path) -> None:
    """A thread per probe started (and glibc gave an arena to) a new thread every period."""
    threads: set[int] = set()
    metadata = domain / "ha_agent" / "hosted-engine.metadata"

    def io() -> None:
        threads.add(threading.get_ident())
        read_direct(metadata)

    monitor = StorageDomainMonitor(io, 5.0, SystemClock())
    before = threading.active_count()
    try:
        for _ in range(50):
            assert monitor.measure() is True
        assert len(threads) == 1
        assert threading.get_ident() not in threads
        assert threading.active_count() == before + 1
    finally:
        monitor.close()
    assert threading.active_count() == before  # close() ends the idle worker


def test_a_closed_monitor_probes_again_on_a_new_thread() -> None:
    """A monitor runner may be started again after a stop (which closes its monitors)."""
    threads: list[int] = []
    monitor = StorageDomainMonitor(
        lambda: threads.append(threading.get_ident()), 1.0, SystemClock()
    )
    before = threading.active_count()
    assert monitor.measure() is True
    monitor.close()
    assert threading.active_count() == before
    assert monitor.measure() is True
    monitor.close()
    assert len(threads) == 2
    assert threading.active_count() == before
