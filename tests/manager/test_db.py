"""The store: migrations from an older file, the registry file, hosts' change events."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hosted_engine.errors import UsageError
from hosted_engine.manager import migrations
from hosted_engine.manager.db import HostRow, open_database
from hosted_engine.manager.hosts import Hosts
from hosted_engine.manager.hosts_file import load_hosts_file
from tests.manager.fakes import Cluster, FakeHostApi


def test_a_v1_database_is_upgraded(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "manager.db", isolation_level=None)
    assert migrations.migrate(conn, upto=1) == 1
    conn.execute("INSERT INTO events (time, kind, who, text) VALUES (1, 'x', 'me', 'kept')")
    conn.close()
    db = open_database(tmp_path)
    assert db.events()[0]["text"] == "kept"
    db.audit("me", "edit", "vm", "ok")  # the v2 table exists now
    assert db.audit_log()[0]["who"] == "me"
    db.close()
    conn = sqlite3.connect(tmp_path / "manager.db")
    assert migrations.current_version(conn) == migrations.LATEST == 2
    conn.close()


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    db.close()
    conn = sqlite3.connect(tmp_path / "manager.db", isolation_level=None)
    conn.execute("INSERT INTO schema_version VALUES (99)")
    conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        open_database(tmp_path)


def test_synchronous_full(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    assert db._read("PRAGMA synchronous")[0][0] == 2  # FULL
    assert db._read("PRAGMA journal_mode")[0][0] == "delete"
    db.close()


def test_hosts_file(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    f = tmp_path / "hosts.json"
    f.write_text('[{"name": "host1.lab", "address": "127.0.0.1", "port": 12345, "host_id": 1}]')
    load_hosts_file(db, f)
    f.write_text('[{"name": "host1.lab", "address": "10.0.0.1", "port": 1, "host_id": 1}]')
    load_hosts_file(db, f)
    assert db.hosts() == [HostRow(1, "host1.lab", "10.0.0.1", 1, "up")]
    for bad in ("{", "{}", "[1]", '[{"name": "a", "address": "b", "port": "1", "host_id": 1}]'):
        f.write_text(bad)
        with pytest.raises(UsageError):
            load_hosts_file(db, f)
    db.close()


@pytest.mark.anyio
async def test_poller_records_state_transitions(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    db.upsert_host(1, "host1.lab", "127.0.0.1", 1)
    db.upsert_host(2, "host2.lab", "127.0.0.1", 2)
    cluster = Cluster()
    hosts = Hosts(db, lambda row: FakeHostApi(cluster, row), timeout=0.2)
    hosts.record_changes(await hosts.views())
    assert db.events() == []
    cluster.engine_host = 2
    cluster.dead.add(1)
    hosts.record_changes(await hosts.views())
    texts = sorted(e["text"] for e in db.events())
    assert texts == [
        "Host host1.lab is not responding",
        "Host host2.lab: HA state EngineDown -> EngineUp, engine VM started here",
    ]
    await hosts.stop()
    db.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
