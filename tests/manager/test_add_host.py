"""Add host end to end: the manager app (ASGI) deploys the real host-deploy bundle over a
real sshd on 127.0.0.1 into a root directory, signing the host's CSR with a real CA
(the rig: tests/manager/add_host_rig.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from hosted_engine.deploy import keys
from hosted_engine.manager.auth import SESSION_COOKIE
from hosted_engine.pki import verify_certificate
from tests.installer.sshd import SshServer
from tests.manager.add_host_rig import Rig, make_rig, manager_sshd


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SshServer, Path]]:
    with manager_sshd(tmp_path_factory.mktemp("sshd")) as found:
        yield found


@dataclass
class Env:
    client: httpx.AsyncClient
    rig: Rig

    def __getattr__(self, name: str) -> Any:  # env.db, env.host, env.add_host, ...
        return getattr(self.rig, name)

    def body(self, **extra: Any) -> dict[str, Any]:
        return self.rig.body(**extra)

    async def finished(self, answer: httpx.Response) -> dict[str, Any]:
        assert answer.status_code == 202, answer.text
        deploy_id = answer.json()["deploy_id"]
        assert answer.json()["events"] == f"/api/hosts/deploys/{deploy_id}"
        task = self.rig.add_host.deploys[deploy_id].task
        assert task is not None
        await asyncio.wait_for(asyncio.shield(task), 60)
        got = await self.client.get(answer.json()["events"])
        assert got.status_code == 200
        result: dict[str, Any] = got.json()
        return result

    async def deploy(self) -> dict[str, Any]:
        """host1.lab deployed and registered (the fingerprint given at once)."""
        body = self.body(host_key_fingerprint=self.rig.fingerprint)
        result = await self.finished(await self.client.post("/api/hosts", json=body))
        assert result["status"] == "complete", result
        return result


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _env(tmp_path: Path, sshd: tuple[SshServer, Path], gated: bool) -> AsyncIterator[Env]:
    """The client holds an admin session as the UI does (HTTP Basic would cost an argon2
    check per request; tests/manager/test_api.py covers Basic)."""
    rig = make_rig(tmp_path, *sshd, gated=gated)
    transport = httpx.ASGITransport(app=rig.app)
    sessions = rig.app.state.manager.sessions
    cookie = sessions.make("admin")
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://manager",
        cookies={SESSION_COOKIE: cookie},
        headers={"X-CSRF-Token": sessions.csrf(cookie)},
    ) as client:
        try:
            yield Env(client, rig)
        finally:
            await rig.add_host.aclose()
    rig.close()


@pytest.fixture
async def env(tmp_path: Path, sshd: tuple[SshServer, Path]) -> AsyncIterator[Env]:
    async for found in _env(tmp_path, sshd, gated=False):
        yield found


@pytest.fixture
async def gated(tmp_path: Path, sshd: tuple[SshServer, Path]) -> AsyncIterator[Env]:
    """Runs stop at their first service call until ``env.open_gate()``."""
    async for found in _env(tmp_path, sshd, gated=True):
        yield found


@pytest.mark.anyio
async def test_fingerprint_round_trip_then_deploy_complete(env: Env) -> None:
    first = await env.client.post("/api/hosts", json=env.body())
    assert first.status_code == 409, first.text
    assert first.json() == {"host_key_fingerprint": env.fingerprint}
    assert not env.host.path("/etc").exists() or env.host.files() == {}  # nothing done yet
    assert env.add_host.deploys == {}

    answer = await env.client.post(
        "/api/hosts", json=env.body(host_key_fingerprint=env.fingerprint)
    )
    result = await env.finished(answer)
    assert result["status"] == "complete", result
    assert result["error"] is None
    texts = [e["text"] for e in result["events"]]
    assert texts[-1] == "Complete"
    assert any("PKI: certificate request for" in t for t in texts)
    assert len(texts) > 5
    later = await env.client.get(answer.json()["events"], params={"after": len(texts) - 1})
    assert [e["text"] for e in later.json()["events"]] == ["Complete"]

    pki = env.host.path(keys.PKI_DIR)
    cert = x509.load_pem_x509_certificate((pki / "host.pem").read_bytes())
    verify_certificate(cert, env.ca.certificate)
    assert env.host.path(keys.CONFIG_FILE).exists()

    hosts = (await env.client.get("/api/hosts")).json()
    assert [(h["name"], h["address"]) for h in hosts] == [("host1.lab", "127.0.0.1")]
    assert any(e["text"] == "host host1.lab added" for e in env.db.events())

    # undeploy: refused while it is the last host, done once another one is there
    env.host.set_status(1)
    refused = await env.finished(await env.client.post("/api/hosts/1/undeploy"))
    assert refused["status"] == "failed"
    assert refused["error"], refused
    assert "host 1 is the last hosted-engine host" in refused["error"]
    assert "\n" not in refused["error"]
    env.host.set_status(1, 2)
    removed = await env.finished(await env.client.post("/api/hosts/1/undeploy"))
    assert removed["status"] == "complete", removed
    assert not env.host.path(keys.CONFIG_FILE).exists()
    # ... and the manager lets it go: the registry, its client, an event saying so
    assert env.db.hosts() == []
    assert (await env.client.get("/api/hosts")).json() == []
    assert (await env.client.get("/api/hosts/1")).status_code == 404
    assert (1, "aclose") in env.cluster.calls
    said = "hosted engine undeployed from host1.lab: host host1.lab removed from the manager"
    assert env.db.events()[0]["text"] == said


@pytest.mark.anyio
async def test_a_different_key_is_refused(env: Env) -> None:
    wrong = "SHA256:" + "A" * 43
    answer = await env.client.post("/api/hosts", json=env.body(host_key_fingerprint=wrong))
    assert answer.status_code == 409
    detail = answer.json()["detail"]
    assert "\n" not in detail and env.fingerprint in detail and wrong in detail
    assert env.add_host.deploys == {}


@pytest.mark.anyio
async def test_a_failing_deploy_ends_failed_with_the_specific_error(env: Env) -> None:
    body = env.body(host_key_fingerprint=env.fingerprint, config={"storage": "/srv/missing"})
    result = await env.finished(await env.client.post("/api/hosts", json=body))
    assert result["status"] == "failed"
    assert "/srv/missing" in result["error"], result
    assert result["events"][-1]["text"] == f"Failed: {result['error']}"
    assert (await env.client.get("/api/hosts")).json() == []
    assert any(
        e["text"] == f"deploy of host1.lab failed: {result['error']}" for e in env.db.events()
    )


@pytest.mark.anyio
async def test_no_ca_is_a_one_line_failure(env: Env) -> None:
    env.add_host.settings.ca_dir = None
    answer = await env.client.post("/api/hosts", json=env.body())
    assert answer.status_code == 503
    assert "--ca-dir" in answer.json()["detail"]


@pytest.mark.anyio
async def test_the_new_host_page(env: Env) -> None:
    transport = httpx.ASGITransport(app=env.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://manager") as browser:
        assert (await browser.get("/hosts/add")).status_code == 303  # log in first
        login = {"username": "admin", "password": env.password}
        assert (await browser.post("/login", data=login)).status_code == 303
        page = await browser.get("/hosts/add")
        assert page.status_code == 200
        for words in ("New Host", "SSH Port", "Confirm and deploy", 'id="progress"'):
            assert words in page.text
        script = (await browser.get("/static/app.js")).text
        assert "setupAddHost" in script and "?after=" in script
        assert "setupUndeploy" in script
        hosts = await browser.get("/hosts")
        assert 'id="undeploy"' in hosts.text and "Undeploy hosted engine from host" in hosts.text
        env.db.upsert_host(1, "host1.lab", "127.0.0.1", env.hostd_port)
        listed = (await browser.get("/ui/hosts.json")).json()["hosts"]
        assert listed[0]["actions"]["undeploy"] is True


# --- refusals: a one-line detail, nothing started on the host, nothing written ----------


def _snapshot(env: Env) -> tuple[Any, ...]:
    return (
        env.db.hosts(),
        env.db.events(),
        env.db.audit_log(),
        dict(env.add_host.deploys),
        env.host.files("/"),
    )


async def _refused(env: Env, status: int, url: str, body: Any, *words: str) -> str:
    before = _snapshot(env)
    answer = await env.client.post(url, json=body)
    assert answer.status_code == status, answer.text
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail
    for word in words:
        assert word in detail, detail
    assert _snapshot(env) == before
    return detail


@pytest.mark.anyio
async def test_a_config_value_of_more_than_one_line_is_refused(env: Env) -> None:
    for bad in ["a\nb", "a\rb", "a\0b", "a\u2028b", "a\u2029b", "a\x85b", "a\x1b[2Jb"]:
        body = env.body(host_key_fingerprint=env.fingerprint, config={"hostname": bad})
        await _refused(env, 422, "/api/hosts", body, "hosted_engine_config.hostname", "one line")


BAD_FIELDS: list[tuple[dict[str, Any], tuple[str, ...]]] = [
    ({"name": None}, ("name",)),
    ({"address": None}, ("address",)),
    ({"name": ["host1"]}, ("name",)),
    ({"ssh_port": "22"}, ("ssh_port",)),
    ({"ssh_port": True}, ("ssh_port",)),
    ({"hostd_port": 70000}, ("hostd_port",)),
    ({"deploy_hosted_engine": "yes"}, ("deploy_hosted_engine",)),
    ({"hosted_engine_config": None}, ("hosted_engine_config",)),
    ({"hosted_engine_config": {"sdUUID": "x"}}, ("host_id",)),
    ({"config": {"host_id": "one"}}, ("host_id",)),
    ({"config": {"storage": True}}, ("hosted_engine_config.storage",)),
    ({"config": {"storage": ["/srv"]}}, ("hosted_engine_config.storage",)),
    ({"config": {"no_such_key": "1"}}, ("no_such_key",)),
    ({"host_key_fingerprint": "SHA256:short"}, ("host_key_fingerprint",)),
]


@pytest.mark.anyio
async def test_a_missing_or_ill_typed_field_is_refused(env: Env) -> None:
    for change, words in BAD_FIELDS:
        body = env.body(**{"host_key_fingerprint": env.fingerprint, **change})
        for key, value in change.items():  # None: the field left out
            if value is None:
                del body[key]
        await _refused(env, 422, "/api/hosts", body, *words)


@pytest.mark.anyio
async def test_a_body_that_is_no_object_is_refused(env: Env) -> None:
    await _refused(env, 422, "/api/hosts", ["host1.lab"])
    await _refused(env, 422, "/api/hosts/1/undeploy", "undeploy")


@pytest.mark.anyio
async def test_a_registered_host_id_or_name_is_refused(env: Env) -> None:
    env.db.upsert_host(1, "other.lab", "10.0.0.1", 1)
    env.db.upsert_host(2, "host2.lab", "10.0.0.2", 1)
    fp = env.fingerprint
    await _refused(
        env, 409, "/api/hosts", env.body(host_key_fingerprint=fp), "host id 1", "other.lab"
    )
    renamed = env.body(host_key_fingerprint=fp, name="host2.lab", config={"host_id": "3"})
    await _refused(env, 409, "/api/hosts", renamed, "host2.lab", "host id 2")


@pytest.mark.anyio
async def test_a_second_run_on_a_host_while_one_runs_is_refused(gated: Env) -> None:
    env = gated
    first = await env.client.post("/api/hosts", json=env.body(host_key_fingerprint=env.fingerprint))
    assert first.status_code == 202, first.text
    body = env.body(host_key_fingerprint=env.fingerprint)
    await _refused(env, 409, "/api/hosts", body, "a deploy of host1.lab", "is running")
    other_id = env.body(host_key_fingerprint=env.fingerprint, config={"host_id": "2"})
    await _refused(env, 409, "/api/hosts", other_id, "is running")  # the same name and end
    env.open_gate()
    assert (await env.finished(first))["status"] == "complete"

    env.host.set_status(1, 2)
    env.rig.close_gate()
    undeploy = await env.client.post("/api/hosts/1/undeploy")
    assert undeploy.status_code == 202, undeploy.text
    await _refused(env, 409, "/api/hosts/1/undeploy", None, "an undeploy of host1.lab")
    env.open_gate()
    assert (await env.finished(undeploy))["status"] == "complete"


@pytest.mark.anyio
async def test_undeploy_refuses_a_bad_field_and_an_unknown_host(env: Env) -> None:
    await _refused(env, 404, "/api/hosts/9/undeploy", None, "host 9 not found")
    await env.deploy()
    await _refused(env, 422, "/api/hosts/1/undeploy", {"undeploy_hosted_engine": 1})
    await _refused(env, 422, "/api/hosts/1/undeploy", {"ssh_port": 0}, "ssh_port")
    # a manager that did not deploy the host (or restarted since) asks for its key first
    env.add_host.targets.clear()
    body = {"ssh_port": env.server.port}
    before = _snapshot(env)
    answer = await env.client.post("/api/hosts/1/undeploy", json=body)
    assert answer.status_code == 409
    assert answer.json() == {"host_key_fingerprint": env.fingerprint}
    assert _snapshot(env) == before
    env.host.set_status(1, 2)
    body["host_key_fingerprint"] = env.fingerprint
    removed = await env.finished(await env.client.post("/api/hosts/1/undeploy", json=body))
    assert removed["status"] == "complete" and removed["host_id"] == 1, removed
    assert env.db.hosts() == []


@pytest.mark.anyio
async def test_a_deploy_the_registry_cannot_take_ends_failed(env: Env) -> None:
    """The host's run succeeds, but meanwhile its name was registered for another id
    (another manager's hosts file, say): the run is Failed with that error, not Complete."""
    body = env.body(host_key_fingerprint=env.fingerprint)
    answer = await env.client.post("/api/hosts", json=body)
    env.db.upsert_host(7, "host1.lab", "10.0.0.7", 1)  # before the run's first step
    result = await env.finished(answer)
    assert result["status"] == "failed", result
    error = result["error"]
    assert error.startswith("host1.lab was deployed, but the manager could not register it:")
    assert "UNIQUE" in error and "\n" not in error
    assert result["events"][-1]["text"] == f"Failed: {error}"
    assert "Complete" not in [e["text"] for e in result["events"]]
    assert [(h.id, h.address) for h in env.db.hosts()] == [(7, "10.0.0.7")]
    assert env.db.events()[0]["text"] == f"deploy of host1.lab failed: {error}"
