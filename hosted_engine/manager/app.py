"""Assembly: the database, the host registry, the API and UI routers, one-line errors."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles

from hosted_engine.errors import UsageError
from hosted_engine.manager import api, auth, ui
from hosted_engine.manager.add_host import AddHost, AddHostSettings
from hosted_engine.manager.db import Database
from hosted_engine.manager.deps import State
from hosted_engine.manager.errors import one_line
from hosted_engine.manager.hosts import HostApiFactory, Hosts

HEALTH_OK = "DB Up!Welcome to Health Status!"


def load_hosts_file(db: Database, path: Path) -> None:
    """Seed or update the registry from the lab's JSON list of hosts."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot read hosts file {path}: {one_line(str(err))}") from None
    if not isinstance(entries, list):
        raise UsageError(f"hosts file {path}: not a JSON list")
    for item in entries:
        if not isinstance(item, dict):
            raise UsageError(f"hosts file {path}: an entry is not an object")
        name, address = item.get("name"), item.get("address")
        port, host_id = item.get("port"), item.get("host_id")
        if not (isinstance(name, str) and isinstance(address, str) and name and address):
            raise UsageError(f"hosts file {path}: name and address must be strings")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (port, host_id)):
            raise UsageError(f"hosts file {path}: port and host_id must be integers")
        assert isinstance(port, int) and isinstance(host_id, int)
        if not (0 < port < 65536 and host_id > 0):
            raise UsageError(f"hosts file {path}: port or host_id out of range")
        db.upsert_host(host_id, name, address, port)


def create_app(
    db: Database,
    data_dir: Path,
    factory: HostApiFactory,
    timeout: float = 2.0,
    poll_interval: float | None = 1.5,
    add_host: AddHostSettings | None = None,
) -> FastAPI:
    """The whole application; ``factory`` makes a host's HostApi from its registry row
    (the HTTPS client in production, a fake in tests). ``poll_interval=None``: no poller.
    ``add_host``: Add host and Undeploy are offered (``app.state.add_host``), else the
    API says they are not configured."""
    auth.ensure_admin(db, data_dir)
    hosts = Hosts(db, factory, timeout)
    st = State(db, hosts, auth.Sessions(db.session_secret()), auth.RateLimiter())
    deploys = None if add_host is None else AddHost(db, add_host, hosts)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if poll_interval is not None:
            hosts.start(poll_interval)
        try:
            yield
        finally:
            if deploys is not None:
                await deploys.aclose()
            await hosts.stop()

    app = FastAPI(
        title="Hosted Engine Manager",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.manager = st
    app.state.add_host = deploys

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return JSONResponse(
            {"detail": one_line(str(exc.detail))}, exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"detail": one_line(f"{where}: {first.get('msg', 'bad input')}")}, 422)

    @app.get("/ovirt-engine/services/health", include_in_schema=False)
    async def health() -> Response:
        try:
            db.ping()
        except Exception as err:  # any DB failure is "down", said in one line
            return PlainTextResponse(f"DB Down: {one_line(str(err))}", 500)
        return PlainTextResponse(HEALTH_OK)

    app.include_router(api.router)
    app.include_router(ui.router)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), "static")
    return app
