"""``create_lab`` is ``hosted-engine --deploy``: host 1 first, the others as additional hosts.

Real deploys (in-process, as the lab runs them) into the lab's host roots; nothing is
started (the lab's services provider is ``caller``), so these tests need no daemons.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from hosted_engine.config.host import load_host_config
from hosted_engine.deploy.setup_domain import read_registry
from hosted_engine.errors import LabDeployError
from hosted_engine.lab import deploy, layout
from hosted_engine.lab.cluster import Lab
from hosted_engine.lab.layout import (
    answers_path,
    create_lab,
    engine_disk,
    host_config_path,
    host_dir,
    host_log_dir,
    host_pki,
    host_run_dir,
    host_state_dir,
    load_manifest,
)
from hosted_engine.lab.sanlock_daemons import IO_TIMEOUT
from hosted_engine.pki import CertificateAuthority
from hosted_engine.storage.config_archive import ConfigArchive
from hosted_engine.storage.domain import ha_dir
from hosted_engine.storage.ovf_store import COPY_NAMES

pytestmark = pytest.mark.lab


def _archive(lab_dir: Path, sd_uuid: str) -> dict[str, bytes]:
    return ConfigArchive.in_domain(ha_dir(lab_dir / "storage", sd_uuid)).read().members


def test_every_host_is_deployed_into_its_root_and_joins_the_registry(tmp_path: Path) -> None:
    lab_dir = tmp_path / "lab"
    manifest = create_lab(lab_dir, 3, "fast")
    assert load_manifest(lab_dir) == manifest
    disk = engine_disk(lab_dir, manifest)
    ca = CertificateAuthority.load(disk / "pki")
    for host_id in (1, 2, 3):
        conf_path = host_config_path(lab_dir, host_id)
        assert conf_path == host_dir(lab_dir, host_id) / "etc/hosted-engine/hosted-engine.conf"
        config = load_host_config(conf_path)
        assert (config.host_id, config.hostname) == (host_id, f"host{host_id}.lab")
        assert (config.sd_uuid, config.vm_id) == (manifest.sd_uuid, manifest.vm_id)
        assert config.run_dir == host_run_dir(lab_dir, host_id)
        assert config.state_dir == host_state_dir(lab_dir, host_id)
        assert config.log_dir == host_log_dir(lab_dir, host_id)
        assert config.raw["timing_profile"] == "fast" and config.lease_backend == "fcntl"
        assert config.watchdog == f"unix:{layout.watchdog_socket(lab_dir, host_id)}"
        assert config.fault_file == layout.fault_file(lab_dir, host_id)
        assert config.metrics_listen == ("127.0.0.1", manifest.metrics_ports[host_id - 1])
        ca_pem, cert, key = host_pki(lab_dir, host_id)
        assert ca_pem.read_bytes() == ca.cert_path.read_bytes()  # enrolled with the domain's CA
        assert cert.is_file() and key.stat().st_mode & 0o077 == 0
        # deploy's own record of this host's answers, and the lab's answer file
        assert (host_dir(lab_dir, host_id) / "etc/hosted-engine/answers.conf").is_file()
        assert answers_path(lab_dir, host_id).is_file()
    entries = read_registry(disk / "hosts.json")
    assert [(e.host_id, e.name, e.address, e.port) for e in entries] == [
        (h, f"host{h}.lab", "127.0.0.1", manifest.hostd_port(h)) for h in (1, 2, 3)
    ]
    members = _archive(lab_dir, manifest.sd_uuid)
    assert f"OVEHOSTED_STORAGE/sdUUID=str:{manifest.sd_uuid}" in members["fhanswers.conf"].decode()
    assert all((ha_dir(lab_dir / "storage", manifest.sd_uuid) / n).is_file() for n in COPY_NAMES)
    # deploy left the daemons to the lab: nothing of the lab runs before `up` starts it
    assert Lab(lab_dir.resolve()).running_processes() == []
    log = next((host_dir(lab_dir, 2) / "var/log/hosted-engine-setup").glob("*.log")).read_text()
    assert "left to the caller" in log


def test_only_host_1_is_given_the_shared_answers(tmp_path: Path) -> None:
    manifest = create_lab(tmp_path / "lab", 2, "fast")
    first = answers_path(tmp_path / "lab", 1).read_text()
    second = answers_path(tmp_path / "lab", 2).read_text()
    assert f"OVEHOSTED_VM/vmUUID=str:{manifest.vm_id}" in first
    assert "OVEHOSTED_VM/vmUUID" not in second and "OVEHOSTED_HA/timingProfile" not in second
    assert "OVEHOSTED_STORAGE/hostID=int:2" in second


def test_the_manager_payload_is_deploys_default(tmp_path: Path) -> None:
    lab_dir = tmp_path / "lab"
    manifest = create_lab(lab_dir, 2, "fast")
    assert "engineCommand" not in answers_path(lab_dir, 1).read_text()
    disk = engine_disk(lab_dir, manifest)
    for host_id in (1, 2):
        command = load_host_config(host_config_path(lab_dir, host_id)).process_command
        assert command[1:3] == ("-m", "hosted_engine.manager.main")
        assert command[command.index("--listen") + 1] == f"127.0.0.1:{manifest.engine_port}"
        assert command[command.index("--hosts-file") + 1] == str(disk / "hosts.json")
        assert command[command.index("--cert") + 1] == str(disk / "pki" / "manager.pem")


def test_the_stand_in_and_sanlock_are_answers(tmp_path: Path) -> None:
    lab_dir = tmp_path / "lab"
    manifest = create_lab(lab_dir, 2, "fast", engine="stand-in", leases="sanlock")
    for host_id in (1, 2):
        config = load_host_config(host_config_path(lab_dir, host_id))
        assert config.process_command[1:3] == ("-m", "hosted_engine.lab.engine_service")
        assert config.process_command[-2:] == ("--listen", f"127.0.0.1:{manifest.engine_port}")
        assert config.lease_backend == "sanlock"
        assert config.sanlock_run_dir == layout.sanlock_run_dir(lab_dir, host_id)
        assert config.sanlock_io_timeout == IO_TIMEOUT


def test_a_domain_from_before_the_ovf_store(tmp_path: Path) -> None:
    lab_dir = tmp_path / "lab"
    manifest = create_lab(lab_dir, 1, "fast", ovf_store=False)
    ha = ha_dir(lab_dir / "storage", manifest.sd_uuid)
    assert not any((ha / n).exists() for n in COPY_NAMES)
    assert f"vmId={manifest.vm_id}" in _archive(lab_dir, manifest.sd_uuid)["vm.conf"].decode()


def test_a_failed_deploy_names_the_host_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every port the lab picks is one that is taken: host 1's preflight refuses it."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        monkeypatch.setattr(layout, "_free_port", lambda: port)
        with pytest.raises(LabDeployError) as raised:
            create_lab(tmp_path / "lab", 2, "fast")
    message = str(raised.value)
    assert message.startswith("deploying lab host 1 failed: ") and "\n" not in message
    assert f"hostd port 0.0.0.0:{port} is in use" in message
    assert (
        not (tmp_path / "lab" / "storage")
        .joinpath(load_manifest(tmp_path / "lab").sd_uuid)
        .exists()
    )


def test_a_lab_is_replaced_by_a_fresh_deploy(tmp_path: Path) -> None:
    lab_dir = tmp_path / "lab"
    old = create_lab(lab_dir, 1, "fast")
    new = create_lab(lab_dir, 2, "fast")
    assert new.sd_uuid != old.sd_uuid
    assert json.loads((lab_dir / "lab.json").read_text())["hosts"] == 2
    assert [p.name for p in (lab_dir / "storage").iterdir()] == [new.sd_uuid]
    assert deploy.host_name(2) == load_host_config(host_config_path(lab_dir, 2)).hostname
