"""The lab's stand-in for the engine: the payload the ``process`` VM backend runs.

``python -m hosted_engine.lab.engine_service --listen 127.0.0.1:PORT``

It answers the health URL the way the real engine does, so liveliness checks and
failover can be watched end to end, and shows what it was started with (host id, VM id,
definition), so tests can see which host runs the VM. Each boot is appended to
``boots.log`` in the data dir, the VM's "disk" on the shared domain. Standard library
only: it is the VM, not part of the HA stack.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType

HEALTH_PATH = "/ovirt-engine/services/health"
HEALTH_BODY = "DB Up!Welcome to Health Status!"


def _definition_text() -> str:
    path = os.environ.get("HOSTED_ENGINE_VM_DEFINITION")
    if not path:
        return "{}"
    try:
        return Path(path).read_text()
    except OSError:
        return "{}"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == HEALTH_PATH:
            self._reply(200, "text/plain", HEALTH_BODY)
        elif self.path == "/definition":
            self._reply(200, "application/json", _definition_text())
        elif self.path == "/":
            page = (
                "hosted-engine lab engine\n"
                f"host id: {os.environ.get('HOSTED_ENGINE_HOST_ID', '?')}\n"
                f"vm id: {os.environ.get('HOSTED_ENGINE_VM_ID', '?')}\n"
                f"pid: {os.getpid()}\n"
                f"definition: {_definition_text()}\n"
            )
            self._reply(200, "text/plain", page)
        else:
            self._reply(404, "text/plain", "not found\n")

    def _reply(self, code: int, content_type: str, body: str) -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True  # SO_REUSEADDR: a restarted VM rebinds at once
    daemon_threads = True


def _record_boot() -> None:
    data_dir = os.environ.get("HOSTED_ENGINE_DATA_DIR")
    if not data_dir:
        return
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    host = os.environ.get("HOSTED_ENGINE_HOST_ID", "?")
    with open(Path(data_dir) / "boots.log", "a") as log:
        log.write(f"{stamp} host={host} pid={os.getpid()}\n")


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hosted_engine.lab.engine_service")
    parser.add_argument("--listen", type=_parse_listen, default=("127.0.0.1", 8080))
    address: tuple[str, int] = parser.parse_args(argv).listen
    signal.signal(signal.SIGTERM, _stop)
    try:
        server = _Server(address, _Handler)
    except OSError as e:
        print(f"engine: cannot listen on {address[0]}:{address[1]}: {e}", file=sys.stderr)
        return 1
    _record_boot()
    print(f"engine: listening on {address[0]}:{address[1]}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
