"""The in-memory VM backend the agent's unit tests stand on."""

from __future__ import annotations

from hosted_engine.locking import MemoryLeaseManager
from hosted_engine.vm.base import (
    ExitReason,
    Started,
    StartFailed,
    StopResult,
    VmState,
)
from hosted_engine.vm.definition import VmDefinition
from hosted_engine.vm.fake import FakeVmBackend

VM = VmDefinition(vm_id="engine", mem_size_mib=512)


def two_hosts() -> tuple[FakeVmBackend, FakeVmBackend, MemoryLeaseManager]:
    leases = MemoryLeaseManager()
    return FakeVmBackend(leases, 1), FakeVmBackend(leases, 2), leases


# shared behaviour (one host runs the VM, never started, starting twice): test_vm_contract.py


def test_crash_frees_the_lease_for_the_other_host() -> None:
    first, second, _ = two_hosts()
    first.start(VM)

    first.crash()

    assert first.status().exit_reason is ExitReason.CRASHED
    assert isinstance(second.start(VM), Started)


def test_shutdown_and_poweroff_release_the_lease() -> None:
    first, second, leases = two_hosts()
    first.start(VM)

    assert first.shutdown(10) is StopResult.DONE
    assert first.status().exit_reason is ExitReason.SHUTDOWN
    assert leases.vm_lease_holder("engine") is None
    second.start(VM)
    assert second.poweroff() is StopResult.DONE
    assert second.status().exit_reason is ExitReason.POWEROFF
    assert leases.vm_lease_holder("engine") is None


def test_pause_and_resume() -> None:
    fake, _, _ = two_hosts()
    fake.start(VM)

    fake.pause()
    assert fake.status().state is VmState.PAUSED and fake.running
    fake.resume()
    assert fake.status().state is VmState.UP


def test_start_failure_until_cleared() -> None:
    fake, _, leases = two_hosts()
    fake.set_start_failure("no disk")

    assert fake.start(VM) == StartFailed("no disk")
    assert fake.status().exit_reason is ExitReason.START_FAILED
    assert leases.vm_lease_holder("engine") is None
    fake.set_start_failure(None)
    assert isinstance(fake.start(VM), Started)
    assert fake.start_attempts == 2


def test_a_lost_lease_takes_the_vm_down() -> None:
    fake, _, leases = two_hosts()
    fake.start(VM)

    del leases.store.held["vm engine"]

    assert fake.status().state is VmState.DOWN
    assert "lease" in fake.status().message


def test_stats_follow_the_definition() -> None:
    fake, _, _ = two_hosts()
    fake.start(VM)

    stats = fake.stats()

    assert stats is not None and stats.rss_bytes == 512 * 1024 * 1024
