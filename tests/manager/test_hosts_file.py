"""The host registry file deploy keeps on the engine VM's disk, followed while the manager
runs: a host deployed with ``hosted-engine --deploy`` shows without a manager restart."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import httpx
import pytest

from hosted_engine.errors import UsageError
from hosted_engine.manager.app import create_app
from hosted_engine.manager.db import HostRow, open_database
from hosted_engine.manager.hosts_file import HostsFile
from tests.manager.fakes import Cluster, FakeHostApi


def write(path: Path, *host_ids: int) -> None:
    entries = [
        {"host_id": i, "name": f"host{i}.lab", "address": "127.0.0.1", "port": 10000 + i}
        for i in host_ids
    ]
    path.write_text(json.dumps(entries))
    stamp = path.stat().st_mtime_ns + len(host_ids)  # a change within one mtime tick too
    os.utime(path, ns=(stamp, stamp))


def test_sync_reads_only_a_changed_file_and_skips_a_bad_one(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    path = tmp_path / "hosts.json"
    write(path, 1)
    registry = HostsFile(path)
    registry.load(db)
    assert not registry.sync(db)  # unchanged
    path.write_text("[{")  # torn or broken while the manager runs: logged, skipped
    assert not registry.sync(db)
    assert [r.id for r in db.hosts()] == [1]
    write(path, 1, 2)
    assert registry.sync(db)
    assert [r.id for r in db.hosts()] == [1, 2]
    path.unlink()  # gone: nothing to read, nothing removed
    assert not registry.sync(db)
    assert [r.id for r in db.hosts()] == [1, 2]
    db.close()


def test_a_registry_that_cannot_be_read_at_start_is_one_line(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    with pytest.raises(UsageError, match="cannot read hosts file"):
        HostsFile(tmp_path / "missing.json").load(db)
    db.close()


@pytest.mark.anyio
async def test_a_host_added_to_the_file_is_listed_by_the_running_manager(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    path = tmp_path / "hosts.json"
    write(path, 1)
    registry = HostsFile(path)
    registry.load(db)
    cluster = Cluster()

    def factory(row: HostRow) -> FakeHostApi:
        return FakeHostApi(cluster, row)

    app = create_app(db, tmp_path, factory, timeout=0.5, poll_interval=0.05, hosts_file=registry)
    password = (tmp_path / "admin-password").read_text().strip()

    async def listed(client: httpx.AsyncClient) -> list[int]:
        response = await client.get("/api/hosts", auth=("admin", password))
        return [h["id"] for h in response.json()]

    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://manager") as client,
    ):
        assert await listed(client) == [1]
        write(path, 1, 2)  # an additional host's deploy committed
        async with asyncio.timeout(10):
            while await listed(client) != [1, 2]:
                await asyncio.sleep(0.05)
    db.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
