"""The status publisher against a real metadata file, with fake leases and clock."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from hosted_engine.broker.liveness import Liveness
from hosted_engine.broker.publisher import AgentReport, StatusPublisher
from hosted_engine.clock import FakeClock
from hosted_engine.config.host import HostConfig, from_values
from hosted_engine.errors import LeaseHeldError
from hosted_engine.locking import MemoryLeaseManager, MemoryLeaseStore
from hosted_engine.storage.domain import create_domain
from hosted_engine.storage.whiteboard import Whiteboard
from hosted_engine.vm.engine_status import EngineStatus

UP = EngineStatus("up", "good", "Up")


def config(tmp_path: Path, host_id: int) -> HostConfig:
    return from_values(
        {
            "host_id": str(host_id),
            "sdUUID": "sd",
            "storage": str(tmp_path),
            "hostname": f"h{host_id}",
            "timing_profile": "fast",
        }
    )


@pytest.fixture
def domain(tmp_path: Path) -> Path:
    create_domain(tmp_path, "sd")
    return tmp_path


def publisher(
    tmp_path: Path,
    host_id: int,
    clock: FakeClock,
    store: MemoryLeaseStore,
    engine: Callable[[], EngineStatus] = lambda: UP,
) -> StatusPublisher:
    c = config(tmp_path, host_id)
    return StatusPublisher(c, Whiteboard(c.metadata_path), MemoryLeaseManager(store), engine, clock)


def report(clock: FakeClock, **kw: object) -> AgentReport:
    base: dict[str, object] = dict(
        state="EngineUp",
        score=3400,
        maintenance=False,
        stopped=False,
        metadata={},
        received_at=clock.monotonic(),
    )
    base.update(kw)
    return AgentReport(**base)  # type: ignore[arg-type]


def test_publishes_the_agent_report_and_sees_others_alive(domain: Path) -> None:
    clock, store = FakeClock(), MemoryLeaseStore()
    one, two = publisher(domain, 1, clock, store), publisher(domain, 2, clock, store)
    for _ in range(3):
        one.report_agent(report(clock))
        one.publish_once()
        two.publish_once()
        clock.advance(1.0)
    scan = two.scan()
    assert scan is not None and scan.hosts[1].score == 3400 and scan.hosts[1].state == "EngineUp"
    assert two.liveness_of(1, clock.monotonic()) is Liveness.ALIVE


def test_a_silent_agent_is_published_with_score_zero(domain: Path) -> None:
    clock, store = FakeClock(), MemoryLeaseStore()
    one = publisher(domain, 1, clock, store)
    one.report_agent(report(clock))
    clock.advance(one.config.timing.agent_report_timeout + 0.1)
    one.publish_once()
    record = Whiteboard(one.config.metadata_path).read_slot(1)
    assert record is not None and record.score == 0 and "agent=unresponsive" in record.extra
    assert record.engine.vm == "up"  # the broker's own measurement stays true


def test_clean_agent_stop_is_published_as_stopped(domain: Path) -> None:
    clock, store = FakeClock(), MemoryLeaseStore()
    one = publisher(domain, 1, clock, store)
    one.report_agent(report(clock, state="AgentStopped", score=0, stopped=True))
    clock.advance(100)
    one.publish_once()
    record = Whiteboard(one.config.metadata_path).read_slot(1)
    assert record is not None and record.stopped and record.state == "AgentStopped"


def test_a_duplicate_host_id_does_not_write(domain: Path) -> None:
    clock, store = FakeClock(), MemoryLeaseStore()
    first, second = publisher(domain, 1, clock, store), publisher(domain, 1, clock, store)
    first.acquire_lease()
    with pytest.raises(LeaseHeldError):
        second.acquire_lease()
    second.publish_once()
    assert Whiteboard(first.config.metadata_path).read_slot(1) is None
    assert "not writing our slot" in (second.health.last_error or "")


def test_storage_errors_are_reported_and_retried(domain: Path) -> None:
    """D14: losing the storage is an error to report and retry, never a suicide."""
    clock, store = FakeClock(), MemoryLeaseStore()
    one = publisher(domain, 1, clock, store)
    one.publish_once()
    shutil.move(domain / "sd", domain / "gone")
    one.publish_once()  # must not raise
    assert one.health.errors >= 1 and one.health.last_error
    shutil.move(domain / "gone", domain / "sd")
    clock.advance(1)
    one.publish_once()
    assert one.health.last_write_ok == clock.monotonic()


def test_downtime_runs_from_a_killed_hosts_last_write_not_its_stale_record(domain: Path) -> None:
    """A killed engine host's record says "up, good" and counts as alive for a whole alive
    timeout; another host can restart the engine within it. The gap is measured from the
    killed host's last write (this was 0 s: a failover "without downtime")."""
    clock, store = FakeClock(), MemoryLeaseStore()
    period = 0.5
    down = EngineStatus("down", "bad", "Down")
    engine_on_two = [down]
    one = publisher(domain, 1, clock, store)
    two = publisher(domain, 2, clock, store, lambda: engine_on_two[0])
    observer = publisher(domain, 3, clock, store, lambda: down)
    for _ in range(6):
        one.report_agent(report(clock))
        two.report_agent(report(clock, state="EngineDown"))
        one.publish_once()
        two.publish_once()
        observer.publish_once()
        clock.advance(period)
    last_write = clock.monotonic() - period  # host 1 is killed: it never writes again
    before = observer.engine_watch.downtime(last_write)  # the first scans, before host 1 was seen
    for _ in range(3):  # 1.5 s: host 1 still counts as alive
        two.report_agent(report(clock, state="EngineDown"))
        two.publish_once()
        observer.publish_once()
        clock.advance(period)
    assert observer.liveness_of(1, clock.monotonic()) is Liveness.ALIVE
    assert observer.engine_watch.last_up_at() == pytest.approx(last_write, abs=period)
    engine_on_two[0] = UP  # host 2 restarted the engine
    two.report_agent(report(clock))
    two.publish_once()
    observer.publish_once()
    seen_at = clock.monotonic()
    assert observer.engine_watch.failovers == 1
    gap = observer.engine_watch.downtime(seen_at) - before
    assert gap == pytest.approx(seen_at - last_write, abs=period)
