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
from pathlib import Path
from typing import Any

from hosted_engine.errors import BrokerUnavailableError, RpcError

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
APPLICATION_ERROR = -32000

MAX_LINE = 1 << 20


class RpcClient:
    """A blocking client; one connection, calls serialised by a lock."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._file: Any = None
        self._next_id = 0
        self._lock = threading.Lock()

    def _connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.path))
        except OSError as e:
            sock.close()
            raise BrokerUnavailableError(
                f"cannot connect to the broker at {self.path}: {e.strerror or e}"
            ) from None
        self._sock = sock
        self._file = sock.makefile("rwb")

    def call(self, method: str, **params: Any) -> Any:
        with self._lock:
            if self._sock is None:
                self._connect()
            self._next_id += 1
            request = {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params}
            try:
                self._file.write(json.dumps(request).encode() + b"\n")
                self._file.flush()
                line = self._file.readline(MAX_LINE)
            except OSError as e:
                self._close_locked()
                raise BrokerUnavailableError(
                    f"broker connection failed during {method}: {e}"
                ) from None
            if not line:
                self._close_locked()
                raise BrokerUnavailableError(f"broker closed the connection during {method}")
            response = json.loads(line)
            if "error" in response:
                err = response["error"]
                raise RpcError(str(err.get("message")), int(err.get("code", APPLICATION_ERROR)))
            return response.get("result")

    def _close_locked(self) -> None:
        if self._sock is not None:
            try:
                self._file.close()
                self._sock.close()
            finally:
                self._sock = None
                self._file = None

    def close(self) -> None:
        with self._lock:
            self._close_locked()
