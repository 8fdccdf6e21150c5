"""Add host end to end: the manager app (ASGI) deploys the real host-deploy bundle over a
real sshd on 127.0.0.1 into a root directory, signing the host's CSR with a real CA."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from hosted_engine.deploy import keys
from hosted_engine.manager.add_host import AddHost, AddHostSettings, ensure_ssh_key
from hosted_engine.manager.app import create_app
from hosted_engine.manager.db import Database, HostRow, open_database
from hosted_engine.pki import CertificateAuthority, verify_certificate
from tests.deploy.host.helpers import Host, free_port
from tests.installer.sshd import SshServer, running_sshd
from tests.manager.fakes import Cluster, FakeHostApi


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SshServer, Path]]:
    directory = tmp_path_factory.mktemp("sshd")
    key_path = directory / "manager_key"
    key = ensure_ssh_key(key_path)
    with running_sshd(directory) as server:
        with (directory / "authorized_keys").open("a") as f:
            f.write(key.export_public_key().decode())
        yield server, key_path


@dataclass
class Env:
    client: httpx.AsyncClient
    db: Database
    add_host: AddHost
    host: Host
    server: SshServer
    ca: CertificateAuthority
    fingerprint: str
    hostd_port: int
    password: str
    app: Any

    def body(self, **extra: Any) -> dict[str, Any]:
        config = {
            "host_id": "1",
            "sdUUID": "0b6e1f3c-8a42-4c43-9a39-1d1b3b4c5d6e",
            "storage": self.host.storage,
            "hostname": "localhost",
        }
        config.update(extra.pop("config", {}))
        return {
            "name": "host1.lab",
            "address": "127.0.0.1",
            "ssh_port": self.server.port,
            "deploy_hosted_engine": True,
            "hostd_port": self.hostd_port,
            "hosted_engine_config": config,
            **extra,
        }

    async def finished(self, answer: httpx.Response) -> dict[str, Any]:
        assert answer.status_code == 202, answer.text
        deploy_id = answer.json()["deploy_id"]
        assert answer.json()["events"] == f"/api/hosts/deploys/{deploy_id}"
        task = self.add_host.deploys[deploy_id].task
        assert task is not None
        await asyncio.wait_for(asyncio.shield(task), 60)
        got = await self.client.get(answer.json()["events"])
        assert got.status_code == 200
        result: dict[str, Any] = got.json()
        return result


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def env(tmp_path: Path, sshd: tuple[SshServer, Path]) -> AsyncIterator[Env]:
    server, key_path = sshd
    db = open_database(tmp_path / "data")
    cluster = Cluster()

    def factory(row: HostRow) -> FakeHostApi:
        return FakeHostApi(cluster, row)

    app = create_app(db, tmp_path / "data", factory, timeout=0.5, poll_interval=None)
    password = (tmp_path / "data" / "admin-password").read_text().strip()
    ca = CertificateAuthority.create(tmp_path / "ca")
    host = Host(tmp_path / "host")
    extra = (
        f"SYSTEM/root=str:{host.root}",
        "SYSTEM/commandPath=str:/usr/bin",
        f"CORE/logDir=str:{host.logdir}",
        "PACKAGER/provider=str:offline",
        "SYSTEM/servicesProvider=str:command",
        f"SYSTEM/servicesCommand=str:{host.bin / 'svc'}",
    )
    add_host = AddHost(db, AddHostSettings(key_path, tmp_path / "ca", sys.executable, extra))
    app.state.add_host = add_host
    fingerprint = server.known_hosts.split(" ", 1)[1]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://manager", auth=("admin", password)
    ) as client:
        import asyncssh

        fp = asyncssh.import_public_key(fingerprint).get_fingerprint("sha256")
        yield Env(client, db, add_host, host, server, ca, fp, free_port(), password, app)
        await add_host.aclose()
    db.close()


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
