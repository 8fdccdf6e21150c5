"""The standby's pause ends when the VM lease is freed: real broker RPC, real kernel locks."""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hosted_engine.agent.wakeup import LeaseWatch, lease_poll_interval
from hosted_engine.broker.publisher import StatusPublisher
from hosted_engine.broker.rpc_server import RpcServer
from hosted_engine.broker.service import BrokerService
from hosted_engine.broker_contract import VmLease
from hosted_engine.clock import SystemClock
from hosted_engine.config.host import HostConfig
from hosted_engine.config.timing import PROFILES
from hosted_engine.jsonrpc import RpcClient
from hosted_engine.locking import FcntlLeaseManager
from hosted_engine.storage.whiteboard import Whiteboard

VM_ID = "11111111-2222-3333-4444-555555555555"
POLL = 0.02


@dataclass
class Rig:
    leases: FcntlLeaseManager
    client: RpcClient
    probes: int = 0
    probed: threading.Event = field(default_factory=threading.Event)

    def probe(self) -> VmLease:
        answer = VmLease.from_json(self.client.call("vm_lease"))
        self.probes += 1
        self.probed.set()
        return answer


@contextlib.contextmanager
def _serve(socket_path: Path, methods: dict[str, Callable[..., Any]]) -> Iterator[RpcClient]:
    server = RpcServer(socket_path, methods)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    client = RpcClient(socket_path, timeout=5)
    try:
        yield client
    finally:
        client.close()
        server.close()
        thread.join(timeout=5)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Unix socket paths are limited to 107 bytes; pytest's tmp dirs may be deeper."""
    with tempfile.TemporaryDirectory(prefix="he-wake-") as d:
        yield Path(d)


@pytest.fixture
def rig(short_dir: Path) -> Iterator[Rig]:
    """Host 1's broker RPC surface on a real socket; the VM lease on real storage."""
    config = HostConfig(host_id=1, sd_uuid="sd", storage=short_dir, vm_id=VM_ID)
    config.ha_dir.mkdir(parents=True)
    clock = SystemClock()
    leases = FcntlLeaseManager(config.lockspace_path)
    board = Whiteboard(config.metadata_path)
    publisher = StatusPublisher(config, board, leases, lambda: None, clock)
    service = BrokerService(config, publisher, board, leases, dict, lambda *a: "ok", clock)
    with _serve(short_dir / "broker.socket", service.methods()) as client:
        yield Rig(leases, client)


def _pause_in_thread(watch: LeaseWatch, seconds: float) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}

    def run() -> None:
        started = time.monotonic()
        result["woke"] = watch.pause(seconds, watch=True)
        result["took"] = time.monotonic() - started

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_a_standby_pause_ends_as_soon_as_the_engine_hosts_lease_is_freed(rig: Rig) -> None:
    held = rig.leases.acquire_vm_lease(VM_ID, host_id=2)  # the engine runs on host 2
    watch = LeaseWatch(rig.probe, threading.Event(), POLL, SystemClock())
    thread, result = _pause_in_thread(watch, 60.0)
    assert rig.probed.wait(5)  # it looked while the lease was held, and kept pausing
    assert thread.is_alive()
    held.release()  # what the kernel does when host 2 dies
    thread.join(10)
    assert result["woke"] is True
    assert result["took"] < 10


def test_a_held_lease_lets_the_pause_run_its_length(rig: Rig) -> None:
    held = rig.leases.acquire_vm_lease(VM_ID, host_id=2)
    try:
        watch = LeaseWatch(rig.probe, threading.Event(), POLL, SystemClock())
        started = time.monotonic()
        assert watch.pause(0.3, watch=True) is False
        assert time.monotonic() - started >= 0.3
        assert rig.probes >= 2
    finally:
        held.release()


def test_stop_ends_a_watched_pause_at_once(rig: Rig) -> None:
    held = rig.leases.acquire_vm_lease(VM_ID, host_id=2)
    try:
        stop = threading.Event()
        thread, result = _pause_in_thread(LeaseWatch(rig.probe, stop, POLL, SystemClock()), 60.0)
        assert rig.probed.wait(5)
        stop.set()
        thread.join(10)
        assert result["woke"] is False
        assert result["took"] < 10
    finally:
        held.release()


def test_an_unwatched_pause_never_asks_the_broker(rig: Rig) -> None:
    watch = LeaseWatch(rig.probe, threading.Event(), POLL, SystemClock())
    assert watch.pause(0.1, watch=False) is False
    assert rig.probes == 0


def test_an_older_broker_without_the_probe_turns_pauses_into_plain_sleeps(short_dir: Path) -> None:
    calls = 0
    with _serve(short_dir / "old.socket", {"ping": lambda: "pong"}) as client:

        def probe() -> VmLease:
            nonlocal calls
            calls += 1
            return VmLease.from_json(client.call("vm_lease"))

        watch = LeaseWatch(probe, threading.Event(), POLL, SystemClock())
        started = time.monotonic()
        assert watch.pause(0.2, watch=True) is False
        assert time.monotonic() - started >= 0.2
        assert watch.pause(0.1, watch=True) is False
        assert calls == 1  # asked once, then no more


def test_a_broker_that_is_gone_does_not_end_the_pause_early(short_dir: Path) -> None:
    client = RpcClient(short_dir / "nobody.socket", timeout=1)
    watch = LeaseWatch(
        lambda: VmLease.from_json(client.call("vm_lease")), threading.Event(), POLL, SystemClock()
    )
    started = time.monotonic()
    assert watch.pause(0.2, watch=True) is False
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize(
    ("answer", "wakes"),
    [
        (VmLease(known=True, held=False).to_json(), True),
        (VmLease(known=True, held=True, holder_host_id=2, holder_pid=7).to_json(), False),
        (VmLease(known=True, held=True).to_json(), False),  # a holder that gave no id
        (VmLease(known=False).to_json(), False),  # storage trouble is never "free"
        ({"known": True}, False),  # an answer this agent cannot read
        (None, False),
        ("free", False),
    ],
)
def test_only_a_known_free_lease_ends_the_pause(answer: Any, wakes: bool) -> None:
    watch = LeaseWatch(lambda: VmLease.from_json(answer), threading.Event(), POLL, SystemClock())
    assert watch.pause(0.05, watch=True) is wakes


def test_poll_interval_stays_cheap_in_every_profile() -> None:
    assert lease_poll_interval(PROFILES["default"].loop_period) == 0.5
    assert lease_poll_interval(PROFILES["fast"].loop_period) == 0.1
