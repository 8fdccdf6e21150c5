"""The executor: each action through the shipped FakeVmBackend, each result a typed outcome."""

from __future__ import annotations

from hosted_engine.agent.executor import Executor
from hosted_engine.agent.states import Action, Outcome
from hosted_engine.errors import VmDefinitionError, VmError
from hosted_engine.locking import MemoryLeaseManager
from hosted_engine.vm.base import StopResult
from hosted_engine.vm.definition import VmDefinition
from hosted_engine.vm.fake import FakeVmBackend

VM = VmDefinition(vm_id="vm-1", mem_size_mib=2048)


def executor(backend: FakeVmBackend, grace: float = 7.0) -> Executor:
    return Executor(backend, lambda: VM, grace)


def test_start_then_start_again() -> None:
    backend = FakeVmBackend(MemoryLeaseManager(), 1)
    ex = executor(backend)
    assert ex.run(Action.START_VM) is Outcome.OK
    assert backend.running and backend.definition == VM
    assert ex.run(Action.START_VM) is Outcome.OK  # already running here: fine


def test_losing_the_start_race_is_lease_held_not_failure() -> None:
    leases = MemoryLeaseManager()
    other, mine = FakeVmBackend(leases, 2), FakeVmBackend(leases, 1)
    assert executor(other).run(Action.START_VM) is Outcome.OK
    assert executor(mine).run(Action.START_VM) is Outcome.LEASE_HELD
    assert not mine.running


def test_a_start_that_fails_is_failed() -> None:
    backend = FakeVmBackend(MemoryLeaseManager(), 1)
    backend.set_start_failure("no such disk")
    assert executor(backend).run(Action.START_VM) is Outcome.FAILED


def test_an_unreadable_definition_fails_the_start_without_raising() -> None:
    def missing() -> VmDefinition:
        raise VmDefinitionError("vm.conf: no such file")

    backend = FakeVmBackend(MemoryLeaseManager(), 1)
    assert Executor(backend, missing, 1.0).run(Action.START_VM) is Outcome.FAILED
    assert backend.start_attempts == 0


def test_the_definition_is_read_at_each_start() -> None:
    seen: list[int] = []

    def definition() -> VmDefinition:
        seen.append(1)
        return VM

    backend = FakeVmBackend(MemoryLeaseManager(), 1)
    ex = Executor(backend, definition, 1.0)
    ex.run(Action.START_VM)
    ex.run(Action.POWEROFF_VM)
    ex.run(Action.START_VM)
    assert len(seen) == 2


def test_stop_and_poweroff() -> None:
    backend = FakeVmBackend(MemoryLeaseManager(), 1)
    ex = executor(backend)
    ex.run(Action.START_VM)
    assert ex.run(Action.STOP_VM) is Outcome.OK
    assert not backend.running
    # nothing left to stop is not a failure
    assert ex.run(Action.STOP_VM) is Outcome.OK
    assert ex.run(Action.POWEROFF_VM) is Outcome.OK


class _Stubborn(FakeVmBackend):
    def __init__(self) -> None:
        super().__init__(MemoryLeaseManager(), 1)
        self.graces: list[float] = []

    def shutdown(self, grace: float) -> StopResult:
        self.graces.append(grace)
        return StopResult.FAILED

    def poweroff(self) -> StopResult:
        raise VmError("the supervisor does not answer")


def test_a_stop_that_fails_is_failed_and_gets_the_configured_grace() -> None:
    backend = _Stubborn()
    ex = executor(backend, grace=42.0)
    assert ex.run(Action.STOP_VM) is Outcome.FAILED
    assert backend.graces == [42.0]
    assert ex.run(Action.POWEROFF_VM) is Outcome.FAILED  # a backend error, not a traceback
