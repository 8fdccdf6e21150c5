"""A real 2-host lab (fast profile) with a real ``hosted-engine-hostd`` on each host.

The CA, host and manager certificates come from :mod:`hosted_engine.pki`; each hostd
listens on a free 127.0.0.1 port with its host's certificate and the cluster CA only.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hosted_engine.lab.cluster import Lab
from hosted_engine.lab.layout import host_config_path
from hosted_engine.pki import CertificateAuthority, client_context, write_key_pair
from tests.integration.conftest import wait_for

HOSTS = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Hostd:
    host_id: int
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Cluster:
    lab: Lab
    ca: CertificateAuthority
    pki: Path
    hostds: dict[int, Hostd]

    def manager_context(self) -> ssl.SSLContext:
        return client_context(self.ca.cert_path, self.pki / "manager.pem", self.pki / "manager.key")

    def http(self, host_id: int) -> httpx.Client:
        return httpx.Client(
            base_url=self.hostds[host_id].url + "/v1",
            verify=self.manager_context(),
            timeout=20.0,
            trust_env=False,
        )

    def engine_host(self) -> int:
        host: int = wait_for(self.lab.engine_host, 30, "an engine host")
        return host

    def other_host(self) -> int:
        return 2 if self.engine_host() == 1 else 1


def _answers(url: str, context: ssl.SSLContext) -> bool:
    try:
        httpx.get(url + "/v1/status", verify=context, timeout=2.0, trust_env=False)
    except httpx.HTTPError:
        return False
    return True


def start_hostd(lab: Lab, pki: Path, host_id: int, port: int, log: Path) -> Hostd:
    cmd = [
        sys.executable,
        "-m",
        "hosted_engine.hostd.server",
        "--config",
        str(host_config_path(lab.dir, host_id)),
        "--listen",
        f"127.0.0.1:{port}",
        "--cert",
        str(pki / f"host{host_id}.pem"),
        "--key",
        str(pki / f"host{host_id}.key"),
        "--ca",
        str(pki / "ca" / "ca.pem"),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    return Hostd(host_id, f"https://127.0.0.1:{port}", process, log)


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("hostd")
    pki = base / "pki"
    ca = CertificateAuthority.create(pki / "ca")
    write_key_pair(ca.issue_client("manager"), pki / "manager.pem", pki / "manager.key")
    for host_id in range(1, HOSTS + 1):
        write_key_pair(
            ca.issue_host("127.0.0.1"), pki / f"host{host_id}.pem", pki / f"host{host_id}.key"
        )
    lab = Lab.up(base / "lab", HOSTS, "fast", timeout=90, engine="stand-in")
    hostds: dict[int, Hostd] = {}
    try:
        for host_id in range(1, HOSTS + 1):
            log = base / f"hostd{host_id}.log"
            hostds[host_id] = start_hostd(lab, pki, host_id, free_port(), log)
        found = Cluster(lab, ca, pki, hostds)
        context = found.manager_context()
        for hostd in hostds.values():
            wait_for(
                lambda h=hostd: _answers(h.url, context) or h.process.poll() is not None,
                30,
                f"hostd {hostd.host_id} to answer",
            )
            assert hostd.process.poll() is None, hostd.log_text()
        yield found
    finally:
        for hostd in hostds.values():
            hostd.process.terminate()
        for hostd in hostds.values():
            try:
                hostd.process.wait(10)
            except subprocess.TimeoutExpired:
                hostd.process.kill()
                hostd.process.wait(5)
        lab.down()
        deadline = time.monotonic() + 10
        while lab.running_processes() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not lab.running_processes(), "the lab left processes running"
