"""Real network peers for tests: a free loopback port and an SMTP sink."""

from __future__ import annotations

import queue
import socket
from typing import Any

from aiosmtpd.controller import Controller


def pick_free_port() -> int:
    """A port nobody listens on (aiosmtpd cannot be given port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpSink:
    """A real SMTP server on 127.0.0.1 that keeps what it receives."""

    def __init__(self) -> None:
        self.received: queue.Queue[Any] = queue.Queue()
        self.port = pick_free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.put(envelope)
        return "250 OK"
