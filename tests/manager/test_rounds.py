"""Host lists from the poller's last round: fast, truthful about age, dropped on a change."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hosted_engine.manager.db import Database, HostRow, open_database
from hosted_engine.manager.hosts import Hosts
from tests.manager.fakes import Cluster, FakeHostApi

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _cluster(tmp_path: Path, n: int, timeout: float) -> tuple[Database, Cluster, Hosts]:
    """Hosts 1..n registered, answered by one fake cluster."""
    db = open_database(tmp_path)
    for i in range(1, n + 1):
        db.upsert_host(i, f"host{i}.lab", "127.0.0.1", 10000 + i)
    cluster = Cluster()

    def factory(row: HostRow) -> FakeHostApi:
        return FakeHostApi(cluster, row)

    return db, cluster, Hosts(db, factory, timeout=timeout)


async def _first_round(hosts: Hosts, cluster: Cluster) -> None:
    while not any(call == "status" for _, call in cluster.calls):
        await asyncio.sleep(0.01)
    while hosts._round is None:
        await asyncio.sleep(0.01)


async def test_a_list_is_the_last_round_until_a_change_drops_it(tmp_path: Path) -> None:
    db, cluster, hosts = _cluster(tmp_path, 2, timeout=0.5)
    hosts.start(interval=60.0)  # one round now, the next much later
    try:
        await _first_round(hosts, cluster)
        calls = len(cluster.calls)
        listed = await hosts.views(cached=True)
        assert len(cluster.calls) == calls  # no host asked: the round was served
        assert [v.row.id for v in listed] == [1, 2]
        await asyncio.sleep(0.05)
        age = listed[0].to_json()["data_age"]
        assert age >= 1.5 + 0.05  # the host's own age plus the round's
        cluster.local[2] = True  # a change made through the manager...
        hosts.forget_round()
        fresh = await hosts.views(cached=True)  # ...is asked for at once
        assert len(cluster.calls) == calls + 2
        assert fresh[1].status is not None and fresh[1].status.ha.local_maintenance
        assert not (await hosts.views())[0].out_of_sync
    finally:
        await hosts.stop()
        db.close()


async def test_a_round_under_way_during_a_change_is_not_kept(tmp_path: Path) -> None:
    db, cluster, hosts = _cluster(tmp_path, 1, timeout=0.3)
    cluster.hanging.add(1)  # the first round waits out its timeout
    hosts.start(interval=60.0)
    try:
        while not cluster.calls:
            await asyncio.sleep(0.01)
        hosts.forget_round()  # the change lands while the round is under way
        cluster.hanging.clear()
        await asyncio.sleep(0.5)  # the round has ended by now
        assert hosts._round is None
    finally:
        await hosts.stop()
        db.close()


async def test_a_forgotten_host_leaves_nothing_behind(tmp_path: Path) -> None:
    """Undeploy removed the host: its client is closed, and a round that was under way
    (it still saw the host) records nothing of it."""
    db, cluster, hosts = _cluster(tmp_path, 2, timeout=0.5)
    try:
        hosts.record_changes(await hosts.views())
        late = await hosts.views()  # the round under way: host 2 still in it
        db.remove_host(2)
        await hosts.forget(2)
        assert (2, "aclose") in cluster.calls
        cluster.dead.add(2)  # what that round would otherwise report as a change
        late = [v if v.row.id != 2 else await hosts.view(v.row) for v in late]
        events = len(db.events())
        hosts.record_changes(late)
        assert [v.row.id for v in await hosts.views(cached=True)] == [1]
        assert not db.remove_host(2)  # already gone
        # a new host deployed under that id starts afresh: no "responds again" for it
        db.upsert_host(2, "host2b.lab", "127.0.0.1", 10012)
        cluster.dead.discard(2)
        hosts.record_changes(await hosts.views())
        assert len(db.events()) == events, db.events()[0]
    finally:
        await hosts.stop()
        db.close()
