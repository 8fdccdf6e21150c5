"""``hosted-engine-lab kill-host 1`` kills host 1's processes and nobody else's.

The host's processes were once found by a substring of their command line, so host 1's
directory ``.../hosts/host1`` also matched ``.../hosts/host10/...`` to ``host19``. Real
processes stand in for a lab here: sleeping Pythons whose command lines look like the
lab's daemons and VM supervisors, on hosts 1, 10 and 11.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from hosted_engine.lab import processes
from hosted_engine.lab.layout import MANIFEST, host_config_path, host_dir
from hosted_engine.lab.main import main as lab_main

# prints once it runs its own command line, then waits for a signal
WAIT = "import signal, sys; print('ready', flush=True); signal.pause()"


def _spawn(*args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", WAIT, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"  # exec'd: its command line is the lab's
    return proc


def _host(lab: Path, host_id: int) -> list[subprocess.Popen[str]]:
    """A broker, an agent, a host API and a VM supervisor of ``host_id``, as the lab
    starts them."""
    conf = str(host_config_path(lab, host_id))
    return [
        _spawn(processes.DAEMONS["broker"], "--config", conf),
        _spawn(processes.DAEMONS["agent"], "--config", conf),
        _spawn(processes.DAEMONS["hostd"], "--config", conf, "--listen", "127.0.0.1:1"),
        _spawn("hosted_engine.vm.supervisor", f"--run-dir={host_dir(lab, host_id)}/run/vm"),
    ]


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    lab = (tmp_path / "lab").resolve()
    lab.mkdir()
    manifest = {"hosts": 12, "profile": "fast", "sd_uuid": "sd", "vm_id": "vm", "engine_port": 1}
    (lab / MANIFEST).write_text(json.dumps(manifest))
    return lab


@pytest.fixture
def hosts(lab: Path) -> Iterator[dict[int, list[subprocess.Popen[str]]]]:
    spawned: dict[int, list[subprocess.Popen[str]]] = {}
    try:
        for host_id in (1, 10, 11):
            spawned[host_id] = _host(lab, host_id)
        yield spawned
    finally:
        for procs in spawned.values():
            for proc in procs:
                proc.kill()
                proc.wait()
                assert proc.stdout is not None
                proc.stdout.close()


def test_host_processes_match_the_host_directory_exactly(
    lab: Path, hosts: dict[int, list[subprocess.Popen[str]]]
) -> None:
    for host_id, procs in hosts.items():
        found = processes.host_processes(lab, host_id)
        assert [len(found[kind]) for kind in ("broker", "agent", "hostd", "vm")] == [1, 1, 1, 1]
        assert {p.pid for ps in found.values() for p in ps} == {p.pid for p in procs}


def test_kill_host_1_leaves_hosts_10_and_11_running(
    lab: Path, hosts: dict[int, list[subprocess.Popen[str]]]
) -> None:
    assert lab_main(["kill-host", "--dir", str(lab), "1"]) == 0
    for proc in hosts[1]:
        proc.wait(timeout=10)  # the lab reaped it already (it is our child here)
        assert not psutil.pid_exists(proc.pid)
    for host_id in (10, 11):
        assert all(proc.poll() is None for proc in hosts[host_id])
        assert all(psutil.Process(proc.pid).is_running() for proc in hosts[host_id])


@pytest.mark.parametrize(
    ("arg", "matches"),
    [
        ("/lab/hosts/host1", True),
        ("/lab/hosts/host1/hosted-engine.conf", True),
        ("--run-dir=/lab/hosts/host1/run", True),
        ("/lab/hosts/host10/hosted-engine.conf", False),
        ("--run-dir=/lab/hosts/host19/run", False),
        ("/lab/hosts/host1x", False),
        ("/other/lab/hosts/host1", False),
        ("lab/hosts/host1", False),
        ('--definition={"dir": "/lab/hosts/host1"}', False),
    ],
)
def test_an_argument_names_the_host_dir_by_path_components(arg: str, matches: bool) -> None:
    from pathlib import PurePosixPath

    assert processes._in_dir(arg, PurePosixPath("/lab/hosts/host1")) is matches


def test_the_lab_view_escapes_what_a_slot_says() -> None:
    from hosted_engine.lab.view import render

    status = {
        "engine_healthy": True,
        "engine_host": 1,
        "dir": "/lab",
        "profile": "fast",
        "engine_url": "http://x/",
        "hosts": [
            {
                "id": 1,
                "broker": "up",
                "agent": "up",
                "live": True,
                "engine": {"vm": "up", "health": "good"},
                "state": "EngineUp\x1b[2J\n2     up",
                "score": 3400,
            }
        ],
    }
    screen = render(status)
    assert "\x1b" not in screen and len(screen.splitlines()) == 5
    assert "EngineUp\\x1b[2J\\x0a2" in screen
