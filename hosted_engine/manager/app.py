"""Assembly: the database, the host registry, the API and UI routers, one-line errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles

from hosted_engine.manager import api, auth, ui
from hosted_engine.manager.add_host import AddHost, AddHostSettings
from hosted_engine.manager.db import Database
from hosted_engine.manager.deps import State
from hosted_engine.manager.errors import one_line
from hosted_engine.manager.hosts import HostApiFactory, Hosts
from hosted_engine.manager.hosts_file import HostsFile

HEALTH_OK = "DB Up!Welcome to Health Status!"


def create_app(
    db: Database,
    data_dir: Path,
    factory: HostApiFactory,
    timeout: float = 2.0,
    poll_interval: float | None = 1.5,
    add_host: AddHostSettings | None = None,
    hosts_file: HostsFile | None = None,
) -> FastAPI:
    """The whole application; ``factory`` makes a host's HostApi from its registry row
    (the HTTPS client in production, a fake in tests). ``poll_interval=None``: no poller.
    ``add_host``: Add host and Undeploy are offered (``app.state.add_host``), else the
    API says they are not configured. ``hosts_file``: the registry deploy keeps on the
    engine VM's disk, followed while the manager runs (a host deployed with
    ``hosted-engine --deploy`` shows up without a restart)."""
    auth.ensure_admin(db, data_dir)
    hosts = Hosts(db, factory, timeout)
    st = State(db, hosts, auth.Sessions(db.session_secret()), auth.RateLimiter())
    deploys = None if add_host is None else AddHost(db, add_host, hosts)

    async def follow(registry: HostsFile, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if registry.sync(db):
                hosts.forget_round()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        following = None
        if poll_interval is not None:
            hosts.start(poll_interval)
            if hosts_file is not None:
                following = asyncio.create_task(follow(hosts_file, poll_interval))
        try:
            yield
        finally:
            if following is not None:
                following.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await following
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
