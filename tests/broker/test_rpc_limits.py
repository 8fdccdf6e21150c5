"""The broker's socket under abuse: idle floods, bursts, hung brokers, huge and odd lines.

Real servers on real Unix sockets; the broker is the real service and publisher on a real
metadata file where the test needs its slot to keep being written.
"""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hosted_engine.broker.publisher import StatusPublisher
from hosted_engine.broker.rpc_server import RpcServer, ServerLimits, connection_cap
from hosted_engine.broker.service import BrokerService
from hosted_engine.clock import SystemClock
from hosted_engine.config.host import HostConfig, from_values
from hosted_engine.errors import BrokerUnavailableError
from hosted_engine.jsonrpc import INVALID_REQUEST, MAX_LINE, PARSE_ERROR, RpcClient
from hosted_engine.locking import MemoryLeaseManager, MemoryLeaseStore
from hosted_engine.storage.domain import create_domain
from hosted_engine.storage.whiteboard import Whiteboard
from hosted_engine.vm.engine_status import EngineStatus


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a state of another thread that offers no event to wait on."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def host_config(tmp_path: Path, run_dir: Path) -> HostConfig:
    return from_values(
        {
            "host_id": "1",
            "sdUUID": "sd",
            "storage": str(tmp_path),
            "hostname": "h1",
            "timing_profile": "fast",
            "vmid": "vm-1",
            "run_dir": str(run_dir),
        }
    )


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Unix socket paths are limited to 108 bytes: pytest's tmp paths can be longer."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="he-rpc-") as d:
        yield Path(d)


def serve(server: RpcServer) -> threading.Thread:
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    return thread


def idle_connections(path: Path, count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(path))  # blocking: waits in the listen queue when the server pauses
        socks.append(s)
    return socks


# --- 1: idle connections ----------------------------------------------------------------------


def test_an_idle_flood_neither_exhausts_the_broker_nor_stops_its_slot(
    tmp_path: Path, short_dir: Path
) -> None:
    create_domain(tmp_path, "sd")
    config = host_config(tmp_path, short_dir)
    clock = SystemClock()
    board = Whiteboard(config.metadata_path, try_direct=False)
    leases = MemoryLeaseManager(MemoryLeaseStore())
    up = EngineStatus("up", "good", "Up")
    publisher = StatusPublisher(config, board, leases, lambda: up, clock)
    service = BrokerService(config, publisher, board, leases, dict, lambda *a: "ok", clock)
    limits = ServerLimits(max_connections=32)
    server = RpcServer(config.broker_socket, service.methods(), limits=limits)
    threads_before = threading.active_count()
    serve(server)
    publisher.start()
    flood: list[socket.socket] = []
    try:
        flood = idle_connections(config.broker_socket, 400)
        assert server.connection_count <= 32  # descriptors stay bounded by the cap
        # the workers and the I/O thread only: no thread per connection
        assert threading.active_count() <= threads_before + 2 + 2 + 2 + 1
        written = publisher.health.last_write_ok
        client = RpcClient(config.broker_socket, timeout=10)
        assert client.call("ping") == "pong"  # a newcomer is answered despite the flood
        client.close()
        wait_for(lambda: publisher.health.last_write_ok != written)  # and the slot moves on
        assert server.connection_count <= 32
    finally:
        for s in flood:
            s.close()
        publisher.stop()
        server.close()


def test_an_idle_connection_is_closed_and_the_client_reconnects(short_dir: Path) -> None:
    server = RpcServer(
        short_dir / "s", {"ping": lambda: "pong"}, limits=ServerLimits(idle_timeout=0.2)
    )
    serve(server)
    try:
        client = RpcClient(server.path, timeout=5)
        assert client.call("ping") == "pong"
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.connect(str(server.path))
        raw.settimeout(5)
        assert raw.recv(1) == b""  # closed by the server once idle
        raw.close()
        wait_for(lambda: server.connection_count == 0)
        assert client.call("ping") == "pong"  # the agent's kept connection: reconnected
        client.close()
    finally:
        server.close()


def test_the_cap_keeps_descriptors_for_storage() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, hard))
        cap = connection_cap(ServerLimits(max_connections=1000, fd_reserve=64))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert 1 <= cap <= 200 - 64


# --- 3: bursts and hung brokers ---------------------------------------------------------------


def test_200_simultaneous_calls_are_all_answered(short_dir: Path) -> None:
    server = RpcServer(short_dir / "s", {"ping": lambda: "pong"})
    serve(server)
    start = threading.Barrier(200)
    answers: list[object] = []

    def one() -> None:
        client = RpcClient(server.path, timeout=20)
        start.wait()
        try:
            answers.append(client.call("ping"))
        except BrokerUnavailableError as e:
            answers.append(str(e))
        finally:
            client.close()

    callers = [threading.Thread(target=one) for _ in range(200)]
    try:
        for t in callers:
            t.start()
        for t in callers:
            t.join(30)
    finally:
        server.close()
    assert answers == ["pong"] * 200


@pytest.fixture
def stalled_broker(short_dir: Path) -> Iterator[Path]:
    """Accepts connections and reads requests, but never answers: a hung broker."""
    path = short_dir / "hung.socket"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(8)
    stop = threading.Event()
    accepted: list[socket.socket] = []

    def run() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            for conn in accepted:
                conn.send(b" ")  # a trickle that never makes a line
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield path
    stop.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    listener.close()


def test_a_hung_broker_fails_the_call_within_its_bound(stalled_broker: Path) -> None:
    client = RpcClient(stalled_broker, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError, match="timed out during get_status"):
        client.call("get_status")
    assert time.monotonic() - started < 2.0
    client.close()


def test_a_trickling_broker_cannot_stretch_the_call(stalled_broker: Path) -> None:
    """The bound is on the whole call, not on each read: bytes without a line do not help."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(stalled_broker))
    client = RpcClient(stalled_broker, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError):
        client.call("ping")
    assert time.monotonic() - started < 2.0
    client.close()
    sock.close()


def test_a_full_listen_queue_is_retried_until_the_deadline(short_dir: Path) -> None:
    path = short_dir / "full.socket"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(0)
    fillers = []
    try:
        while True:  # fill the queue until the kernel says EAGAIN
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect(str(path))
            except BlockingIOError:
                s.close()
                break
            fillers.append(s)
        client = RpcClient(path, timeout=5, connect_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(BrokerUnavailableError, match="cannot connect"):
            client.call("ping")
        elapsed = time.monotonic() - started
        assert 0.3 < elapsed < 1.5  # retried for its connect timeout, then gave up
    finally:
        for s in fillers:
            s.close()
        listener.close()


# --- 4: lines the server cannot take ----------------------------------------------------------


def _exchange(path: Path, data: bytes) -> tuple[list[dict[str, object]], bool]:
    """Send ``data``; the answers read until the server closes (True) or goes quiet."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(path))
    sock.settimeout(5)
    sender = threading.Thread(target=lambda: _send_all(sock, data), daemon=True)
    sender.start()
    received = b""
    closed = False
    try:
        while True:
            sock.settimeout(5 if not received else 0.5)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                closed = True
                break
            received += chunk
    finally:
        sock.close()
        sender.join(5)
    return [json.loads(line) for line in received.splitlines()], closed


def _send_all(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):  # the server may close before taking everything
        sock.sendall(data)


@pytest.fixture
def echo_server(short_dir: Path) -> Iterator[RpcServer]:
    server = RpcServer(short_dir / "s", {"ping": lambda: "pong", "echo": lambda value: value})
    serve(server)
    yield server
    server.close()


def test_a_line_over_max_line_is_answered_and_the_connection_closed(
    echo_server: RpcServer,
) -> None:
    valid = b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}\n'
    answers, closed = _exchange(echo_server.path, b"x" * (MAX_LINE + 10) + b"\n" + valid)
    assert closed
    assert len(answers) == 1  # one error, not a parse error per fragment
    error = answers[0]["error"]
    assert isinstance(error, dict) and error["code"] == INVALID_REQUEST
    assert str(MAX_LINE) in str(error["message"])
    # the server itself is fine
    client = RpcClient(echo_server.path, timeout=5)
    assert client.call("ping") == "pong"
    client.close()


def test_deep_nesting_is_a_parse_error_on_the_socket(echo_server: RpcServer) -> None:
    answers, _closed = _exchange(echo_server.path, b"[" * 100000 + b"\n")
    assert len(answers) == 1
    error = answers[0]["error"]
    assert isinstance(error, dict) and error["code"] == PARSE_ERROR


def test_lines_are_answered_in_order_on_one_connection(echo_server: RpcServer) -> None:
    lines = b"".join(
        json.dumps({"jsonrpc": "2.0", "id": i, "method": "echo", "params": [i]}).encode() + b"\n"
        for i in range(50)
    )
    answers, _closed = _exchange(echo_server.path, lines + b"{bad\n")
    assert [a.get("result") for a in answers[:50]] == list(range(50))
    assert answers[50]["id"] is None and answers[50]["error"]["code"] == PARSE_ERROR  # type: ignore[index]


def test_the_broker_unit_allows_the_cap_and_the_reserve() -> None:
    unit = Path(__file__).parents[2] / "systemd" / "hosted-engine-broker.service"
    limits = [line for line in unit.read_text().splitlines() if line.startswith("LimitNOFILE=")]
    assert len(limits) == 1
    defaults = ServerLimits()
    assert int(limits[0].split("=", 1)[1]) >= 4 * (defaults.max_connections + defaults.fd_reserve)
