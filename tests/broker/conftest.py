"""Shared fixtures of the broker tests: a stub VM backend and real loopback servers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hosted_engine.vm.base import ExitReason, VmState, VmStats, VmStatus
from tests.netpeers import pick_free_port

DOWN = VmStatus(VmState.DOWN, ExitReason.NOT_STARTED)


class StubBackend:
    """Answers status() and stats() with whatever the test set; raises ``error`` if set."""

    def __init__(self, status: VmStatus = DOWN, stats: VmStats | None = None) -> None:
        self.vm = status
        self.vm_stats = stats
        self.error: Exception | None = None

    def status(self) -> VmStatus:
        if self.error is not None:
            raise self.error
        return self.vm

    def stats(self) -> VmStats | None:
        if self.error is not None:
            raise self.error
        return self.vm_stats

    def start(self, definition: object) -> object:
        raise NotImplementedError

    def shutdown(self, grace: float) -> object:
        raise NotImplementedError

    def poweroff(self) -> object:
        raise NotImplementedError


@pytest.fixture
def backend() -> StubBackend:
    return StubBackend()


@pytest.fixture
def free_port() -> int:
    return pick_free_port()


@pytest.fixture
def listening_socket() -> Iterator[socket.socket]:
    """Accepts connections into its backlog and never answers: a hung server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s


class HealthServer:
    """A tiny engine health page on 127.0.0.1; ``body`` is what it answers."""

    def __init__(self) -> None:
        self.body = b"DB Up!Welcome to Health Status!"
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ovirt-engine/services/health"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )


@pytest.fixture
def health_server() -> Iterator[HealthServer]:
    server = HealthServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join(5)
