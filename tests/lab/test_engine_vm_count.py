"""The lab counts engine VMs, not the processes that carry the VM id.

A payload's children inherit its environment: the manager, importing asyncssh, runs
``ldconfig``, ``gcc`` and ``ld`` through ``ctypes.util.find_library``. Counted as
processes, one VM running such a command looked like two or four engine VMs at once, in
the samplers every "never two VMs" check relies on. Real process groups stand in for
payloads here: a shell leading its group, with children of its own.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator

import psutil
import pytest

from hosted_engine.lab import processes

# the payload and two children, all carrying the VM id; the line says they all run
PAYLOAD = "sleep 60 & sleep 60 & echo ready; wait"


@pytest.fixture
def vm_id() -> str:
    return str(uuid.uuid4())


Start = Callable[[], "subprocess.Popen[str]"]


@pytest.fixture
def start(vm_id: str) -> Iterator[Start]:
    started: list[subprocess.Popen[str]] = []

    def run() -> subprocess.Popen[str]:
        env = {**os.environ, "HOSTED_ENGINE_VM_ID": vm_id}
        proc = subprocess.Popen(
            ["sh", "-c", PAYLOAD], env=env, process_group=0, stdout=subprocess.PIPE, text=True
        )
        started.append(proc)
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        return proc

    yield run
    for proc in started:
        os.killpg(proc.pid, 9)
        proc.wait()


def test_a_payload_with_children_is_one_vm(vm_id: str, start: Start) -> None:
    payload = start()
    carriers = processes.engine_vm_processes(vm_id)
    assert len(carriers) == 3  # what the old count reported as three engine VMs
    assert [p.pid for p in processes.one_per_vm(carriers)] == [payload.pid]


def test_two_payloads_are_two_vms(vm_id: str, start: Start) -> None:
    first, second = start(), start()
    vms = processes.one_per_vm(processes.engine_vm_processes(vm_id))
    assert sorted(p.pid for p in vms) == sorted([first.pid, second.pid])


def test_children_left_by_a_dead_leader_are_still_a_vm(vm_id: str, start: Start) -> None:
    payload = start()
    children = psutil.Process(payload.pid).children()
    payload.kill()
    payload.wait()
    vms = processes.one_per_vm(processes.engine_vm_processes(vm_id))
    assert [p.pid for p in vms] == [min(c.pid for c in children)]


def test_another_vm_id_is_not_counted(start: Start) -> None:
    start()
    assert processes.engine_vm_processes(str(uuid.uuid4())) == []
