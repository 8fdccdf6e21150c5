"""``hosted-engine-hostd``: the host API over HTTPS with mutual TLS, on uvicorn.

Only clients with a certificate of the cluster CA complete the handshake (uvicorn is
given ``CERT_REQUIRED`` and the CA alone), so no request of anyone else is ever parsed.
One log line per request: method, path, status and the client certificate's CN.
SIGHUP reloads this host's certificate and key (after a rotation) without a restart.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from hosted_engine.client import HAClient
from hosted_engine.errors import HostedEngineError
from hosted_engine.hostd.app import make_app
from hosted_engine.pki import server_context

log = logging.getLogger("hosted_engine.hostd")
DEFAULT_PORT = 54323  # beside VDSM's 54321, the port oVirt's engine talks to a host on
# the peer certificate's CN of each open connection, by the client's (address, port)
_PEERS: dict[tuple[str, int], str] = {}


def _common_name(cert: dict[str, Any] | None) -> str:
    for rdn in (cert or {}).get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return str(value)
    return "-"


class PeerRecordingProtocol(H11Protocol):
    """uvicorn's h11 protocol, remembering who is at the other end of each connection
    (an ASGI scope carries the client's address, not its certificate)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        peer = transport.get_extra_info("peername")
        if ssl_object is not None and isinstance(peer, tuple):
            self._peer_key = (str(peer[0]), int(peer[1]))
            _PEERS[self._peer_key] = _common_name(ssl_object.getpeercert())

    def connection_lost(self, exc: Exception | None) -> None:
        _PEERS.pop(getattr(self, "_peer_key", ("", 0)), None)
        super().connection_lost(exc)


class RequestLog:
    """One line per request; bodies and headers are never logged (no secrets in logs)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen: dict[str, int] = {"status": 500}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client") or ("", 0)
            cn = _PEERS.get((str(client[0]), int(client[1])), "-")
            path = scope.get("path", "").encode("unicode_escape").decode("ascii")
            log.info("%s %s %s cn=%s", scope.get("method"), path, seen["status"], cn)


def reload_certificate(config: uvicorn.Config, cert: Path, key: Path) -> None:
    """After a rotation: new connections get the new certificate, open ones keep theirs.
    A bad pair is refused and the old one kept serving."""
    context = config.ssl
    if context is None:
        return
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as e:
        log.error("certificate not reloaded, the old one is still served: %s", e)
        return
    log.info("certificate reloaded from %s", cert)


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"not HOST:PORT: {value!r}")
    return host.strip("[]"), int(port)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hosted-engine-hostd", description=__doc__)
    parser.add_argument("--config", type=Path, help="this host's hosted-engine.conf")
    parser.add_argument(
        "--listen", type=_listen, default=("0.0.0.0", DEFAULT_PORT), help="HOST:PORT"
    )
    parser.add_argument("--cert", type=Path, required=True, help="this host's certificate")
    parser.add_argument("--key", type=Path, required=True, help="its key")
    parser.add_argument("--ca", type=Path, required=True, help="the cluster CA certificate")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        client = HAClient.from_config(args.config)
        server_context(args.ca, args.cert, args.key)  # bad files: one line, not a traceback
    except HostedEngineError as e:
        print(f"hosted-engine-hostd: {e}", file=sys.stderr)
        return 1
    host, port = args.listen
    config = uvicorn.Config(
        RequestLog(make_app(client)),
        host=host,
        port=port,
        http=PeerRecordingProtocol,
        ssl_certfile=str(args.cert),
        ssl_keyfile=str(args.key),
        ssl_ca_certs=str(args.ca),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
        access_log=False,
        log_config=None,
        lifespan="off",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    config.load()  # builds uvicorn's TLS context now, so SIGHUP can reload into it
    signal.signal(signal.SIGHUP, lambda *_: reload_certificate(config, args.cert, args.key))
    try:
        server.run()
    except OSError as e:
        print(f"hosted-engine-hostd: cannot listen on {host}:{port}: {e}", file=sys.stderr)
        return 1
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
