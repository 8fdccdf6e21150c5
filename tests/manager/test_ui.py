"""The web UI: login, session cookie, CSRF, oVirt's HA wording, the pages."""

from __future__ import annotations

import re

import pytest

from hosted_engine.manager import auth
from tests.manager.conftest import Env

pytestmark = pytest.mark.anyio


async def login(env: Env) -> str:
    r = await env.client.post("/login", data={"username": "admin", "password": env.password})
    assert r.status_code == 303 and r.headers["location"] == "/hosts"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    page = await env.client.get("/hosts")
    found = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page.text)
    assert found
    return found.group(1)


async def test_pages_redirect_to_login(env: Env) -> None:
    for path in ("/hosts", "/vm", "/events", "/shared-config"):
        r = await env.client.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    r = await env.client.get("/login")
    assert r.status_code == 200 and "Log In" in r.text


async def test_bad_login(env: Env) -> None:
    r = await env.client.post("/login", data={"username": "admin", "password": "x"})
    assert r.status_code == 401 and "Bad user name or password" in r.text
    assert auth.SESSION_COOKIE not in r.headers.get("set-cookie", "")
    assert env.db.events()[0]["kind"] == "login"


async def test_hosts_page_wording(env: Env) -> None:
    env.cluster.local[3] = True
    await login(env)
    page = (await env.client.get("/hosts")).text
    assert "Hosted Engine HA: Active (Score: 3400)" in page
    assert "Local Maintenance Enabled" in page
    assert 'title="Runs the engine VM"' in page
    data = (await env.client.get("/ui/hosts.json")).json()
    assert data["global_maintenance"] is False
    h1, h2, h3 = data["hosts"]
    assert h1["actions"]["maintenance"] is False  # the engine VM's host
    assert h1["actions"]["maintenance_move"] is True  # ...which can move it away first
    assert h2["actions"] == {
        "maintenance": True,
        "maintenance_move": False,
        "activate": False,
        "enable_global": True,
        "disable_global": False,
        "undeploy": False,  # this manager has no Add host configured
    }
    assert h3["actions"]["activate"] is True  # out of sync: activate fixes it
    env.cluster.global_maintenance = True
    env.cluster.dead.add(2)
    data = (await env.client.get("/ui/hosts.json")).json()
    assert data["global_maintenance"] is True
    assert data["hosts"][0]["ha_wording"] == "Global Maintenance Enabled"
    assert data["hosts"][1]["ha_wording"] == "Not Active"
    assert data["hosts"][0]["actions"]["disable_global"] is True


async def test_session_post_needs_csrf(env: Env) -> None:
    csrf = await login(env)
    r = await env.client.post("/api/hosts/2/deactivate")
    assert r.status_code == 403 and r.json() == {"detail": "missing or wrong CSRF token"}
    r = await env.client.post("/api/hosts/2/deactivate", headers={"X-CSRF-Token": "0" * 64})
    assert r.status_code == 403
    r = await env.client.post("/api/hosts/2/deactivate", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    # GETs with the cookie need no token
    assert (await env.client.get("/api/hosts")).status_code == 200


async def test_other_pages(env: Env) -> None:
    await login(env)
    vm = (await env.client.get("/vm")).text
    assert "next start" in vm and "Warning" in vm and 'name="memSize"' in vm
    assert "Shared configuration" in (await env.client.get("/shared-config")).text
    events = (await env.client.get("/events")).text
    assert "logged in to the web UI" in events
    assert "No start or stop of the engine VM recorded yet." in events
    assert (await env.client.get("/static/app.js")).status_code == 200


async def test_forged_cookie_refused(env: Env) -> None:
    env.client.cookies.set(auth.SESSION_COOKIE, "admin|99999999999|00|deadbeef")
    assert (await env.client.get("/api/hosts")).status_code == 401
    assert (await env.client.get("/hosts")).status_code == 303


def test_session_cookie_expiry_and_secret() -> None:
    sessions = auth.Sessions("k1")
    cookie = sessions.make("admin", now=1000.0)
    assert sessions.user(cookie, now=1001.0) == "admin"
    assert sessions.user(cookie, now=1000.0 + auth.SESSION_TTL + 1) is None
    assert auth.Sessions("k2").user(cookie, now=1001.0) is None
