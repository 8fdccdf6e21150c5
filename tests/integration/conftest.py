"""A real 3-host lab (fast profile) shared by the integration tests of a module.

Every test runs with an engine-VM sampler: throughout the test it counts the processes
that carry the engine VM's id, and the test fails if it ever saw two at once. After each
test the lab is put back: every host running, no maintenance, the engine healthy.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hosted_engine.lab import processes, sanlock_daemons
from hosted_engine.lab.cluster import Lab, engine_healthy
from hosted_engine.lab.layout import fault_file, host_config_path

HOSTS = 3


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll until ``predicate()`` is truthy; the event itself is what we wait for."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def cli(lab: Lab, host_id: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hosted_engine.cli.main", *args],
        env={
            "HOSTED_ENGINE_CONFIG": str(host_config_path(lab.dir, host_id)),
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def host_states(lab: Lab) -> dict[int, dict[str, Any]]:
    return {h["id"]: h for h in lab.status()["hosts"]}


class VmSampler:
    """Counts engine VM payloads on the machine every 50 ms in a thread."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.max_seen = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.max_seen = max(self.max_seen, len(self.lab.engine_vms()))
            self.samples += 1
            self._stop.wait(0.05)

    def __enter__(self) -> VmSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


BOTH_LEASE_BACKENDS = pytest.mark.parametrize("lab", ["fcntl", "sanlock"], indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``slow_with_sanlock`` tests are ``slow`` in their sanlock variant only."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        sanlock = callspec is not None and callspec.params.get("lab") == "sanlock"
        if sanlock and item.get_closest_marker("slow_with_sanlock"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Lab]:
    """fcntl leases unless the module runs its tests with both (``BOTH_LEASE_BACKENDS``)."""
    leases = getattr(request, "param", "fcntl")
    if leases == "sanlock" and (reason := sanlock_daemons.available()):
        pytest.skip(reason)
    lab_dir = tmp_path_factory.mktemp(f"lab-{leases}")
    the_lab = Lab.up(lab_dir, HOSTS, "fast", timeout=90, leases=leases)
    try:
        yield the_lab
    finally:
        the_lab.down()
        assert not the_lab.running_processes(), "the lab left processes running"


def host_death_takeover(lab: Lab) -> float:
    """How long another host may take to start the engine after its host died: with
    sanlock, the dead host's delta lease must expire first (8 io timeouts + 60 s)."""
    if lab.manifest.leases == "sanlock":
        return 8 * sanlock_daemons.IO_TIMEOUT + 60 + 40
    return 30


def restore(lab: Lab) -> None:
    for host_id in range(1, HOSTS + 1):
        fault_file(lab.dir, host_id).unlink(missing_ok=True)
        lab.thaw_host(host_id)
        cli(lab, host_id, "--set-maintenance", "--mode=none")
        lab.start_host(host_id)
    wait_for(lambda: engine_healthy(lab.manifest.engine_url), 60, "the engine to be healthy")
    wait_for(lambda: all(h["live"] for h in lab.status()["hosts"]), 30, "every host to be live")


@pytest.fixture
def sampler(lab: Lab) -> Iterator[VmSampler]:
    with VmSampler(lab) as s:
        yield s
    restore(lab)
    assert s.samples > 0
    assert s.max_seen <= 1, f"saw {s.max_seen} engine VMs at once"


__all__ = [
    "BOTH_LEASE_BACKENDS",
    "cli",
    "host_death_takeover",
    "host_states",
    "processes",
    "wait_for",
]
