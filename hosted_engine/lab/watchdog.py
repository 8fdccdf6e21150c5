"""The hardware watchdog of one simulated host: ``python -m hosted_engine.lab.watchdog``.

A real watchdog is a timer on the board, so freezing every process of a host does not
freeze it. The lab's is a process of its own per host, outside that host's processes:
the lab never counts it as one of them (it lives under ``DIR/watchdogs``, not in the
host's directory), so ``freeze`` does not stop it and ``kill`` does not kill it. It
speaks the line protocol of :mod:`hosted_engine.locking.watchdog` on a Unix socket.

When an armed connection goes unpetted for its timeout, the host is reset: every
process of the host gets SIGKILL at once (stopped ones too), and the reset is appended
to ``DIR/watchdogs/hostN.resets`` (one JSON object per line), which is where the lab
view and the host's broker learn the time of the last reset.
"""

from __future__ import annotations

import argparse
import json
import logging
import selectors
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hosted_engine.lab import processes
from hosted_engine.lab.layout import watchdog_resets, watchdog_socket

log = logging.getLogger("hosted_engine.lab.watchdog")

_LINE_LIMIT = 128
_IDLE_WAKEUP = 1.0


@dataclass
class _Client:
    sock: socket.socket
    buffer: bytes = b""
    timeout: float | None = None  # armed when set
    deadline: float = 0.0


def last_reset(lab_dir: Path, host_id: int) -> float | None:
    """Epoch of the host's last watchdog reset, None if it never was reset."""
    try:
        lines = watchdog_resets(lab_dir, host_id).read_text().splitlines()
        return float(json.loads(lines[-1])["time"]) if lines else None
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


class LabWatchdog:
    def __init__(self, lab_dir: Path, host_id: int) -> None:
        self.lab_dir = lab_dir
        self.host_id = host_id
        self.path = watchdog_socket(lab_dir, host_id)
        self.resets = watchdog_resets(lab_dir, host_id)
        self.selector = selectors.DefaultSelector()
        self.clients: dict[int, _Client] = {}
        self.stopping = False

    def serve(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(self.path))
        server.listen(16)
        server.setblocking(False)
        self.selector.register(server, selectors.EVENT_READ)
        log.info("watchdog of host %d listening on %s", self.host_id, self.path)
        try:
            while not self.stopping:
                for key, _ in self.selector.select(self._next_wakeup()):
                    if key.fileobj is server:
                        self._accept(server)
                    else:
                        self._read(self.clients[key.fd])
                self._check_deadlines()
        finally:
            server.close()
            self.path.unlink(missing_ok=True)

    def _next_wakeup(self) -> float:
        now = time.monotonic()
        armed = [c.deadline - now for c in self.clients.values() if c.timeout is not None]
        return max(0.0, min([_IDLE_WAKEUP, *armed]))

    def _accept(self, server: socket.socket) -> None:
        try:
            sock, _ = server.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        self.clients[sock.fileno()] = _Client(sock)
        self.selector.register(sock, selectors.EVENT_READ)

    def _drop(self, client: _Client) -> None:
        self.selector.unregister(client.sock)
        del self.clients[client.sock.fileno()]
        client.sock.close()

    def _read(self, client: _Client) -> None:
        try:
            data = client.sock.recv(4096)
        except OSError:
            data = b""
        if not data:  # the holder died or closed: its VM is gone with it (module doc)
            if client.timeout is not None:
                log.info("an armed holder closed its connection: disarmed")
            self._drop(client)
            return
        client.buffer += data
        while b"\n" in client.buffer:
            line, _, client.buffer = client.buffer.partition(b"\n")
            self._answer(client, line.decode(errors="replace").strip())
        if len(client.buffer) > _LINE_LIMIT:
            self._drop(client)

    def _answer(self, client: _Client, request: str) -> None:
        word, _, argument = request.partition(" ")
        now = time.monotonic()
        reply = "ok"
        if word == "arm":
            try:
                timeout = float(argument)
                if not 0 < timeout < 86400:
                    raise ValueError
            except ValueError:
                reply = "error: arm wants a timeout in seconds"
            else:
                client.timeout, client.deadline = timeout, now + timeout
                log.info("armed, %g s", timeout)
        elif word == "pet" and client.timeout is not None:
            client.deadline = now + client.timeout
        elif word == "disarm":
            if client.timeout is not None:
                log.info("disarmed")
            client.timeout = None
        elif word == "status":
            armed = sum(c.timeout is not None for c in self.clients.values())
            last = last_reset(self.lab_dir, self.host_id)
            reply = f"ok armed={armed} last_reset={'-' if last is None else f'{last:.3f}'}"
        else:
            reply = f"error: unknown request {request[:40]!r}"
        try:
            client.sock.sendall(reply.encode() + b"\n")
        except OSError:
            self._drop(client)

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        late = [c for c in self.clients.values() if c.timeout is not None and now >= c.deadline]
        if late:
            overdue = max(now - c.deadline + (c.timeout or 0.0) for c in late)
            self.reset(f"not petted for {overdue:.1f} s")

    def reset(self, reason: str) -> None:
        """Power-cycle the host without the boot: every process of it dies at once."""
        victims = processes.every_process(self.lab_dir, self.host_id)
        log.warning("resetting host %d (%s): %d processes", self.host_id, reason, len(victims))
        processes.kill_now(victims)
        entry = {"time": time.time(), "reason": reason, "killed": len(victims)}
        with self.resets.open("a") as out:
            out.write(json.dumps(entry) + "\n")
        for client in list(self.clients.values()):
            self._drop(client)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m hosted_engine.lab.watchdog")
    p.add_argument("--lab-dir", type=Path, required=True)
    p.add_argument("--host-id", type=int, required=True)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s watchdog[host{args.host_id}] %(levelname)s %(message)s",
    )
    watchdog = LabWatchdog(args.lab_dir.resolve(), args.host_id)

    def stop(signum: int, frame: object) -> None:
        watchdog.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    watchdog.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
