"""The behaviour every VM backend shares, run on each: the fake, the process backend and
the libvirt backend on libvirt's test driver. Each case gets two "hosts" that share one
lease store, and a definition every backend can run.

The backend-specific tests stay in test_vm_fake.py, test_vm_process.py and
test_vm_libvirt.py (the older files still repeat some of these cases).
"""

from __future__ import annotations

import contextlib
import shlex
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from vm_helpers import wait_until

from hosted_engine.locking import FcntlLeaseManager, MemoryLeaseManager
from hosted_engine.vm.base import (
    AlreadyRunning,
    ExitReason,
    LeaseHeld,
    Started,
    StopResult,
    VmBackend,
    VmState,
)
from hosted_engine.vm.definition import VmDefinition
from hosted_engine.vm.fake import FakeVmBackend
from hosted_engine.vm.process import ProcessVmBackend

Hosts = tuple[VmBackend, VmBackend, VmDefinition]


def _fake(tmp_path: Path) -> Iterator[Hosts]:
    leases = MemoryLeaseManager()
    yield FakeVmBackend(leases, 1), FakeVmBackend(leases, 2), VmDefinition(vm_id="engine")


def _process(tmp_path: Path) -> Iterator[Hosts]:
    lockspace = tmp_path / "hosted-engine.lockspace"
    hosts = [
        ProcessVmBackend(tmp_path / f"run{i}", lockspace, i, f"host{i}", start_check=0.3)
        for i in (1, 2)
    ]
    vm = VmDefinition(vm_id=f"vm-{uuid.uuid4()}", extra={"command": shlex.join(("sleep", "60"))})
    yield hosts[0], hosts[1], vm
    for host in hosts:
        host.poweroff()


def _libvirt(tmp_path: Path) -> Iterator[Hosts]:
    libvirt: Any = pytest.importorskip("libvirt", reason="python3-libvirt is not importable")
    from hosted_engine.vm.libvirt_backend import LibvirtVmBackend
    from hosted_engine.vm.libvirt_xml import XmlSettings

    settings = XmlSettings(domain_type="test")
    lockspace = tmp_path / "lockspace"
    hosts = [
        LibvirtVmBackend("test:///default", FcntlLeaseManager(lockspace), i, settings=settings)
        for i in (1, 2)
    ]
    name = f"he-{uuid.uuid4().hex[:8]}"
    yield hosts[0], hosts[1], VmDefinition(vm_id="engine", name=name)
    for host in hosts:
        host.poweroff()
        host.close()
    conn = libvirt.open("test:///default")
    with contextlib.suppress(libvirt.libvirtError):
        conn.lookupByName(name).undefine()
    conn.close()


BACKENDS: dict[str, Callable[[Path], Iterator[Hosts]]] = {
    "fake": _fake,
    "process": _process,
    "libvirt-test": _libvirt,
}


@pytest.fixture(params=sorted(BACKENDS))
def hosts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hosts]:
    yield from BACKENDS[request.param](tmp_path)


def _down(backend: VmBackend) -> bool:
    return backend.status().state is VmState.DOWN


def test_never_started_is_down_not_started(hosts: Hosts) -> None:
    first, _, _ = hosts
    assert first.status().exit_reason is ExitReason.NOT_STARTED
    assert first.stats() is None
    assert first.poweroff() is StopResult.NOT_RUNNING


def test_only_one_host_runs_the_vm(hosts: Hosts) -> None:
    first, second, vm = hosts
    assert isinstance(first.start(vm), Started)

    result = second.start(vm)

    assert isinstance(result, LeaseHeld) and result.holder and "host 1" in result.holder
    assert second.status().exit_reason is ExitReason.LEASE_HELD
    assert first.status().state is VmState.UP


def test_starting_twice_is_already_running(hosts: Hosts) -> None:
    first, _, vm = hosts
    assert isinstance(first.start(vm), Started)
    assert isinstance(first.start(vm), AlreadyRunning)


def test_poweroff_is_poweroff_and_frees_the_lease(hosts: Hosts) -> None:
    first, second, vm = hosts
    assert isinstance(first.start(vm), Started)
    assert first.stats() is not None

    assert first.poweroff() is StopResult.DONE

    assert first.status().exit_reason is ExitReason.POWEROFF
    assert first.stats() is None
    assert isinstance(second.start(vm), Started)


def test_shutdown_ends_down_and_frees_the_lease(hosts: Hosts) -> None:
    first, second, vm = hosts
    assert isinstance(first.start(vm), Started)

    assert first.shutdown(5) is StopResult.DONE
    wait_until(lambda: _down(first), 10, "the VM to go down")

    assert first.status().exit_reason in (ExitReason.SHUTDOWN, ExitReason.POWEROFF)
    assert isinstance(second.start(vm), Started)


def test_a_down_vm_starts_anew(hosts: Hosts) -> None:
    first, _, vm = hosts
    assert isinstance(first.start(vm), Started)
    assert first.poweroff() is StopResult.DONE
    assert isinstance(first.start(vm), Started)
    assert first.status().state is VmState.UP
