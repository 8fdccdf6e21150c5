"""The lab engine as a payload, and the liveliness check against it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from vm_helpers import free_port, wait_until

from hosted_engine.vm.base import ExitReason, Started, StopResult, VmState
from hosted_engine.vm.definition import VmDefinition
from hosted_engine.vm.health import check_liveliness
from hosted_engine.vm.process import PayloadSettings, ProcessVmBackend

HEALTH = "/ovirt-engine/services/health"


def engine_command(port: int) -> tuple[str, ...]:
    return (sys.executable, "-m", "hosted_engine.lab.engine_service", f"--listen=127.0.0.1:{port}")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """The engine run directly, as a payload would be, with its environment."""
    port = free_port()
    env = {
        "HOSTED_ENGINE_HOST_ID": "7",
        "HOSTED_ENGINE_VM_ID": "lab-engine",
        "HOSTED_ENGINE_DATA_DIR": str(tmp_path / "disk"),
    }
    process = subprocess.Popen(engine_command(port), env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: check_liveliness(url + HEALTH, 1.0), what="the engine to listen")
        yield process, url
    finally:
        process.kill()
        process.wait()


def test_liveliness_is_true_only_for_db_up(engine: tuple[subprocess.Popen[bytes], str]) -> None:
    _, url = engine

    assert check_liveliness(url + HEALTH, 5.0)
    assert not check_liveliness(url + "/", 5.0)  # 200, but not the health body
    assert not check_liveliness(url + "/nowhere", 5.0)  # 404


def test_liveliness_never_raises() -> None:
    assert not check_liveliness(f"http://127.0.0.1:{free_port()}{HEALTH}", 1.0)
    assert not check_liveliness("not a url", 1.0)
    assert not check_liveliness("ftp://127.0.0.1/", 1.0)


def test_engine_records_its_boot_and_exits_cleanly_on_sigterm(
    engine: tuple[subprocess.Popen[bytes], str], tmp_path: Path
) -> None:
    process, url = engine

    assert "host id: 7" in httpx.get(url + "/").text
    assert "host=7" in (tmp_path / "disk" / "boots.log").read_text()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


def test_engine_vm_through_the_process_backend(
    make_backend: Callable[..., ProcessVmBackend], tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    vm = VmDefinition(vm_id="engine-1")
    payload = PayloadSettings(command=engine_command(port), data_dir=tmp_path / "disk")
    backend = make_backend(host_id=2, payload=payload)

    assert isinstance(backend.start(vm), Started)
    wait_until(lambda: check_liveliness(url + HEALTH, 1.0), what="the engine VM healthy")

    assert "host id: 2" in httpx.get(url + "/").text
    assert json.loads(httpx.get(url + "/definition").text)["vmId"] == "engine-1"
    assert "host=2" in (tmp_path / "disk" / "boots.log").read_text()
    assert backend.shutdown(grace=10) is StopResult.DONE
    wait_until(lambda: backend.status().state is VmState.DOWN, what="the engine VM down")
    status = backend.status()
    assert (status.exit_reason, status.message) == (
        ExitReason.SHUTDOWN,
        "shut down: exited with status 0",
    )
