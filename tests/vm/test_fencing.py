"""vm.fencing.LeaseKeeper and the fcntl lease's renewal: pet while fresh, fence when not."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from hosted_engine.errors import LeaseError, LeaseHeldError, WatchdogError
from hosted_engine.files import faults
from hosted_engine.files.faults import FaultMode, FaultPoint
from hosted_engine.locking import FcntlLeaseManager
from hosted_engine.locking.base import LeaseState
from hosted_engine.vm.fencing import LeaseKeeper


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeWatchdog:
    name = "fake"

    def __init__(self, fail_arm: bool = False) -> None:
        self.fail_arm = fail_arm
        self.armed: float | None = None
        self.pets = 0
        self.disarmed = False

    def arm(self, timeout: float) -> None:
        if self.fail_arm:
            raise WatchdogError("the watchdog fake did not answer")
        self.armed = timeout

    def pet(self) -> None:
        self.pets += 1

    def disarm(self) -> None:
        self.disarmed = True


class FakeLease:
    name = "vm"

    def __init__(self) -> None:
        self.fail = False
        self.renewed = threading.Event()

    def release(self) -> None: ...

    def is_held(self) -> bool:
        return True

    def inheritable_fds(self) -> tuple[int, ...]:
        return ()

    def renew(self) -> None:
        self.renewed.set()
        if self.fail:
            raise LeaseError("cannot renew lease vm: injected")


def keeper(lease: FakeLease, dog: FakeWatchdog | None, clock: FakeClock) -> LeaseKeeper:
    return LeaseKeeper(
        lease, dog, renewal=0.05, fence_after=3.0, watchdog_timeout=3.0, monotonic=clock
    )


def test_a_fresh_lease_is_held_and_pets_the_watchdog() -> None:
    clock, dog = FakeClock(), FakeWatchdog()
    k = keeper(FakeLease(), dog, clock)
    k.start()
    try:
        assert dog.armed == 3.0
        assert k.tick() is LeaseState.HELD
        assert dog.pets == 1
    finally:
        k.stop(disarm=True)
    assert dog.disarmed


def test_an_expired_lease_stops_the_pets_for_good() -> None:
    clock, dog, lease = FakeClock(), FakeWatchdog(), FakeLease()
    lease.fail = True
    k = keeper(lease, dog, clock)
    k.start()
    try:
        assert lease.renewed.wait(5)
        clock.now += 1.0
        assert k.tick() is LeaseState.RENEWING  # failing, not yet fenced
        pets = dog.pets
        clock.now += 2.0
        assert k.tick() is LeaseState.EXPIRED
        lease.fail = False  # the storage is back: an expired lease stays expired
        clock.now += 1.0
        assert k.tick() is LeaseState.EXPIRED
        assert dog.pets == pets
        assert "not renewed for" in k.why() and "injected" in k.why()
    finally:
        k.stop(disarm=False)
    assert not dog.disarmed  # left armed: the host is to be reset


def test_a_watchdog_that_cannot_be_armed_refuses_the_start() -> None:
    with pytest.raises(WatchdogError, match="did not answer"):
        keeper(FakeLease(), FakeWatchdog(fail_arm=True), FakeClock()).start()


def test_fcntl_renewal_fails_when_the_storage_does(tmp_path: Path, fault_control: Path) -> None:
    manager = FcntlLeaseManager(tmp_path / "hosted-engine.lockspace")
    lease = manager.acquire_vm_lease("vm", 1, "host1")
    try:
        lease.renew()
        faults.set_fault(fault_control, FaultPoint.LEASE_RENEWAL, FaultMode.FAIL)
        with pytest.raises(LeaseError, match="cannot renew"):
            lease.renew()
    finally:
        lease.release()


def test_releasing_under_a_hung_renewal_frees_the_lease_at_once(
    tmp_path: Path, fault_control: Path
) -> None:
    """The lease must not wait for the storage; the late write must not hit another file."""
    manager = FcntlLeaseManager(tmp_path / "hosted-engine.lockspace")
    lease = manager.acquire_vm_lease("vm", 1, "host1")
    faults.set_fault(fault_control, FaultPoint.LEASE_RENEWAL, FaultMode.HANG)
    outcome: list[BaseException | None] = []

    def renew() -> None:
        try:
            lease.renew()
            outcome.append(None)
        except BaseException as e:
            outcome.append(e)

    worker = threading.Thread(target=renew, daemon=True)
    worker.start()
    time.sleep(0.2)  # let it reach the hung I/O (nothing to wait on: it is hung)
    lease.release()
    other = FcntlLeaseManager(tmp_path / "hosted-engine.lockspace")
    second = other.acquire_vm_lease("vm", 2, "host2")  # free although the renewal hangs
    bystander = tmp_path / "bystander"
    with bystander.open("wb") as f:  # may get the fd number the lease had
        faults.set_fault(fault_control, FaultPoint.LEASE_RENEWAL, None)
        worker.join(5)
        f.write(b"")
    assert bystander.read_bytes() == b""
    assert isinstance(outcome[0], LeaseError)
    with pytest.raises(LeaseHeldError):
        manager.acquire_vm_lease("vm", 1, "host1")
    second.release()


# --- the supervisor: real processes ---------------------------------------------------------


def _fencing(fault_path: Path, watchdog: str = "none") -> object:
    from hosted_engine.vm.process import FencingSettings

    return FencingSettings(
        lease_renewal=0.1,
        fence_after=1.0,
        watchdog_timeout=1.0,
        watchdog=watchdog,
        fault_file=fault_path,
    )


@pytest.mark.parametrize("mode", [FaultMode.HANG, FaultMode.FAIL])
def test_a_holder_that_cannot_renew_kills_its_vm_and_frees_the_lease(
    make_backend, ha_dir: Path, tmp_path: Path, mode: FaultMode
) -> None:  # type: ignore[no-untyped-def]
    from test_vm_process import definition, lease_free, started
    from vm_helpers import gone, wait_until

    from hosted_engine.vm.base import ExitReason, VmState

    fault_path = tmp_path / "faults"
    backend = make_backend(1, fencing=_fencing(fault_path))
    vm = definition("vm-fence")
    pid = started(backend, vm)
    wait_until(lambda: backend.status().lease is LeaseState.HELD, what="the lease held")
    faults.set_fault(fault_path, FaultPoint.LEASE_RENEWAL, mode)
    fenced_by = time.monotonic() + 1.0 + 5.0  # fence_after, and slack for a loaded machine
    wait_until(lambda: backend.status().state is VmState.DOWN, timeout=10, what="the fence")
    assert time.monotonic() <= fenced_by
    status = backend.status()
    assert status.exit_reason is ExitReason.FENCED and status.lease is LeaseState.FENCED
    assert "not renewed" in status.message
    assert gone(pid)
    assert lease_free(ha_dir / "hosted-engine.lockspace", "vm-fence")
    faults.set_fault(fault_path, FaultPoint.LEASE_RENEWAL, None)


def test_no_start_without_the_configured_watchdog(
    make_backend, ha_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from test_vm_process import definition, lease_free

    from hosted_engine.vm.base import StartFailed

    backend = make_backend(1, fencing=_fencing(tmp_path / "f", f"unix:{tmp_path}/no.sock"))
    result = backend.start(definition("vm-nodog"))
    assert isinstance(result, StartFailed)
    assert "without its watchdog" in result.reason and "cannot reach" in result.reason
    assert lease_free(ha_dir / "hosted-engine.lockspace", "vm-nodog")
