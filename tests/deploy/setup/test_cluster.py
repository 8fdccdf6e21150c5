"""A 3-host cluster deployed from nothing with answer files into temp roots, then torn down.

Real daemons (started by the process services command), the lab's engine stand-in as
the engine VM, the fast timing profile. One test: the cluster is the expensive part.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hosted_engine.client import HAClient
from hosted_engine.deploy.process_services import stop_all
from hosted_engine.storage.domain import check_domain
from hosted_engine.vm.health import check_liveliness
from tests.deploy.setup.helpers import (
    Host,
    deploy,
    first_host_answers,
    free_port,
    make_host,
    snapshot,
)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """The hosts' roots hold UNIX sockets (108 bytes at most for a path): pytest's tmp_path
    under a worker's directory is too deep for them."""
    directory = Path(tempfile.mkdtemp(prefix="hed-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def cluster(short_tmp: Path) -> Iterator[tuple[Path, list[Host], int]]:
    tmp_path = short_tmp
    storage = tmp_path / "storage"
    storage.mkdir()
    port = free_port()
    hosts = [make_host(tmp_path, 1, storage, first_host_answers(port))]
    hosts += [make_host(tmp_path, n, storage) for n in (2, 3)]
    try:
        yield storage, hosts, port
    finally:
        stop_all(*(host.root for host in hosts))
        assert [pid for host in hosts for pid in host.leftovers()] == []


def _wait(predicate: object, timeout: float, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_three_hosts_from_nothing(cluster: tuple[Path, list[Host], int], short_tmp: Path) -> None:
    tmp_path = short_tmp
    storage, hosts, port = cluster
    url = f"http://127.0.0.1:{port}/ovirt-engine/services/health"
    first = deploy(hosts[0], f"--generate-answer={tmp_path / 'generated.conf'}")
    assert first.returncode == 0, first.stderr + first.stdout
    assert "The engine VM is healthy" in first.stdout
    assert f"Manager: http://127.0.0.1:{port}/" in first.stdout
    assert check_liveliness(url, 2.0)
    (sd_uuid,) = [p.name for p in storage.iterdir()]  # no staging directory left
    check_domain(storage, sd_uuid)
    generated = (tmp_path / "generated.conf").read_text()
    assert "OVEHOSTED_STORAGE/sdUUID=str:" + sd_uuid in generated
    assert "OVEHOSTED_VM/vmMACAddr=str:00:16:3e:" in generated

    for host in hosts[1:]:
        result = deploy(host)
        assert result.returncode == 0, result.stderr + result.stdout
        assert f"This host takes the free host id {host.n}" in result.stdout
    for host in hosts:
        assert host.running() == dict.fromkeys(host.running(), True), host.n
        conf = host.root / "etc/hosted-engine/hosted-engine.conf"
        assert f"host_id={host.n}\n" in conf.read_text()
        assert (host.root / "etc/pki/hosted-engine/host.pem").is_file()
        assert (host.root / "etc/hosted-engine/answers.conf").stat().st_mode & 0o077 == 0
    registry = json.loads((storage / sd_uuid / "images/engine-disk/hosts.json").read_text())
    assert [(e["host_id"], e["name"]) for e in registry] == [
        (1, "host1.test"),
        (2, "host2.test"),
        (3, "host3.test"),
    ]
    client = HAClient.from_config(hosts[2].root / "etc/hosted-engine/hosted-engine.conf")
    _wait(lambda: len(client.get_status().hosts) == 3, 20.0, "host 3 to see every host")

    # re-running on a deployed host changes nothing and succeeds
    before = snapshot(hosts[0].root / "etc", storage / sd_uuid / "images/engine-disk/pki")
    again = deploy(hosts[0])
    assert again.returncode == 0, again.stderr
    assert "already deployed as host 1" in again.stdout
    after = snapshot(hosts[0].root / "etc", storage / sd_uuid / "images/engine-disk/pki")
    assert after == before
