"""The process backend with real processes, real signals and real fcntl leases."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from vm_helpers import gone, wait_until

from hosted_engine.locking import FcntlLeaseManager
from hosted_engine.vm.base import (
    AlreadyRunning,
    ExitReason,
    LeaseHeld,
    Started,
    StartFailed,
    StopResult,
    VmState,
)
from hosted_engine.vm.definition import VmDefinition
from hosted_engine.vm.process import ProcessVmBackend

Backends = Callable[..., ProcessVmBackend]
SLEEPER = ("sleep", "60")
IGNORES_SIGTERM = (
    "import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "pathlib.Path(sys.argv[1]).touch(); time.sleep(60)"
)


def definition(
    vm_id: str, command: tuple[str, ...] = SLEEPER, data_dir: Path | None = None
) -> VmDefinition:
    """A definition that carries its payload as a legacy vm.conf did (``command``,
    ``dataDir``); tests/ovfstore/test_payload.py covers the backend's own settings."""
    extra = {"command": shlex.join(command)}
    if data_dir is not None:
        extra["dataDir"] = str(data_dir)
    return VmDefinition(vm_id=vm_id, extra=extra)


def lease_free(lockspace: Path, vm_id: str) -> bool:
    return FcntlLeaseManager(lockspace).vm_lease_holder(vm_id) is None


def carriers_of(vm_id: str) -> set[int]:
    """Every process on the machine whose environment names this VM."""
    found = set()
    for process in psutil.process_iter():
        try:
            if process.environ().get("HOSTED_ENGINE_VM_ID") == vm_id:
                found.add(process.pid)
        except psutil.Error:
            continue
    return found


def started(backend: ProcessVmBackend, vm: VmDefinition) -> int:
    result = backend.start(vm)
    assert isinstance(result, Started), result
    return result.pid


def test_start_runs_the_payload_and_only_it_carries_the_vm_id(
    make_backend: Backends, vm_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSTED_ENGINE_VM_ID", "stale-value-of-the-agent")
    backend = make_backend(host_id=3)
    pid = started(backend, definition(vm_id, data_dir=tmp_path / "disk"))

    status = backend.status()
    assert (status.state, status.pid) == (VmState.UP, pid)
    assert carriers_of(vm_id) == {pid}
    env = psutil.Process(pid).environ()
    assert env["HOSTED_ENGINE_HOST_ID"] == "3"
    assert env["HOSTED_ENGINE_DATA_DIR"] == str(tmp_path / "disk")
    assert json.loads(Path(env["HOSTED_ENGINE_VM_DEFINITION"]).read_text())["vmId"] == vm_id
    supervisor = backend.run_dir.supervisor_pid()
    assert supervisor is not None and supervisor != os.getpid()
    assert "HOSTED_ENGINE_VM_ID" not in psutil.Process(supervisor).environ()
    assert psutil.Process(pid).ppid() == supervisor
    assert os.getpgid(pid) == pid  # its own process group
    assert FcntlLeaseManager(backend.lockspace).vm_lease_holder(vm_id) is not None


def test_a_second_host_gets_lease_held_while_the_first_runs(
    make_backend: Backends, vm_id: str
) -> None:
    first, second = make_backend(host_id=1), make_backend(host_id=2)
    started(first, definition(vm_id))

    result = second.start(definition(vm_id))

    assert isinstance(result, LeaseHeld)
    assert result.holder is not None and "host 1" in result.holder
    assert second.status().exit_reason is ExitReason.LEASE_HELD
    assert first.status().state is VmState.UP


def test_starting_a_running_vm_is_already_running(make_backend: Backends, vm_id: str) -> None:
    backend = make_backend()
    pid = started(backend, definition(vm_id))

    result = backend.start(definition(vm_id))

    assert isinstance(result, AlreadyRunning) and result.status.pid == pid


def test_killed_payload_is_crashed_and_frees_the_lease(make_backend: Backends, vm_id: str) -> None:
    backend, other = make_backend(host_id=1), make_backend(host_id=2)
    pid = started(backend, definition(vm_id))

    os.kill(pid, signal.SIGKILL)

    wait_until(lambda: backend.status().state is VmState.DOWN, what="the VM down")
    status = backend.status()
    assert status.exit_reason is ExitReason.CRASHED
    assert status.message == "killed by signal 9"
    assert lease_free(backend.lockspace, vm_id)
    assert isinstance(other.start(definition(vm_id)), Started)


def test_killed_supervisor_takes_the_payload_and_the_lease_with_it(
    make_backend: Backends, vm_id: str
) -> None:
    backend = make_backend()
    pid = started(backend, definition(vm_id))
    supervisor = backend.run_dir.supervisor_pid()
    assert supervisor is not None

    os.kill(supervisor, signal.SIGKILL)

    wait_until(lambda: gone(pid), what="the payload to die with its supervisor")
    wait_until(lambda: lease_free(backend.lockspace, vm_id), what="the lease to be free")
    status = backend.status()
    assert (status.state, status.exit_reason) == (VmState.DOWN, ExitReason.SUPERVISOR_LOST)


def test_graceful_shutdown_of_a_cooperative_payload(make_backend: Backends, vm_id: str) -> None:
    backend = make_backend()
    started(backend, definition(vm_id))

    assert backend.shutdown(grace=30) is StopResult.DONE

    wait_until(lambda: backend.status().state is VmState.DOWN, what="the VM down")
    assert backend.status().exit_reason is ExitReason.SHUTDOWN
    assert lease_free(backend.lockspace, vm_id)
    assert backend.shutdown(grace=30) is StopResult.NOT_RUNNING


def test_payload_ignoring_sigterm_is_powered_off_after_the_grace(
    make_backend: Backends, vm_id: str, tmp_path: Path
) -> None:
    ready = tmp_path / "ignoring-sigterm"
    backend = make_backend()
    started(backend, definition(vm_id, (sys.executable, "-c", IGNORES_SIGTERM, str(ready))))
    wait_until(ready.exists, what="the payload to ignore SIGTERM")

    asked = time.monotonic()
    assert backend.shutdown(grace=0.5) is StopResult.DONE
    assert backend.status().state is VmState.UP  # shutdown only delivers the request

    wait_until(lambda: backend.status().state is VmState.DOWN, what="the VM down")
    assert time.monotonic() - asked >= 0.5
    status = backend.status()
    assert status.exit_reason is ExitReason.POWEROFF
    assert "grace" in status.message
    assert lease_free(backend.lockspace, vm_id)


def test_poweroff_returns_once_down(make_backend: Backends, vm_id: str) -> None:
    backend = make_backend()
    pid = started(backend, definition(vm_id))

    assert backend.poweroff() is StopResult.DONE

    assert gone(pid)
    assert backend.status().exit_reason is ExitReason.POWEROFF
    assert lease_free(backend.lockspace, vm_id)
    assert backend.poweroff() is StopResult.NOT_RUNNING


def test_poweroff_kills_a_supervisor_that_does_not_answer(
    make_backend: Backends, vm_id: str
) -> None:
    backend = make_backend(poweroff_timeout=0.5)
    pid = started(backend, definition(vm_id))
    supervisor = backend.run_dir.supervisor_pid()
    assert supervisor is not None
    os.kill(supervisor, signal.SIGSTOP)

    assert backend.poweroff() is StopResult.DONE

    wait_until(lambda: gone(pid), what="the payload to die with its supervisor")
    assert backend.status().exit_reason is ExitReason.POWEROFF
    wait_until(lambda: lease_free(backend.lockspace, vm_id), what="the lease to be free")


def test_stopped_payload_is_paused(make_backend: Backends, vm_id: str) -> None:
    backend = make_backend()
    pid = started(backend, definition(vm_id))

    os.kill(pid, signal.SIGSTOP)
    wait_until(lambda: backend.status().state is VmState.PAUSED, what="the VM paused")
    wait_until(
        lambda: json.loads(backend.run_dir.status_file.read_text())["state"] == "paused",
        what="the supervisor to record the pause",
    )

    os.kill(pid, signal.SIGCONT)
    wait_until(lambda: backend.status().state is VmState.UP, what="the VM up again")


def test_missing_command_is_start_failed_and_frees_the_lease(
    make_backend: Backends, vm_id: str
) -> None:
    backend = make_backend()

    result = backend.start(definition(vm_id, ("/nonexistent/engine-vm",)))

    assert isinstance(result, StartFailed) and "No such file" in result.reason
    assert backend.status().exit_reason is ExitReason.START_FAILED
    assert lease_free(backend.lockspace, vm_id)


def test_payload_exiting_at_once_is_start_failed(make_backend: Backends, vm_id: str) -> None:
    backend = make_backend()

    result = backend.start(definition(vm_id, ("sh", "-c", "exit 3")))

    assert isinstance(result, StartFailed) and "status 3" in result.reason
    assert backend.status().exit_reason is ExitReason.START_FAILED


def test_a_down_vm_starts_anew(make_backend: Backends, vm_id: str) -> None:
    backend = make_backend()
    first = started(backend, definition(vm_id))
    assert backend.poweroff() is StopResult.DONE

    second = started(backend, definition(vm_id))

    assert second != first
    assert backend.status().state is VmState.UP


def test_a_restarted_agent_finds_the_vm_up_and_can_stop_it(
    make_backend: Backends, vm_id: str
) -> None:
    pid = started(make_backend(), definition(vm_id))

    backend = make_backend()  # the agent restarted: a new backend on the same run dir

    status = backend.status()
    assert (status.state, status.pid) == (VmState.UP, pid)
    assert isinstance(backend.start(definition(vm_id)), AlreadyRunning)
    assert backend.poweroff() is StopResult.DONE
    assert backend.status().exit_reason is ExitReason.POWEROFF


def test_stats_while_up_and_none_when_down(make_backend: Backends, vm_id: str) -> None:
    backend = make_backend()
    assert backend.stats() is None
    started(backend, definition(vm_id))

    stats = backend.stats()

    assert stats is not None and stats.rss_bytes > 0 and stats.cpu_percent >= 0
    backend.poweroff()
    assert backend.stats() is None


def test_status_without_run_dir_or_with_a_torn_status_file(make_backend: Backends) -> None:
    backend = make_backend()
    assert backend.status().exit_reason is ExitReason.NOT_STARTED

    backend.run_dir.path.mkdir(parents=True)
    backend.run_dir.status_file.write_text('{"state": "up", "pi')

    status = backend.status()
    assert status.state is VmState.DOWN and "unreadable" in status.message


def test_definition_without_command_is_start_failed(make_backend: Backends, vm_id: str) -> None:
    result = make_backend().start(VmDefinition(vm_id=vm_id))

    assert isinstance(result, StartFailed)
