from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hosted_engine.manager.app import create_app
from hosted_engine.manager.db import Database, HostRow, open_database
from tests.manager.fakes import Cluster, FakeHostApi


@dataclass
class Env:
    client: httpx.AsyncClient
    cluster: Cluster
    db: Database
    password: str
    data_dir: Path

    @property
    def auth(self) -> tuple[str, str]:
        return ("admin", self.password)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    db = open_database(tmp_path)
    for i in (1, 2, 3):
        db.upsert_host(i, f"host{i}.lab", "127.0.0.1", 10000 + i)
    cluster = Cluster()

    def factory(row: HostRow) -> FakeHostApi:
        return FakeHostApi(cluster, row)

    app = create_app(db, tmp_path, factory, timeout=0.5, poll_interval=None)
    password = (tmp_path / "admin-password").read_text().strip()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://manager") as client:
        yield Env(client, cluster, db, password, tmp_path)
    db.close()
