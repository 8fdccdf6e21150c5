"""Network monitor: real probes on loopback, the fraction of successes, bad options."""

from __future__ import annotations

import shutil
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hosted_engine.broker.monitors import Degraded
from hosted_engine.broker.monitors.network import (
    NetworkMonitor,
    ProbeFailed,
    dns_query,
    first_nameserver,
    make_probe,
)
from hosted_engine.clock import FakeClock
from hosted_engine.errors import ConfigError


def measure(test: str, address: str | None = None, port: int | None = None) -> float:
    probe = make_probe(test, address=address, port=port, timeout=1.0)
    return NetworkMonitor(probe, 0.5, FakeClock()).measure()


def test_none_always_succeeds() -> None:
    assert NetworkMonitor.initial == 1.0
    assert measure("none") == 1.0


def test_tcp_to_a_listening_port(listening_socket: socket.socket) -> None:
    port = listening_socket.getsockname()[1]
    assert measure("tcp", address="127.0.0.1", port=port) == 1.0


def test_tcp_to_a_closed_port_scores_zero_with_the_reason(free_port: int) -> None:
    with pytest.raises(Degraded) as failed:
        measure("tcp", address="127.0.0.1", port=free_port)
    assert failed.value.value == 0.0
    assert "5 of 5 probes failed" in failed.value.reason
    assert "refused" in failed.value.reason.lower()


def test_probes_are_spaced_by_the_interval_and_partial_failure_is_a_fraction() -> None:
    clock = FakeClock(start=0.0)
    outcomes = iter([None, OSError("lost"), None, ProbeFailed("no reply"), None])
    times: list[float] = []

    def probe() -> None:
        times.append(clock.monotonic())
        error = next(outcomes)
        if error is not None:
            raise error

    with pytest.raises(Degraded) as failed:
        NetworkMonitor(probe, 0.5, clock).measure()
    assert failed.value.value == pytest.approx(0.6)
    assert failed.value.reason == "2 of 5 probes failed: no reply"
    assert times == [0.0, 0.5, 1.0, 1.5, 2.0]


@pytest.mark.skipif(shutil.which("ping") is None, reason="no ping command on this machine")
def test_ping_loopback() -> None:
    assert measure("ping", address="127.0.0.1") == 1.0


@pytest.mark.parametrize(
    ("test", "address", "port", "message"),
    [
        ("ping", None, None, "network_test=ping needs gateway="),
        ("tcp", "192.0.2.1", None, "needs tcp_t_address and tcp_t_port"),
        ("tcp", None, 80, "needs tcp_t_address and tcp_t_port"),
        ("carrier-pigeon", None, None, "network_test must be one of ping, dns, tcp, none"),
    ],
)
def test_bad_options_are_refused_at_construction(
    test: str, address: str | None, port: int | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as refused:
        make_probe(test, address=address, port=port, timeout=1.0)
    assert "\n" not in str(refused.value)


def test_ping_without_a_ping_command_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match="needs the ping command"):
        make_probe("ping", address="192.0.2.1", port=None, timeout=1)


# --- dns -------------------------------------------------------------------------------------


class DnsServer:
    """Answers each TCP DNS query with a bare response header (ID echoed unless told)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = int(self.sock.getsockname()[1])
        self.wrong_id = False
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                (length,) = struct.unpack("!H", conn.recv(2))
                query = conn.recv(length)
                (query_id,) = struct.unpack("!H", query[:2])
                answer_id = query_id ^ 1 if self.wrong_id else query_id
                answer = struct.pack("!HHHHHH", answer_id, 0x8180, 1, 0, 0, 0) + query[12:]
                conn.sendall(struct.pack("!H", len(answer)) + answer)


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.sock.shutdown(socket.SHUT_RDWR)
        server.sock.close()
        server.thread.join(5)


def test_dns_query_over_tcp(dns_server: DnsServer) -> None:
    dns_query("127.0.0.1", dns_server.port, 1.0)


def test_dns_answer_to_another_query_fails(dns_server: DnsServer) -> None:
    dns_server.wrong_id = True
    with pytest.raises(ProbeFailed, match="does not match"):
        dns_query("127.0.0.1", dns_server.port, 1.0)


def test_dns_without_a_server_fails(free_port: int) -> None:
    with pytest.raises(OSError):
        dns_query("127.0.0.1", free_port, 1.0)


def test_dns_to_a_server_that_never_answers_times_out(listening_socket: socket.socket) -> None:
    with pytest.raises(OSError, match="timed out"):
        dns_query("127.0.0.1", listening_socket.getsockname()[1], 0.2)


def test_the_resolver_comes_from_resolv_conf(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "# generated\nsearch example.com\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n"
    )
    assert first_nameserver(conf) == "192.0.2.53"
    conf.write_text("search example.com\n")
    assert first_nameserver(conf) == "127.0.0.1"
    assert first_nameserver(tmp_path / "missing") == "127.0.0.1"
