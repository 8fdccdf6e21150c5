import subprocess
import sys
from pathlib import Path

import pytest

from hosted_engine.errors import LeaseError, LeaseHeldError
from hosted_engine.locking import FcntlLeaseManager, MemoryLeaseManager, MemoryLeaseStore


@pytest.fixture(params=["fcntl", "memory"])
def managers(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "fcntl":
        return FcntlLeaseManager(tmp_path / "lockspace"), FcntlLeaseManager(tmp_path / "lockspace")
    store = MemoryLeaseStore()
    return MemoryLeaseManager(store), MemoryLeaseManager(store)


def test_second_claim_of_a_host_id_fails(managers) -> None:  # type: ignore[no-untyped-def]
    a, b = managers
    lease = a.acquire_host_id(2)
    with pytest.raises(LeaseHeldError, match="host id 2"):
        b.acquire_host_id(2)
    assert b.host_id_holder(2) is not None
    b.acquire_host_id(3).release()
    lease.release()
    assert b.host_id_holder(2) is None
    b.acquire_host_id(2).release()


def test_vm_lease_is_exclusive_and_names_the_holder(managers) -> None:  # type: ignore[no-untyped-def]
    a, b = managers
    lease = a.acquire_vm_lease("vm-1", 1, "host1")
    with pytest.raises(LeaseHeldError) as info:
        b.acquire_vm_lease("vm-1", 2, "host2")
    assert "host 1" in (info.value.holder or "")
    holder = b.vm_lease_holder("vm-1")
    assert holder is not None and holder.host_id == 1
    lease.release()
    lease.release()  # twice is harmless
    assert b.vm_lease_holder("vm-1") is None


def test_fcntl_lease_dies_with_its_process(tmp_path: Path) -> None:
    code = (
        "import sys, time; from hosted_engine.locking import FcntlLeaseManager\n"
        f"l = FcntlLeaseManager({str(tmp_path / 'lockspace')!r}).acquire_vm_lease('vm', 4, 'h4')\n"
        "print('held', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        manager = FcntlLeaseManager(tmp_path / "lockspace")
        holder = manager.vm_lease_holder("vm")
        assert holder is not None and holder.host_id == 4 and holder.pid == proc.pid
        proc.kill()
        proc.wait()
        assert manager.vm_lease_holder("vm") is None
        manager.acquire_vm_lease("vm", 5).release()
    finally:
        proc.kill()
        proc.wait()


def test_fcntl_lease_is_inherited_by_a_child(tmp_path: Path) -> None:
    manager = FcntlLeaseManager(tmp_path / "lockspace")
    lease = manager.acquire_vm_lease("vm", 1)
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        pass_fds=lease.inheritable_fds(),
    )
    try:
        lease.release()
        assert manager.vm_lease_holder("vm") is not None  # the child still holds it
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait()
    assert manager.vm_lease_holder("vm") is None


@pytest.mark.parametrize("bad", ["", "../x", "a/b", ".hidden"])
def test_bad_vm_ids(tmp_path: Path, bad: str) -> None:
    with pytest.raises(LeaseError):
        FcntlLeaseManager(tmp_path / "lockspace").acquire_vm_lease(bad, 1)


def test_host_id_bounds(tmp_path: Path) -> None:
    with pytest.raises(LeaseError, match="between 1 and 2000"):
        FcntlLeaseManager(tmp_path / "lockspace").acquire_host_id(2001)


def test_a_lost_memory_lease_stays_lost_when_retaken() -> None:
    manager = MemoryLeaseManager()
    lease = manager.acquire_vm_lease("vm", 1)
    lease.lose()
    other = manager.acquire_vm_lease("vm", 2)
    assert not lease.is_held() and other.is_held()
    lease.release()  # must not release somebody else's lease
    assert other.is_held()
