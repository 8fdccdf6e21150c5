"""The broker's JSON-RPC 2.0 server: one thread per connection, real error objects.

Every connection is served by its own thread, so a slow call never blocks another client
(the reference's server was single-threaded: D3).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hosted_engine.errors import HostedEngineError
from hosted_engine.jsonrpc import (
    APPLICATION_ERROR,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    MAX_LINE,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
)

log = logging.getLogger(__name__)

Handler = Callable[..., Any]


def _error(req_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "error": {"code": code, "message": message}}


def dispatch(methods: Mapping[str, Handler], line: bytes) -> dict[str, Any] | None:
    """Answer one request line; None for a notification (a request without id)."""
    try:
        request = json.loads(line)
    except ValueError as e:
        return _error(None, PARSE_ERROR, f"parse error: {e}")
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0":
        return _error(None, INVALID_REQUEST, "invalid request: not a JSON-RPC 2.0 object")
    req_id = request.get("id")
    method = request.get("method")
    params = request.get("params", {})
    if not isinstance(method, str) or not isinstance(params, dict | list):
        return _error(req_id, INVALID_REQUEST, "invalid request: bad method or params")
    handler = methods.get(method)
    if handler is None:
        return _error(req_id, METHOD_NOT_FOUND, f"method not found: {method}")
    try:
        result = handler(**params) if isinstance(params, dict) else handler(*params)
    except TypeError as e:
        return _error(req_id, INVALID_PARAMS, f"invalid params for {method}: {e}")
    except HostedEngineError as e:
        return _error(req_id, APPLICATION_ERROR, str(e))
    except Exception as e:  # a bug: log it whole, answer with an error, keep serving
        log.exception("RPC %s failed", method)
        return _error(req_id, INTERNAL_ERROR, f"internal error in {method}: {e}")
    if "id" not in request:
        return None
    return {"jsonrpc": "2.0", "id": req_id, "result": result}


class _ConnectionHandler(socketserver.StreamRequestHandler):
    server: RpcServer

    def handle(self) -> None:
        while True:
            try:
                line = self.rfile.readline(MAX_LINE)
            except OSError:
                return
            if not line:
                return
            if not line.strip():
                continue
            response = dispatch(self.server.methods, line)
            if response is None:
                continue
            try:
                self.wfile.write(json.dumps(response).encode() + b"\n")
                self.wfile.flush()
            except OSError:
                return


class RpcServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, methods: Mapping[str, Handler]) -> None:
        self.methods = methods
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            _refuse_if_live(path)
            path.unlink()
        super().__init__(str(path), _ConnectionHandler)
        os.chmod(path, 0o660)

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="rpc", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self.path.unlink(missing_ok=True)


def _refuse_if_live(path: Path) -> None:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except OSError:
        return  # a leftover socket of a dead broker
    finally:
        probe.close()
    raise HostedEngineError(f"{path}: another broker is already listening")
