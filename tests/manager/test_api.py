"""The REST API against fake host APIs: every endpoint, its auth and its bad input."""

from __future__ import annotations

import time

import pytest

from hosted_engine.storage.switchover import Switchover
from tests.manager.conftest import Env

pytestmark = pytest.mark.anyio


def one_line(body: dict[str, object]) -> str:
    detail = body["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail
    return detail


async def test_health_needs_no_auth(env: Env) -> None:
    r = await env.client.get("/ovirt-engine/services/health")
    assert r.status_code == 200 and r.text == "DB Up!Welcome to Health Status!"


async def test_health_500_when_db_is_gone(env: Env) -> None:
    env.db.close()
    r = await env.client.get("/ovirt-engine/services/health")
    assert r.status_code == 500 and "\n" not in r.text and r.text.startswith("DB Down")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/hosts"),
        ("GET", "/api/hosts/1"),
        ("POST", "/api/hosts/2/deactivate"),
        ("POST", "/api/hosts/2/activate"),
        ("POST", "/api/vms/vm-1/maintenance"),
        ("GET", "/api/vms/vm-1"),
        ("PUT", "/api/vms/vm-1"),
        ("DELETE", "/api/vms/vm-1"),
        ("GET", "/api/events"),
        ("GET", "/api/history"),
        ("POST", "/api/switchover"),
        ("DELETE", "/api/switchover"),
        ("GET", "/api/shared-config/he_shared/a"),
        ("PUT", "/api/shared-config/he_shared/a"),
        ("DELETE", "/api/storagedomains/sd1"),
        ("DELETE", "/api/disks/OVF_STORE"),
    ],
)
async def test_every_endpoint_needs_auth(env: Env, method: str, path: str) -> None:
    r = await env.client.request(method, path)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Basic"
    one_line(r.json())
    r = await env.client.request(method, path, auth=("admin", "wrong"))
    assert r.status_code == 401
    assert one_line(r.json()) == "bad user name or password"


async def test_hosts_list_and_one(env: Env) -> None:
    r = await env.client.get("/api/hosts", auth=env.auth)
    assert r.status_code == 200
    hosts = r.json()
    assert [h["name"] for h in hosts] == ["host1.lab", "host2.lab", "host3.lab"]
    h1 = hosts[0]
    assert h1["status"] == "up" and h1["engine_vm_here"] is True
    assert h1["hosted_engine"] == {
        "configured": True,
        "active": True,
        "score": 3400,
        "global_maintenance": False,
        "local_maintenance": False,
    }
    assert h1["ha_state"] == "EngineUp" and h1["out_of_sync"] is False
    assert 1.5 <= h1["data_age"] < 2.5  # the host's own age and the moments since it said so
    r = await env.client.get("/api/hosts/2", auth=env.auth)
    assert r.status_code == 200 and r.json()["engine_vm_here"] is False
    r = await env.client.get("/api/hosts/9", auth=env.auth)
    assert r.status_code == 404 and one_line(r.json()) == "host 9 not found"
    r = await env.client.get("/api/hosts/abc", auth=env.auth)
    assert r.status_code == 422
    one_line(r.json())


async def test_a_hanging_host_does_not_slow_the_others(env: Env) -> None:
    env.cluster.hanging.update({2, 3})
    r = await env.client.get("/api/hosts", auth=env.auth)
    assert r.status_code == 200
    assert [h["status"] for h in r.json()] == ["up", "non_responsive", "non_responsive"]
    # asked at once: host 3 was asked before host 2's call timed out (0.5 s), which asking
    # in turn could not do, however loaded the machine
    assert abs(env.cluster.hung_at[3] - env.cluster.hung_at[2]) < 0.5
    assert r.json()[1]["hosted_engine"] is None


async def test_deactivate_and_activate(env: Env) -> None:
    r = await env.client.post("/api/hosts/2/deactivate", auth=env.auth)
    assert r.status_code == 200 and r.json()["status"] == "maintenance"
    assert r.json()["hosted_engine"]["local_maintenance"] is True
    assert env.cluster.local[2] is True
    r = await env.client.post("/api/hosts/2/activate", auth=env.auth)
    assert r.status_code == 200 and r.json()["status"] == "up"
    assert env.cluster.local[2] is False
    kinds = [(e["kind"], e["who"]) for e in env.db.events()]
    assert kinds[:2] == [("maintenance", "admin"), ("maintenance", "admin")]
    assert [a["action"] for a in env.db.audit_log()][:2] == ["activate", "deactivate"]


async def test_deactivate_refused_on_the_engine_host(env: Env) -> None:
    r = await env.client.post("/api/hosts/1/deactivate", auth=env.auth)
    assert r.status_code == 409
    assert one_line(r.json()).startswith("Unable to enter local maintenance mode")
    assert 1 not in env.cluster.local
    assert env.db.audit_log()[0]["outcome"].startswith("refused")


async def test_maintenance_on_the_engine_host_can_move_the_engine_first(env: Env) -> None:
    move = {"move_engine": True}
    r = await env.client.post("/api/hosts/1/deactivate", json=move, auth=env.auth)
    assert r.status_code == 202, r.text
    assert r.json()["moving_engine"] is True and r.json()["to_host"] != 1
    assert env.cluster.engine_host != 1 and env.cluster.local[1] is True
    assert ("switchover", "admin") in [(e["kind"], e["who"]) for e in env.db.events()]
    assert "local maintenance of host" in env.db.audit_log()[0]["outcome"]
    r = await env.client.get("/api/hosts/1", auth=env.auth)
    assert r.json()["status"] == "maintenance" and r.json()["out_of_sync"] is False
    # elsewhere, move_engine changes nothing: plain maintenance
    other = ({2, 3} - {env.cluster.engine_host}).pop()
    r = await env.client.post(f"/api/hosts/{other}/deactivate", json=move, auth=env.auth)
    assert r.status_code == 200 and r.json()["status"] == "maintenance"
    r = await env.client.post("/api/hosts/2/deactivate", json={"move_engine": 1}, auth=env.auth)
    assert r.status_code == 422


async def test_moving_the_engine_away_refused_leaves_the_host_as_it_was(env: Env) -> None:
    env.cluster.pending = Switchover(3, "x", "", 1.0, 2e9, 3e9, "y")  # another one pending
    r = await env.client.post("/api/hosts/1/deactivate", json={"move_engine": True}, auth=env.auth)
    assert r.status_code == 412 and "Switchover refused" in r.json()["detail"]
    assert env.cluster.engine_host == 1 and 1 not in env.cluster.local
    r = await env.client.get("/api/hosts/1", auth=env.auth)
    assert r.json()["status"] == "up"


async def test_out_of_sync_shown_and_fixed(env: Env) -> None:
    env.cluster.local[3] = True  # set by the CLI on the host, not through the manager
    r = await env.client.get("/api/hosts/3", auth=env.auth)
    assert r.json()["out_of_sync"] is True
    r = await env.client.post("/api/hosts/3/activate", auth=env.auth)
    assert r.json()["out_of_sync"] is False and env.cluster.local[3] is False


async def test_maintenance_on_unreachable_host_is_503(env: Env) -> None:
    env.cluster.dead.add(2)
    r = await env.client.post("/api/hosts/2/deactivate", auth=env.auth)
    assert r.status_code == 503
    one_line(r.json())


async def test_global_maintenance(env: Env) -> None:
    env.cluster.dead.add(1)  # through any responsive host
    r = await env.client.post(
        "/api/vms/vm-1/maintenance", json={"maintenance_enabled": True}, auth=env.auth
    )
    assert r.status_code == 200 and env.cluster.global_maintenance is True
    hosts = (await env.client.get("/api/hosts", auth=env.auth)).json()
    assert hosts[1]["hosted_engine"]["global_maintenance"] is True
    for body in ({}, {"maintenance_enabled": "yes"}):
        r = await env.client.post("/api/vms/vm-1/maintenance", json=body, auth=env.auth)
        assert r.status_code == 422
        one_line(r.json())
    r = await env.client.post("/api/vms/vm-1/maintenance", content=b"{", auth=env.auth)
    assert r.status_code == 422
    one_line(r.json())
    r = await env.client.post(
        "/api/vms/nope/maintenance", json={"maintenance_enabled": True}, auth=env.auth
    )
    assert r.status_code == 404


async def test_all_hosts_down_is_503(env: Env) -> None:
    env.cluster.dead.update({1, 2, 3})
    r = await env.client.get("/api/vms/vm-1", auth=env.auth)
    assert r.status_code == 503
    one_line(r.json())


async def test_vm_get_and_put_with_etag(env: Env) -> None:
    r = await env.client.get("/api/vms/vm-1", auth=env.auth)
    assert r.status_code == 200 and r.json()["memSize"] == 4096
    etag = r.headers["etag"]
    assert etag == f'"{env.cluster.etag()}"'
    r = await env.client.put("/api/vms/vm-1", json={"memSize": 8192}, auth=env.auth)
    assert r.status_code == 428
    one_line(r.json())
    r = await env.client.put(
        "/api/vms/vm-1", json={"memSize": 8192}, headers={"If-Match": etag}, auth=env.auth
    )
    assert r.status_code == 200
    assert r.json()["memSize"] == 8192 and "next start" in r.json()["notice"]
    # written through the host API before the response returned, and every host asked to
    # re-read its cache (so each shows the change at once)
    assert env.cluster.definition["memSize"] == 8192
    refreshed = {host for host, call in env.cluster.calls if call == "refresh"}
    assert refreshed == {row.id for row in env.db.hosts()}
    assert r.headers["etag"] == f'"{env.cluster.etag()}"'
    # the old ETag is stale now: 412, passed on with the host's message
    r = await env.client.put(
        "/api/vms/vm-1", json={"memSize": 2048}, headers={"If-Match": etag}, auth=env.auth
    )
    assert r.status_code == 412 and one_line(r.json()) == "the OVF changed since it was read"
    assert env.db.events()[0]["kind"] == "edit"


async def test_vm_put_bad_input(env: Env) -> None:
    etag = (await env.client.get("/api/vms/vm-1", auth=env.auth)).headers["etag"]
    for body in ({"vmId": "x"}, {"bogus": 1}, {"memSize": [1]}, {"memSize": ""}):
        r = await env.client.put(
            "/api/vms/vm-1", json=body, headers={"If-Match": etag}, auth=env.auth
        )
        assert r.status_code == 422, body
        one_line(r.json())
    r = await env.client.put(
        "/api/vms/vm-1", json={"memSize": 10}, headers={"If-Match": etag}, auth=env.auth
    )
    assert r.status_code == 422 and "memSize" in one_line(r.json())
    r = await env.client.get("/api/vms/other", auth=env.auth)
    assert r.status_code == 404


async def test_shared_config(env: Env) -> None:
    r = await env.client.get("/api/shared-config/he_shared/a", auth=env.auth)
    assert r.status_code == 200 and r.json() == {"key": "a", "value": "1", "type": "he_shared"}
    r = await env.client.put("/api/shared-config/he_shared/a", json={"value": "2"}, auth=env.auth)
    assert r.status_code == 200 and env.cluster.shared[("he_shared", "a")] == "2"
    assert {host for host, call in env.cluster.calls if call == "refresh"} == {
        row.id for row in env.db.hosts()
    }
    r = await env.client.get("/api/shared-config/he_shared/nope", auth=env.auth)
    assert r.status_code == 404 and one_line(r.json()) == "Could not find nope in he_shared"
    r = await env.client.put("/api/shared-config/he_shared/a", json={"value": 3}, auth=env.auth)
    assert r.status_code == 422
    r = await env.client.get("/api/shared-config/he%20shared/a", auth=env.auth)
    assert r.status_code == 422
    one_line(r.json())


async def test_protected_deletes(env: Env) -> None:
    for path in ("/api/vms/vm-1", "/api/storagedomains/sd-1", "/api/disks/OVF_STORE-1"):
        r = await env.client.delete(path, auth=env.auth)
        assert r.status_code == 409, path
        assert "Cannot remove" in one_line(r.json())
    r = await env.client.delete("/api/disks/other", auth=env.auth)
    assert r.status_code == 404


async def test_events_endpoint(env: Env) -> None:
    env.db.add_event("state", "system", "Host host1.lab: HA state EngineUp -> EngineStop")
    r = await env.client.get("/api/events", auth=env.auth)
    assert r.status_code == 200
    e = r.json()[0]
    assert e["who"] == "system" and e["kind"] == "state" and e["time"] > 0
    r = await env.client.get("/api/events?limit=0", auth=env.auth)
    assert r.status_code == 422


async def test_history_endpoint_newest_first_from_any_host(env: Env) -> None:
    from hosted_engine.storage.history import Cause, Event, HistoryEntry

    env.cluster.history = [
        HistoryEntry(1000.0, Event.STARTED, 1, Cause.FIRST_START),
        HistoryEntry(1070.0, Event.STARTED, 2, Cause.HOST_LOST, from_host=1, downtime=68.6),
    ]
    env.cluster.dead.add(1)  # any host that answers tells the same history
    r = await env.client.get("/api/history", auth=env.auth)
    assert r.status_code == 200
    newest = r.json()[0]
    assert (newest["cause"], newest["from_host"], newest["downtime"]) == ("host lost", 1, 68.6)
    assert len(r.json()) == 2
    assert (await env.client.get("/api/history?limit=1", auth=env.auth)).json()[0] == newest
    assert (await env.client.get("/api/history?limit=0", auth=env.auth)).status_code == 422
    env.cluster.dead.update({2, 3})
    r = await env.client.get("/api/history", auth=env.auth)
    assert r.status_code == 503


async def test_switchover_done_scheduled_refused_and_cancelled(env: Env) -> None:
    r = await env.client.post("/api/switchover", json={"to_host": 2, "note": "n"}, auth=env.auth)
    assert r.status_code == 200, r.text
    assert r.json()["done"] is True and r.json()["to_host"] == 2 and env.cluster.engine_host == 2
    r = await env.client.post("/api/switchover", json={"to_host": 2}, auth=env.auth)
    assert r.status_code == 412 and "Switchover refused" in r.json()["detail"]
    later = {"to_host": 3, "scheduled_at": "2099-01-01T00:00:00Z"}
    r = await env.client.post("/api/switchover", json=later, auth=env.auth)
    assert r.status_code == 202 and r.json()["scheduled"] is True
    r = await env.client.delete("/api/switchover", auth=env.auth)
    assert r.status_code == 200 and r.json()["cancelled"] is True
    assert (await env.client.delete("/api/switchover", auth=env.auth)).status_code == 404
    for bad in ({"to_host": "two"}, {"scheduled_at": "soon"}, {"note": 5}):
        r = await env.client.post("/api/switchover", json=bad, auth=env.auth)
        assert r.status_code == 422, bad


async def test_openapi_docs(env: Env) -> None:
    r = await env.client.get("/api/openapi.json")
    assert r.status_code == 200 and "/api/hosts" in r.json()["paths"]
    r = await env.client.get("/api/docs")
    assert r.status_code == 200


async def test_failed_logins_rate_limited(env: Env) -> None:
    for _ in range(5):
        r = await env.client.get("/api/hosts", auth=("admin", "bad"))
        assert r.status_code == 401
    r = await env.client.get("/api/hosts", auth=env.auth)
    assert r.status_code == 429
    one_line(r.json())
    r = await env.client.get("/api/hosts", auth=("other", "bad"))
    assert r.status_code == 401  # per user: other users are not blocked


async def test_cluster_calls_skip_a_host_known_dead(env: Env) -> None:
    env.cluster.hanging.add(1)
    await env.client.get("/api/hosts", auth=env.auth)  # host 1 seen not answering
    env.cluster.calls.clear()
    start = time.monotonic()
    r = await env.client.get("/api/vms/vm-1", auth=env.auth)
    assert r.status_code == 200 and time.monotonic() - start < 0.4
    assert env.cluster.calls == [(2, "vm")]
