"""A real hostd on a real lab: mTLS refusal, every path, every error status."""

from __future__ import annotations

import json
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from hosted_engine.config.host import load_host_config
from hosted_engine.lab.layout import host_config_path
from hosted_engine.pki import (
    CertificateAuthority,
    client_context,
    rotate_host_certificate,
    write_key_pair,
)
from hosted_engine.storage.ovf_store import OvfStore
from tests.hostd.conftest import HOSTS, Cluster
from tests.integration.conftest import cli, wait_for

pytestmark = pytest.mark.lab


@pytest.fixture(autouse=True)
def no_maintenance(cluster: Cluster) -> Iterator[None]:
    yield
    for host_id in range(1, HOSTS + 1):
        cli(cluster.lab, host_id, "--set-maintenance", "--mode=none")


def message(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"message"} and "\n" not in body["message"]
    text: str = body["message"]
    return text


def test_only_certificates_of_the_cluster_ca_get_in(cluster: Cluster, tmp_path: Path) -> None:
    url = cluster.hostds[1].url + "/v1/status"
    with pytest.raises(httpx.HTTPError):  # no client certificate
        no_cert = ssl.create_default_context(cafile=str(cluster.ca.cert_path))
        httpx.get(url, verify=no_cert, timeout=5.0, trust_env=False)
    other = CertificateAuthority.create(tmp_path / "other")
    write_key_pair(other.issue_client("manager"), tmp_path / "i.pem", tmp_path / "i.key")
    intruder = client_context(cluster.ca.cert_path, tmp_path / "i.pem", tmp_path / "i.key")
    with pytest.raises(httpx.HTTPError):  # a certificate of another CA, same name
        httpx.get(url, verify=intruder, timeout=5.0, trust_env=False)
    with cluster.http(1) as http:
        assert http.get("/status").status_code == 200
    assert "GET /v1/status 200 cn=manager" in cluster.hostds[1].log_text()


def test_status_is_each_hosts_own_record(cluster: Cluster) -> None:
    engine = cluster.engine_host()
    for host_id in range(1, HOSTS + 1):
        with cluster.http(host_id) as http:

            def active(http: httpx.Client = http) -> dict[str, object] | None:
                body: dict[str, object] = http.get("/status").json()
                return body if body["ha"]["active"] else None  # type: ignore[index]

            body = wait_for(active, 30, f"host {host_id} active")
        assert body["host_id"] == host_id and body["contract"] == 1
        ha = body["ha"]
        assert ha["configured"] is True and ha["local_maintenance"] is False
        assert ha["global_maintenance"] is False and ha["score"] > 0
        assert body["engine_vm_here"] is (host_id == engine)
        assert body["stale"] is False and isinstance(body["data_age"], float)
        assert isinstance(body["state"], str) and isinstance(body["engine_status"], dict)


def test_local_maintenance_is_refused_where_the_engine_vm_runs(cluster: Cluster) -> None:
    with cluster.http(cluster.engine_host()) as http:
        refused = http.put("/maintenance/local", json={"enabled": True})
    assert refused.status_code == 409
    assert "engine VM is running on the current host" in message(refused)


def test_maintenance_with_move_engine_moves_it_then_enters_maintenance(cluster: Cluster) -> None:
    engine, other = cluster.engine_host(), cluster.other_host()
    body = {"to_host": None, "note": "kernel update", "scheduled_at": None, "by": "alice"}
    with cluster.http(other) as http:
        refused = http.post("/maintenance/local/move-engine", json=body)
    assert refused.status_code == 409 and "does not run on this host" in message(refused)
    with cluster.http(engine) as http:
        try:
            asked = http.post("/maintenance/local/move-engine", json=body)
            assert asked.status_code == 202, asked.text
            request = asked.json()
            assert (request["to_host"], request["by"], request["note"]) == (
                other,
                "alice",
                "kernel update",
            )

            def in_maintenance() -> bool:
                return bool(http.get("/status").json()["ha"]["local_maintenance"])

            wait_for(in_maintenance, 60, f"host {engine} in local maintenance after the move")
            assert cluster.lab.engine_host() == other
        finally:
            http.put("/maintenance/local", json={"enabled": False})


def test_maintenance_on_and_off_keeps_the_other_kind(cluster: Cluster) -> None:
    engine, other = cluster.engine_host(), cluster.other_host()
    with cluster.http(other) as http, cluster.http(engine) as on_engine:
        body = http.put("/maintenance/local", json={"enabled": True}).json()
        assert body["ha"]["local_maintenance"] is True
        body = on_engine.put("/maintenance/global", json={"enabled": True}).json()
        assert body["ha"]["global_maintenance"] is True
        assert http.get("/status").json()["ha"]["local_maintenance"] is True
        # the CLI reads the broker, whose copy of the flag is as old as its last scan
        wait_for(
            lambda: "GLOBAL MAINTENANCE" in cli(cluster.lab, other, "--vm-status").stdout,
            10,
            "--vm-status to show global maintenance",
        )
        # global off from the host in local maintenance: its local maintenance stays
        body = http.put("/maintenance/global", json={"enabled": False}).json()
        assert body["ha"] | {"score": 0} == {
            "configured": True,
            "active": body["ha"]["active"],
            "score": 0,
            "global_maintenance": False,
            "local_maintenance": True,
        }
        body = http.put("/maintenance/local", json={"enabled": False}).json()
        assert body["ha"]["local_maintenance"] is False
        assert body["ha"]["global_maintenance"] is False


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", b'{"enabled": "yes"}', b"{}", b'{"enabled": 1}'],
)
def test_a_bad_maintenance_body_is_422(cluster: Cluster, body: bytes) -> None:
    with cluster.http(1) as http:
        answer = http.put("/maintenance/global", content=body)
    assert answer.status_code == 422, answer.text
    message(answer)


def test_vm_definition_edit_is_on_storage_when_the_answer_comes(cluster: Cluster) -> None:
    with cluster.http(1) as http:
        got = http.get("/vm-definition")
        assert got.status_code == 200
        view = got.json()
        assert view["source"] == "ovf" and view["definition"]["source"] == "ovf"
        assert got.headers["etag"] == f'"{view["etag"]}"'
        memory = view["definition"]["memSize"] + 64
        put = http.put(
            "/vm-definition",
            json={"changes": {"memSize": memory}},
            headers={"If-Match": got.headers["etag"]},
        )
        assert put.status_code == 200, put.text
        assert put.json()["definition"]["memSize"] == memory
        assert put.json()["etag"] != view["etag"]
    # what every host would read from storage now
    stored, etag, source = cluster.lab.client(2).vm_definition_for_edit()
    assert (stored.mem_size_mib, etag, source) == (memory, put.json()["etag"], "ovf")
    shown = json.loads(cli(cluster.lab, 1, "--show-vm-definition", "--json").stdout)
    assert shown["memSize"] == memory  # the local broker's cache was refreshed at once


def test_an_edit_against_a_changed_ovf_is_412(cluster: Cluster) -> None:
    with cluster.http(1) as http:
        got = http.get("/vm-definition")
        memory = got.json()["definition"]["memSize"]
        # a CLI edit lands between the read and the write
        done = cli(
            cluster.lab,
            2,
            "--set-shared-config",
            "memSize",
            str(memory + 32),
            "--type=vm",
            "--force",
        )
        assert done.returncode == 0, done.stderr
        late = http.put(
            "/vm-definition",
            json={"changes": {"memSize": memory + 64}},
            headers={"If-Match": got.headers["etag"]},
        )
        assert late.status_code == 412 and "changed" in message(late)
        missing = http.put("/vm-definition", json={"changes": {"memSize": 512}})
        assert missing.status_code == 412 and "If-Match" in message(missing)
    assert cluster.lab.client(1).vm_definition_for_edit()[0].mem_size_mib == memory + 32


@pytest.mark.parametrize(
    "changes",
    [{"memSize": "lots"}, {"noSuchKey": 1}, {"memSize": 512, "sockets": 0}, {"memSize": ""}],
)
def test_a_bad_edit_is_422_and_changes_nothing(
    cluster: Cluster, changes: dict[str, object]
) -> None:
    with cluster.http(1) as http:
        got = http.get("/vm-definition")
        bad = http.put(
            "/vm-definition", json={"changes": changes}, headers={"If-Match": got.headers["etag"]}
        )
        assert bad.status_code == 422, bad.text
        message(bad)
        assert http.get("/vm-definition").headers["etag"] == got.headers["etag"]
        for body in (b"nope", b'{"changes": [1]}', b'{"changes": {"memSize": [1]}}'):
            answer = http.put(
                "/vm-definition", content=body, headers={"If-Match": got.headers["etag"]}
            )
            assert answer.status_code == 422, answer.text


def test_no_ovf_in_the_store_is_409(cluster: Cluster) -> None:
    store = OvfStore(load_host_config(host_config_path(cluster.lab.dir, 1)).ha_dir)
    before = store.read()
    members = before.base_members()
    name = next(n for n in members if n.endswith(".ovf"))
    store.replace(before.expected, {k: v for k, v in members.items() if k != name})
    try:
        with cluster.http(1) as http:
            got = http.get("/vm-definition")
            assert got.status_code == 200 and got.json()["source"] == "vm.conf"
            refused = http.put(
                "/vm-definition",
                json={"changes": {"memSize": 512}},
                headers={"If-Match": got.headers["etag"]},
            )
        assert refused.status_code == 409
        assert "has no OVF in the OVF_STORE yet" in message(refused)
    finally:
        store.replace(store.read().expected, members)


def test_shared_config_get_and_set(cluster: Cluster) -> None:
    with cluster.http(1) as http:
        put = http.put("/shared-config/broker/source-email", json={"value": "he@lab.example"})
        assert put.status_code == 200, put.text
        assert put.json() == {"key": "source-email", "value": "he@lab.example", "type": "broker"}
        got = http.get("/shared-config/broker/source-email").json()
        assert got["value"] == "he@lab.example"
        vm = http.get("/shared-config/vm/memSize")
        assert vm.status_code == 200 and vm.json()["type"] == "vm"
    done = cli(cluster.lab, 2, "--get-shared-config", "source-email", "--type=broker")
    assert "he@lab.example" in done.stdout


def test_shared_config_errors(cluster: Cluster) -> None:
    with cluster.http(1) as http:
        no_type = http.get("/shared-config/nope/memSize")
        assert no_type.status_code == 404
        assert message(no_type).startswith("Invalid configuration type nope")
        no_key = http.get("/shared-config/vm/noSuchKey")
        assert no_key.status_code == 404
        assert message(no_key) == "Invalid configuration key noSuchKey."
        assert http.put("/shared-config/he_shared/nokey", json={"value": "x"}).status_code == 404
        bad = http.put("/shared-config/vm/memSize", json={"value": "lots"})
        assert bad.status_code == 422, bad.text
        assert http.put("/shared-config/vm/memSize", json={"value": 5}).status_code == 422
        assert http.put("/shared-config/vm/memSize", content=b"{").status_code == 422
        line = http.put("/shared-config/broker/source-email", json={"value": "a\nb"})
        assert line.status_code == 422, line.text
        path = http.get("/no/such/path")
        assert path.status_code == 404 and "no such path" in message(path)
        assert http.delete("/vm-definition").status_code == 405


def served_certificate(url: str, ca: Path) -> bytes:
    host, port = url.removeprefix("https://").split(":")
    context = ssl.create_default_context(cafile=str(ca))
    context.check_hostname = False
    raw = socket.create_connection((host, int(port)), timeout=5)
    with context.wrap_socket(raw) as tls:  # the server's cert comes before ours is asked
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def test_a_rotated_certificate_is_served_after_sighup(cluster: Cluster) -> None:
    hostd = cluster.hostds[2]
    pki = cluster.pki
    before = served_certificate(hostd.url, cluster.ca.cert_path)
    pair = rotate_host_certificate(cluster.ca, "127.0.0.1", pki / "host2.pem", pki / "host2.key")
    hostd.process.send_signal(signal.SIGHUP)
    wait_for(lambda: "certificate reloaded" in hostd.log_text(), 10, "the reload")
    after = served_certificate(hostd.url, cluster.ca.cert_path)
    assert after != before
    assert after == pair.certificate.public_bytes(serialization.Encoding.DER)
    with cluster.http(2) as http:
        assert http.get("/status").status_code == 200


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--listen", "nowhere"], "not HOST:PORT"),
        (["--key", "/nonexistent/host.key"], "cannot load the TLS files"),
        (["--config", "/nonexistent/hosted-engine.conf"], "hosted-engine.conf"),
    ],
)
def test_bad_arguments_get_one_line(cluster: Cluster, args: list[str], words: str) -> None:
    pki = cluster.pki
    base = {
        "--config": str(host_config_path(cluster.lab.dir, 1)),
        "--listen": "127.0.0.1:1",
        "--cert": str(pki / "host1.pem"),
        "--key": str(pki / "host1.key"),
        "--ca": str(pki / "ca" / "ca.pem"),
    }
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    cmd = [sys.executable, "-m", "hosted_engine.hostd.server"]
    for option, value in base.items():
        cmd += [option, value]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert done.returncode in (1, 2)
    assert "Traceback" not in done.stderr and words in done.stderr, done.stderr


def test_a_host_whose_agent_stopped_is_not_active(cluster: Cluster) -> None:
    other = cluster.other_host()
    cluster.lab.stop_agent(other)
    try:
        with cluster.http(other) as http:

            def inactive() -> dict[str, object] | None:
                body: dict[str, object] = http.get("/status").json()
                return None if body["ha"]["active"] else body  # type: ignore[index]

            body = wait_for(inactive, 30, "the host to be not active")
        assert body["ha"]["configured"] is True  # type: ignore[index]
    finally:
        cluster.lab.start_host(other)
    with cluster.http(other) as http:
        wait_for(lambda: http.get("/status").json()["ha"]["active"], 30, "active again")


def test_history_is_the_shared_domains_on_every_host(cluster: Cluster) -> None:
    """The lab's first start is in the history; every host API serves the same file."""
    from hosted_engine.hostd.contract import HistoryView
    from hosted_engine.storage.history import HistoryEntry

    def first_start() -> list[HistoryEntry] | None:
        with cluster.http(1) as http:
            entries = HistoryView.from_json(http.get("/history").json()).entries
        return list(entries) if entries else None

    entries = wait_for(first_start, 30, "the engine's first start in the history")
    assert entries[0].cause.value == "first start"
    with cluster.http(2) as http:
        assert HistoryView.from_json(http.get("/history").json()).entries[0] == entries[0]
