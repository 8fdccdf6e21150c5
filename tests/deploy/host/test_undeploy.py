"""HOSTED_ENGINE/action=remove: services stopped and disabled, the slot cleaned, the conf and
PKI files removed; the last host is refused (nothing changed) unless forced."""

from __future__ import annotations

from pathlib import Path

import pytest

from hosted_engine.deploy import keys

from .helpers import Host

NO_PKI = "VDSM/certificateEnrollment=str:none"
REMOVE = "HOSTED_ENGINE/action=str:remove"


@pytest.fixture
def deployed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Host:
    host = Host(tmp_path)
    assert host.run(NO_PKI, "HOSTED_ENGINE_CONFIG/host_id=str:2", capsys=capsys).code == 0
    for path in (keys.CA_FILE, keys.CERT_FILE, keys.KEY_FILE):
        host.path(path).parent.mkdir(parents=True, exist_ok=True)
        host.path(path).write_text("pem\n")
    assert host.running() == {keys.SERVICES[0], keys.SERVICES[2]}
    return host


def test_undeploy_removes_everything(deployed: Host, capsys: pytest.CaptureFixture[str]) -> None:
    deployed.set_status(1, 2)
    outcome = deployed.run(REMOVE, capsys=capsys)
    assert outcome.code == 0, outcome.stderr
    assert deployed.files() == {}
    assert deployed.he_calls() == ["--vm-status --json", "--clean-metadata --host-id=2"]
    assert deployed.running() == set()
    assert not list(deployed.path("/var/svc").glob("*.enabled"))
    stops = [c for c in deployed.service_calls() if c.startswith("stop ")]
    assert stops == [f"stop {keys.SERVICES[2]}", f"stop {keys.SERVICES[0]}"]  # agent first


def test_the_last_host_is_refused_unless_forced(
    deployed: Host, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed.set_status(2)
    before = deployed.files()
    outcome = deployed.run(REMOVE, capsys=capsys)
    assert outcome.code == 1
    (line,) = [x for x in outcome.stderr.splitlines() if x.strip()]
    assert "host 2 is the last hosted-engine host" in line
    assert "HOST_DEPLOY/forceRemove=bool:True" in line
    assert deployed.files() == before
    assert deployed.running() == {keys.SERVICES[0], keys.SERVICES[2]}
    assert deployed.he_calls() == ["--vm-status --json"]

    outcome = deployed.run(REMOVE, "HOST_DEPLOY/forceRemove=bool:True", capsys=capsys)
    assert outcome.code == 0, outcome.stderr
    assert deployed.files() == {}


def test_a_failed_stop_leaves_the_files(deployed: Host, capsys: pytest.CaptureFixture[str]) -> None:
    deployed.set_status(1, 2)
    deployed.path("/var/svc/fail-stop").touch()
    before = deployed.files()
    outcome = deployed.run(REMOVE, capsys=capsys)
    assert outcome.code == 1
    assert "Failed to stop service 'hosted-engine-agent'" in outcome.stderr
    assert "simulated failure of stop" in outcome.stderr  # the command's own stderr
    assert deployed.files() == before
    assert "--clean-metadata --host-id=2" not in deployed.he_calls()
