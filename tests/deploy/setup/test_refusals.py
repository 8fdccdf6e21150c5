"""What stops a deploy before it changes anything: a MISC abort, bad answers, a taken id.

No daemon is started here (each run fails before CLOSEUP), so these are quick.
"""

from __future__ import annotations

import io
import signal
import time
from pathlib import Path

import pytest

from hosted_engine.cli import deploy as deploy_cli
from hosted_engine.deploy.setup_domain import HostEntry, NewDomain, registry_path
from hosted_engine.vm.definition import from_values
from hosted_engine.vm.ovf.writer import ovf_from_definition
from tests.deploy.setup.helpers import (
    STUBS,
    Host,
    deploy,
    first_host_answers,
    make_host,
    start_deploy,
)


def _one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    path = tmp_path / "storage"
    path.mkdir()
    return path


def _first(tmp_path: Path, storage: Path, **extra: str) -> Host:
    return make_host(tmp_path, 1, storage, {**first_host_answers(8080), **extra})


def test_abort_in_misc_rolls_every_file_back(tmp_path: Path, storage: Path) -> None:
    host = _first(tmp_path, storage)
    result = deploy(
        host,
        f"--otopi-environment=APPEND:BASE/pluginPath=str:{STUBS}",
        "--otopi-environment=APPEND:BASE/pluginGroups=str:abort-misc",
    )
    assert result.returncode == 1
    line = _one_line_error(result.stderr)
    assert "aborted at test.abort: aborted by the test; log: " in line
    assert list(storage.iterdir()) == []  # neither the domain nor its staging directory
    assert host.files() == []


def test_a_taken_host_id_is_refused_naming_its_holder(tmp_path: Path, storage: Path) -> None:
    sd_uuid = "0e7bc6f4-2c0e-4e28-8f1e-7d7bb1d6b4b9"
    vm_id = "d3cbaf53-acb2-4871-8c1a-f639071c862f"
    members = dict.fromkeys(("version", "hosted-engine.conf", "broker.conf", "vm.conf"), b"")
    members["fhanswers.conf"] = b"[environment:default]\nOVEHOSTED_NETWORK/fqdn=str:127.0.0.1\n"
    ovf = ovf_from_definition(from_values({"vmId": vm_id}))
    domain = NewDomain(
        storage, sd_uuid, members, vm_id, ovf, HostEntry(1, "host1.test", "10.0.0.1", 54323)
    )
    domain.prepare()
    domain.commit()
    before = registry_path(storage, sd_uuid).read_bytes()
    host = make_host(tmp_path, 2, storage, {"OVEHOSTED_STORAGE/hostID": "int:1"})
    result = deploy(host)
    assert result.returncode == 1
    line = _one_line_error(result.stderr)
    assert "OVEHOSTED_STORAGE/hostID: host id 1 is taken by host1.test (10.0.0.1)" in line
    assert registry_path(storage, sd_uuid).read_bytes() == before
    assert host.files() == []


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"OVEHOSTED_STORAGE/colour": "str:blue"}, "OVEHOSTED_STORAGE/colour"),
        ({"OVEHOSTED_VM/vmVCpus": "str:two"}, "OVEHOSTED_VM/vmVCpus"),
        ({"OVEHOSTED_VM/vmMACAddr": "str:01:16:3e:00:00:01"}, "multicast"),
        (
            {"OVEHOSTED_STORAGE/storageDomainConnection": "str:/nonexistent/he"},
            "/nonexistent/he does not exist",
        ),
    ],
    ids=["unknown-key", "bad-type", "bad-mac", "no-storage"],
)
def test_bad_answers_stop_with_one_line(
    tmp_path: Path, storage: Path, extra: dict[str, str], expected: str
) -> None:
    host = _first(tmp_path, storage, **extra)
    result = deploy(host)
    assert result.returncode == 1, result.stdout
    assert expected in _one_line_error(result.stderr)
    assert list(storage.iterdir()) == []
    assert host.files() == []


def test_ctrl_c_before_the_commit_rolls_every_file_back(tmp_path: Path, storage: Path) -> None:
    host = _first(tmp_path, storage)
    blocked = tmp_path / "blocked"
    proc = start_deploy(
        host,
        f"--otopi-environment=APPEND:BASE/pluginPath=str:{STUBS}",
        "--otopi-environment=APPEND:BASE/pluginGroups=str:block-misc",
        env={"DEPLOY_TEST_BLOCKED": str(blocked)},
    )
    try:
        deadline = time.monotonic() + 30
        while not blocked.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never reached MISC"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1
    line = _one_line_error(stderr)
    assert "at test.block: interrupted by SIGINT; log: " in line
    assert list(storage.iterdir()) == []
    assert host.files() == []


def test_machine_dialect_reports_in_the_protocol(tmp_path: Path, storage: Path) -> None:
    host = _first(tmp_path, storage, **{"OVEHOSTED_VM/vmVCpus": "int:0"})
    result = deploy(host, "--machine")
    assert result.returncode == 1
    assert "OVEHOSTED_VM/vmVCpus" in _one_line_error(result.stderr)
    lines = result.stdout.splitlines()
    assert all(line.startswith(("#", "*")) for line in lines), result.stdout
    assert any(line.startswith("***L:ERROR") for line in lines)
    assert lines[-1] == "***TERMINATE"


def test_a_person_is_asked_again_after_a_bad_answer(
    tmp_path: Path, storage: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = _first(tmp_path, storage)
    text = host.answers.read_text().replace(
        f"OVEHOSTED_STORAGE/storageDomainConnection=str:{storage}\n", ""
    )
    host.answers.write_text(text)
    out = io.StringIO()
    code = deploy_cli.main(
        [
            "--root",
            str(host.root),
            f"--config-append={host.answers}",
            f"--otopi-environment=APPEND:BASE/pluginPath=str:{STUBS}",
            "--otopi-environment=APPEND:BASE/pluginGroups=str:abort-misc",
        ],
        stdin=io.StringIO(f"/nonexistent/he\n{storage}\n"),
        stdout=out,
    )
    said = out.getvalue()
    assert "/nonexistent/he does not exist" in said
    assert "No hosted-engine domain" in said  # the second answer was taken
    assert code == 1
    assert "aborted at test.abort" in capsys.readouterr().err
    assert list(storage.iterdir()) == []
