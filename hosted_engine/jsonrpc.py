"""JSON-RPC 2.0 over a Unix stream socket, one JSON document per line: the client side.

The reference spoke XML-RPC through one single-threaded server, stringified every value
and answered errors with nil (D3). Here values keep their JSON types and failures come
back as real error objects that the client raises as :class:`RpcError`. The server is
the broker's (``broker/rpc_server.py``); this module stays small because every
``hosted-engine`` command imports it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

from hosted_engine.errors import BrokerUnavailableError, RpcError

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
APPLICATION_ERROR = -32000
# The broker is there but cannot answer now: callers treat these like an absent broker
# (the CLI reads the storage domain itself, the agent backs off), never as a result.
BUSY = -32001  # too many connections or calls in flight
DEADLINE_EXCEEDED = -32002  # the call overran its deadline (e.g. a hung mount)
NOT_READY = -32003  # nothing measured yet
UNAVAILABLE_CODES = frozenset({BUSY, DEADLINE_EXCEEDED, NOT_READY})

MAX_LINE = 1 << 20
CONNECT_TIMEOUT = 2.0  # a broker whose listen queue stays full this long is not usable
INTERACTIVE_TIMEOUT = 3.0  # a whole call of an admin command: then fall back or fail

_RETRY_FIRST, _RETRY_MAX = 0.002, 0.05  # back-off between connects to a full listen queue


class RpcClient:
    """A blocking client; one connection, calls serialised by a lock.

    ``timeout`` bounds a whole call (sending and the complete answer), not each read, and
    ``connect_timeout`` bounds connecting, including the retries while the broker's listen
    queue is full (EAGAIN on a Unix socket). Every failure to get an answer raises
    :class:`BrokerUnavailableError`; an error object the broker sent raises
    :class:`RpcError`.
    """

    def __init__(
        self, path: Path, timeout: float = 30.0, connect_timeout: float = CONNECT_TIMEOUT
    ) -> None:
        self.path = path
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)
        self._sock: socket.socket | None = None
        self._buffer = bytearray()
        self._next_id = 0
        self._lock = threading.Lock()

    def _connect(self) -> socket.socket:
        deadline = time.monotonic() + self.connect_timeout
        pause = _RETRY_FIRST
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                sock.connect(str(self.path))
            except (BlockingIOError, InterruptedError) as e:
                sock.close()
                if time.monotonic() + pause >= deadline:
                    raise BrokerUnavailableError(
                        f"cannot connect to the broker at {self.path}: {e.strerror or e} "
                        f"for {self.connect_timeout:g} s"
                    ) from None
                time.sleep(pause)  # the listen queue is full: the broker is catching up
                pause = min(pause * 2, _RETRY_MAX)
                continue
            except OSError as e:
                sock.close()
                raise BrokerUnavailableError(
                    f"cannot connect to the broker at {self.path}: {e.strerror or e}"
                ) from None
            self._buffer.clear()
            return sock

    def _usable(self, sock: socket.socket) -> bool:
        """False when the broker closed our idle connection (or left bytes in it)."""
        try:
            sock.setblocking(False)  # with a timeout set, recv would wait for data first
            sock.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return True  # nothing to read: open and quiet, as it should be
        except OSError:
            return False
        return False  # end of file (b""), or a stray answer of an abandoned call

    def call(self, method: str, **params: Any) -> Any:
        with self._lock:
            if self._sock is not None and not self._usable(self._sock):
                self._close_locked()
            if self._sock is None:
                self._sock = self._connect()
            self._next_id += 1
            request = {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params}
            deadline = time.monotonic() + self.timeout
            try:
                self._send(json.dumps(request).encode() + b"\n", deadline)
                line = self._read_line(deadline)
            except (OSError, BrokerUnavailableError) as e:
                self._close_locked()
                if isinstance(e, BrokerUnavailableError):
                    raise BrokerUnavailableError(f"{e} during {method}") from None
                what = "timed out" if isinstance(e, TimeoutError) else f"failed: {e}"
                raise BrokerUnavailableError(f"broker connection {what} during {method}") from None
            return self._result(method, line)

    def _send(self, data: bytes, deadline: float) -> None:
        assert self._sock is not None
        view = memoryview(data)
        while view:
            self._sock.settimeout(_remaining(deadline))
            sent = self._sock.send(view)
            view = view[sent:]

    def _read_line(self, deadline: float) -> bytes:
        assert self._sock is not None
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                return line
            if len(self._buffer) > MAX_LINE:
                raise BrokerUnavailableError("the broker's answer is too long")
            self._sock.settimeout(_remaining(deadline))
            data = self._sock.recv(65536)
            if not data:
                raise BrokerUnavailableError("broker closed the connection")
            self._buffer += data

    def _result(self, method: str, line: bytes) -> Any:
        try:
            response = json.loads(line)
        except (ValueError, RecursionError):
            self._close_locked()
            raise BrokerUnavailableError(f"the broker's answer to {method} is not JSON") from None
        if not isinstance(response, dict) or response.get("id") != self._next_id:
            self._close_locked()
            raise BrokerUnavailableError(f"the broker's answer to {method} is not ours")
        if "error" in response:
            err = response["error"] if isinstance(response["error"], dict) else {}
            message = str(err.get("message"))
            code = err.get("code", APPLICATION_ERROR)
            code = code if isinstance(code, int) else APPLICATION_ERROR
            if code in UNAVAILABLE_CODES:
                raise BrokerUnavailableError(f"broker cannot answer {method}: {message}")
            raise RpcError(message, code)
        return response.get("result")

    def _close_locked(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._buffer.clear()

    def close(self) -> None:
        with self._lock:
            self._close_locked()


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left
