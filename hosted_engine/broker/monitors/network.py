"""Network reachability: the fraction of a few probes that succeed.

A fraction, not a yes/no, so a flaky link costs part of the network penalty instead of
flipping the host between "fine" and "worst" (reference: 5 probes, 0.5 s apart).
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

from hosted_engine.broker.monitors.base import Degraded
from hosted_engine.clock import Clock
from hosted_engine.errors import ConfigError

NETWORK_TESTS = ("ping", "dns", "tcp", "none")
PROBE_COUNT = 5
RESOLV_CONF = Path("/etc/resolv.conf")

Probe = Callable[[], None]
"""Returns when the network answered; raises (OSError, ProbeFailed) with the reason."""


class ProbeFailed(OSError):
    """The peer was reached but did not answer the way a healthy network does."""


def make_probe(
    test: str,
    *,
    address: str | None,
    port: int | None,
    timeout: float,
    resolv_conf: Path = RESOLV_CONF,
) -> Probe:
    """The probe for ``network_test``; bad options are refused here, at start-up."""
    if test == "none":
        return lambda: None
    if test == "ping":
        if not address:
            raise ConfigError("network_test=ping needs gateway= (the address to ping)")
        if shutil.which("ping") is None:
            raise ConfigError(
                "network_test=ping needs the ping command; install it or choose "
                "network_test=tcp, dns or none"
            )
        return lambda: ping(address, timeout)
    if test == "tcp":
        if not address or not port:
            raise ConfigError("network_test=tcp needs tcp_t_address and tcp_t_port")
        return lambda: tcp_connect(address, port, timeout)
    if test == "dns":
        return lambda: dns_query(first_nameserver(resolv_conf), 53, timeout)
    raise ConfigError(f"network_test must be one of {', '.join(NETWORK_TESTS)} (got {test!r})")


def ping(address: str, timeout: float) -> None:
    command = ["ping", "-c", "1", "-W", str(max(1, math.ceil(timeout)))]
    if ":" in address:
        command.append("-6")
    command.append(address)
    try:
        result = subprocess.run(command, capture_output=True, timeout=timeout + 1, check=False)
    except subprocess.TimeoutExpired:
        raise ProbeFailed(f"ping {address}: no answer within {timeout:g}s") from None
    if result.returncode != 0:
        raise ProbeFailed(f"ping {address}: no reply (exit status {result.returncode})")


def tcp_connect(address: str, port: int, timeout: float) -> None:
    socket.create_connection((address, port), timeout=timeout).close()


def first_nameserver(resolv_conf: Path = RESOLV_CONF) -> str:
    """The resolver the host uses; glibc falls back to the local one when none is listed."""
    try:
        lines = resolv_conf.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            return fields[1]
    return "127.0.0.1"


def dns_query(nameserver: str, port: int, timeout: float) -> None:
    """Ask ``nameserver`` for the root's NS records over TCP, as ``dig +tcp`` did.

    A query on the wire rather than ``getaddrinfo``: the latter may be answered from
    /etc/hosts or a local cache without touching the network, and cannot be given a
    timeout (a thread left waiting on it would leak). Any well-formed answer counts,
    whatever its rcode: the question is whether the resolver is reachable.
    """
    query_id = int.from_bytes(os.urandom(2), "big")
    header = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0)  # RD, one question
    question = b"\x00" + struct.pack("!HH", 2, 1)  # root name, type NS, class IN
    message = header + question
    with socket.create_connection((nameserver, port), timeout=timeout) as conn:
        conn.sendall(struct.pack("!H", len(message)) + message)
        (length,) = struct.unpack("!H", _recv_exactly(conn, 2))
        answer = _recv_exactly(conn, length)
    if length < 12:
        raise ProbeFailed(f"dns {nameserver}: truncated answer ({length} bytes)")
    answer_id, flags = struct.unpack("!HH", answer[:4])
    if answer_id != query_id or not flags & 0x8000:
        raise ProbeFailed(f"dns {nameserver}: the answer does not match the query")


def _recv_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ProbeFailed("dns: the server closed the connection")
        data += chunk
    return data


class NetworkMonitor:
    name = "network"
    initial = 1.0

    def __init__(
        self, probe: Probe, interval: float, clock: Clock, count: int = PROBE_COUNT
    ) -> None:
        self._probe = probe
        self._interval = interval
        self._clock = clock
        self._count = count

    def measure(self) -> float:
        failures: list[str] = []
        for i in range(self._count):
            if i:
                self._clock.sleep(self._interval)
            try:
                self._probe()
            except Exception as e:
                failures.append(str(e) or type(e).__name__)
        fraction = (self._count - len(failures)) / self._count
        if failures:
            raise Degraded(
                fraction, f"{len(failures)} of {self._count} probes failed: {failures[-1]}"
            )
        return fraction
