"""The lab's watchdog: a process outside the host that resets the host when unpetted.

Real processes stand in for the host (sleeping Pythons whose command lines name the
host's directory, as the lab's daemons do), and the watchdog runs as the lab runs it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from hosted_engine.errors import WatchdogError
from hosted_engine.lab import processes
from hosted_engine.lab.layout import host_dir, watchdog_resets, watchdog_socket
from hosted_engine.locking.watchdog import SocketWatchdog, ask_status, last_reset, open_watchdog

WAIT = "import signal; print('ready', flush=True); signal.pause()"


def _spawn(*args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", WAIT, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    return proc


def _gone(proc: subprocess.Popen[str], timeout: float) -> bool:
    try:
        proc.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Path]:
    """A lab directory with host 1's watchdog running and nothing else."""
    watchdog_socket(tmp_path, 1).parent.mkdir()
    processes.start_watchdog(tmp_path, 1)
    deadline = time.monotonic() + 10
    while True:
        try:
            ask_status(watchdog_socket(tmp_path, 1))
            break
        except WatchdogError:
            assert time.monotonic() < deadline, "the watchdog did not come up"
            time.sleep(0.05)
    yield tmp_path
    dogs = list(processes.watchdog_processes(tmp_path).values())
    processes.stop_gracefully(dogs, 5)
    assert not processes.watchdog_processes(tmp_path)


@pytest.fixture
def host(lab: Path) -> Iterator[list[subprocess.Popen[str]]]:
    procs = [_spawn(str(host_dir(lab, 1) / "daemon")), _spawn(str(host_dir(lab, 1) / "vm"))]
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait()


def test_an_unpetted_watchdog_resets_the_host_even_frozen(
    lab: Path, host: list[subprocess.Popen[str]]
) -> None:
    bystander = _spawn(str(lab / "hosts" / "host10" / "daemon"))  # not host 1
    try:
        for proc in host:
            proc.send_signal(signal.SIGSTOP)
        dog = SocketWatchdog(watchdog_socket(lab, 1))
        armed_at = time.time()
        dog.arm(0.5)
        assert all(_gone(proc, 10) for proc in host), "the host was not reset"
        assert not _gone(bystander, 0.2)
        entry = json.loads(watchdog_resets(lab, 1).read_text().splitlines()[-1])
        assert entry["killed"] == 2 and "not petted" in entry["reason"]
        reset = last_reset(f"unix:{watchdog_socket(lab, 1)}")
        assert reset is not None and reset >= armed_at
    finally:
        bystander.kill()
        bystander.wait()


def test_pets_disarming_and_closing_keep_the_host(
    lab: Path, host: list[subprocess.Popen[str]]
) -> None:
    dog = SocketWatchdog(watchdog_socket(lab, 1))
    dog.arm(0.5)
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        dog.pet()
        time.sleep(0.1)
    dog.disarm()
    closer = SocketWatchdog(watchdog_socket(lab, 1))
    closer.arm(0.5)
    assert closer._sock is not None
    closer._sock.close()  # the holder died: its VM died with it
    assert not any(_gone(proc, 1.5) for proc in host)
    assert last_reset(f"unix:{watchdog_socket(lab, 1)}") is None
    assert all(psutil.Process(h.pid).status() != psutil.STATUS_ZOMBIE for h in host)


def test_bad_requests_and_specs_are_one_line_errors(lab: Path) -> None:
    dog = SocketWatchdog(watchdog_socket(lab, 1))
    with pytest.raises(WatchdogError, match="refused"):
        dog.arm(-1)
    dog.disarm()
    with pytest.raises(WatchdogError, match="must be 'none'"):
        open_watchdog("watchdog0")
    with pytest.raises(WatchdogError, match="cannot reach"):
        SocketWatchdog(lab / "nowhere.sock").arm(1)
    assert open_watchdog("none") is None
