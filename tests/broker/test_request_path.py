"""§4: the request path never blocks on storage, and never accepts what it cannot publish.

The broker is the real service, publisher and RPC server on a real socket; only the
storage is a stand-in whose reads hang on an Event, like a hung NFS mount.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hosted_engine.broker.config_cache import ConfigCache
from hosted_engine.broker.publisher import StatusPublisher
from hosted_engine.broker.rpc_server import RpcServer, ServerLimits
from hosted_engine.broker.service import BrokerService
from hosted_engine.broker_contract import VmLease
from hosted_engine.clock import FakeClock, SystemClock
from hosted_engine.config.engine_vm import SharedReader
from hosted_engine.config.host import HostConfig, from_values
from hosted_engine.errors import BrokerUnavailableError, RpcError
from hosted_engine.jsonrpc import INVALID_PARAMS, RpcClient
from hosted_engine.locking import MemoryLeaseManager, MemoryLeaseStore
from hosted_engine.locking.base import LeaseHolder
from hosted_engine.storage.domain import create_domain
from hosted_engine.storage.whiteboard import Scan, Whiteboard
from hosted_engine.vm.engine_status import EngineStatus

UP = EngineStatus("up", "good", "Up")


def host_config(storage: Path, run_dir: Path) -> HostConfig:
    return from_values(
        {
            "host_id": "1",
            "sdUUID": "sd",
            "storage": str(storage),
            "hostname": "h1",
            "timing_profile": "fast",
            "vmid": "vm-1",
            "run_dir": str(run_dir),
        }
    )


class HangingLeases(MemoryLeaseManager):
    """A lease manager whose VM lease probe blocks while ``hang`` is set."""

    def __init__(self) -> None:
        super().__init__(MemoryLeaseStore())
        self.hang = threading.Event()
        self.release = threading.Event()
        self.probes = 0

    def vm_lease_holder(self, vm_id: str) -> LeaseHolder | None:
        self.probes += 1
        if self.hang.is_set():
            self.release.wait(30)
        return super().vm_lease_holder(vm_id)


class HangingWhiteboard(Whiteboard):
    """A real metadata file whose scans and slot-0 writes block while ``hang`` is set."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, try_direct=False)
        self.hang = threading.Event()
        self.release = threading.Event()

    def scan(self) -> Scan:
        if self.hang.is_set():
            self.release.wait(30)
        return super().scan()

    def update_global(self, **changes: bool):  # type: ignore[no-untyped-def]
        if self.hang.is_set():
            self.release.wait(30)
        return super().update_global(**changes)


@dataclass
class Broker:
    config: HostConfig
    publisher: StatusPublisher
    server: RpcServer
    board: HangingWhiteboard
    leases: HangingLeases


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    create_domain(tmp_path, "sd")
    with tempfile.TemporaryDirectory(prefix="he-rp-") as run_dir:
        config = host_config(tmp_path, Path(run_dir))
        clock = SystemClock()
        board = HangingWhiteboard(config.metadata_path)
        leases = HangingLeases()
        publisher = StatusPublisher(config, board, leases, lambda: UP, clock)
        service = BrokerService(config, publisher, board, leases, dict, lambda *a: "ok", clock)
        limits = ServerLimits(deadline=0.5, blocking_deadline=0.25)
        server = RpcServer(
            config.broker_socket, service.methods(), blocking=service.BLOCKING, limits=limits
        )
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield Broker(config, publisher, server, board, leases)
        finally:
            board.release.set()
            leases.release.set()
            publisher.stop()
            server.close()
            thread.join(5)


def test_requests_are_answered_while_storage_hangs(broker: Broker) -> None:
    broker.publisher.publish_once()  # one good measurement
    client = RpcClient(broker.config.broker_socket, timeout=5)
    first = client.call("get_snapshot")
    assert (first["vm_lease"]["known"], first["vm_lease"]["held"]) == (True, False)
    assert first["vm_lease"]["age"] is not None and first["vm_lease"]["age"] >= 0
    broker.board.hang.set()
    broker.leases.hang.set()
    broker.publisher.start()  # its next scan hangs on the "mount"
    threads = threading.active_count()
    for _ in range(50):
        started = time.monotonic()
        snapshot = client.call("get_snapshot")
        status = client.call("get_status")
        health = client.call("get_health")
        assert time.monotonic() - started < 0.5
        assert snapshot["vm_lease"]["known"] is True  # the cached probe, with its age
        assert "1" in status and health["last_scan_age"] is not None
    assert snapshot["vm_lease"]["age"] > first["vm_lease"]["age"]
    assert threading.active_count() <= threads  # nothing piled up
    client.close()


def test_a_hung_storage_call_gets_a_deadline_error_and_threads_stay_bounded(
    broker: Broker,
) -> None:
    broker.publisher.publish_once()
    broker.board.hang.set()
    clients = [RpcClient(broker.config.broker_socket, timeout=5) for _ in range(6)]
    assert clients[0].call("ping") == "pong"  # the server has started its worker pools
    threads = threading.active_count()
    for client in clients:
        started = time.monotonic()
        with pytest.raises(BrokerUnavailableError, match="deadline"):
            client.call("set_global_maintenance", enabled=True)
        assert time.monotonic() - started < 2.0
    # the cached calls still answer: the storage pool is separate
    assert clients[0].call("get_status")["global_maintenance"] is False
    assert threading.active_count() <= threads
    for client in clients:
        client.close()


def test_a_stale_lease_probe_is_reported_unknown(tmp_path: Path) -> None:
    create_domain(tmp_path, "sd")
    config = host_config(tmp_path, tmp_path / "run")
    clock = FakeClock()
    board = Whiteboard(config.metadata_path, try_direct=False)
    leases = MemoryLeaseManager(MemoryLeaseStore())
    publisher = StatusPublisher(config, board, leases, lambda: UP, clock)
    service = BrokerService(config, publisher, board, leases, dict, lambda *a: "ok", clock)
    publisher.publish_once()
    clock.advance(1.0)
    assert service.snapshot().vm_lease == VmLease(known=True, held=False, age=1.0)
    # no new probe for longer than a host's alive timeout: the lease may have changed since
    clock.advance(2 * config.timing.host_alive_timeout)
    lease = service.snapshot().vm_lease
    assert not lease.known and lease.free is None
    assert lease.age is not None and lease.age > config.timing.host_alive_timeout


def test_status_before_the_first_scan_sends_the_cli_to_storage(broker: Broker) -> None:
    client = RpcClient(broker.config.broker_socket, timeout=5)
    with pytest.raises(BrokerUnavailableError, match="not read the storage domain yet"):
        client.call("get_status")
    client.close()


# --- report_state -----------------------------------------------------------------------------

BAD_REPORTS = [
    {"state": "Engine\nUp", "score": 3400, "maintenance": False},
    {"state": "EngineUp", "score": int("9" * 600), "maintenance": False},
    {"state": "EngineUp", "score": -1, "maintenance": False},
    {"state": "EngineUp", "score": True, "maintenance": False},
    {"state": "EngineUp", "score": 3400, "maintenance": "no"},
    {"state": "", "score": 3400, "maintenance": False},
    {"state": "EngineUp", "score": 3400, "maintenance": False, "metadata": {"a=b": "1"}},
    {"state": "EngineUp", "score": 3400, "maintenance": False, "metadata": {"a\nb": "1"}},
    {"state": "EngineUp", "score": 3400, "maintenance": False, "metadata": {"k": "v\nw"}},
    {"state": "EngineUp", "score": 3400, "maintenance": False, "metadata": {"k": ["v\nw"]}},
    {"state": "EngineUp", "score": 3400, "maintenance": False, "metadata": {"k": "\0"}},
    {"state": "EngineUp", "score": 3400, "maintenance": False, "metadata": ["k"]},
    {"state": 7, "score": 3400, "maintenance": False},
]


def test_reports_that_cannot_be_published_are_refused(broker: Broker) -> None:
    client = RpcClient(broker.config.broker_socket, timeout=5)
    good = {"state": "EngineUp", "score": 3400, "maintenance": False, "metadata": {"k": 1}}
    assert client.call("report_state", **good) == "ok"
    broker.publisher.publish_once()
    for bad in BAD_REPORTS:
        with pytest.raises(RpcError) as raised:
            client.call("report_state", **bad)
        assert raised.value.code == INVALID_PARAMS, bad
        assert "\n" not in str(raised.value)
    broker.publisher.publish_once()  # still publishing the last good report
    assert broker.publisher.health.errors == 0
    record = Whiteboard(broker.config.metadata_path).read_slot(1)
    assert record is not None and record.score == 3400 and record.state == "EngineUp"
    assert "k=1" in record.extra
    client.close()


# --- the configuration cache ------------------------------------------------------------------


class HangingArchive:
    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def read(self) -> object:
        self.entered.set()
        self.release.wait(30)
        raise BrokerUnavailableError("gone")  # any HostedEngineError: a failed refresh


def test_the_config_cache_status_does_not_wait_for_a_refresh() -> None:
    archive = HangingArchive()
    reader = SharedReader(archive, None, None, lambda s: {})  # type: ignore[arg-type]
    cache = ConfigCache(reader, {}, FakeClock())
    refresher = threading.Thread(target=cache.refresh, daemon=True)
    refresher.start()
    try:
        assert archive.entered.wait(5)
        started = time.monotonic()
        cache.status()  # get_health and every slot write read this
        assert time.monotonic() - started < 0.5
    finally:
        archive.release.set()
        refresher.join(5)


# --- rate-limited warnings --------------------------------------------------------------------


def test_a_bad_slot_is_warned_about_once_per_window(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    create_domain(tmp_path, "sd")
    config = host_config(tmp_path, tmp_path / "run")
    clock = FakeClock()
    board = Whiteboard(config.metadata_path, try_direct=False)
    publisher = StatusPublisher(
        config, board, MemoryLeaseManager(MemoryLeaseStore()), lambda: UP, clock
    )
    board.write_slot(3, b"7|" + bytes(600))  # a host with a newer metadata version
    caplog.set_level(logging.WARNING, logger="hosted_engine.broker.publisher")
    for _ in range(30):
        publisher.publish_once()
        clock.advance(config.timing.publish_period)
    skipped = [r.getMessage() for r in caplog.records if "slot 3 skipped" in r.getMessage()]
    assert len(skipped) == 1
    clock.advance(300)
    publisher.publish_once()
    skipped = [r.getMessage() for r in caplog.records if "slot 3 skipped" in r.getMessage()]
    assert len(skipped) == 2 and "29 repeats suppressed" in skipped[1]
