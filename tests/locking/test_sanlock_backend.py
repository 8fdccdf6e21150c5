"""The sanlock backend against real daemons (one per simulated host)."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from hosted_engine.errors import ConfigError
from hosted_engine.files import faults
from hosted_engine.files.faults import FaultMode, FaultPoint
from hosted_engine.locking import sanlock_backend
from tests.locking.conftest import SanlockHosts

VM = "5b8a4c1e-0d4e-4a55-9d58-0d5c2a1f7e01"


def _wait_for_hold(hosts: SanlockHosts, host: int, timeout: float) -> float:
    """Seconds until ``host`` acquires the VM lease, trying as an agent would."""
    start = time.monotonic()
    while True:
        proc, answer = hosts.hold(host, VM)
        if answer.get("ok"):
            return time.monotonic() - start
        proc.wait()
        assert answer.get("held_by"), answer  # contention, nothing else
        assert time.monotonic() - start < timeout, "the lease was never freed"
        time.sleep(1.0)


def test_second_acquire_is_lease_held_naming_the_holder(sanlock_hosts: SanlockHosts) -> None:
    _, first = sanlock_hosts.hold(1, VM)
    assert first["ok"] and first["held"] and first["fds"]
    proc, second = sanlock_hosts.hold(2, VM)
    assert proc.wait() == 3
    assert second["held_by"] == "host 1"
    assert sanlock_hosts.run(2, "holder", VM) == (0, {"ok": True, "holder": 1})


def test_release_frees_the_lease(sanlock_hosts: SanlockHosts) -> None:
    holder, _ = sanlock_hosts.hold(1, VM)
    assert holder.stdin is not None
    holder.stdin.close()
    assert holder.wait(30) == 0
    assert sanlock_hosts.run(2, "holder", VM)[1]["holder"] is None
    _, answer = sanlock_hosts.hold(2, VM)
    assert answer["ok"]


def test_the_lease_dies_with_its_process(sanlock_hosts: SanlockHosts) -> None:
    holder, _ = sanlock_hosts.hold(1, VM)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert _wait_for_hold(sanlock_hosts, 2, timeout=10) < 10


def test_a_restarted_host_frees_the_lease_it_held(sanlock_hosts: SanlockHosts) -> None:
    """A reset host that comes back rejoins with a new generation: its old VM lease is
    free at once, no 70 s wait."""
    holder, _ = sanlock_hosts.hold(1, VM)
    sanlock_hosts.kill_daemon(1)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    sanlock_hosts.start_daemon(1)
    rc, answer = sanlock_hosts.run(1, "join", "1")
    assert rc == 0, answer
    assert _wait_for_hold(sanlock_hosts, 2, timeout=10) < 10


def test_joining_again_is_ours_and_leaving_waits_for_the_vm_lease(
    sanlock_hosts: SanlockHosts,
) -> None:
    assert sanlock_hosts.run(1, "join", "1")[1]["held"] is True  # EEXIST: held by us
    holder, _ = sanlock_hosts.hold(1, VM)
    assert sanlock_hosts.run(1, "leave", "1")[1]["joined"] is True  # the VM needs it
    assert holder.stdin is not None
    holder.stdin.close()
    holder.wait(30)
    assert sanlock_hosts.run(1, "leave", "1")[1]["joined"] is False


def test_reinitialize_formats_the_lockspace_again(sanlock_hosts: SanlockHosts) -> None:
    for host in (1, 2):
        assert sanlock_hosts.run(host, "leave", str(host))[1]["joined"] is False
    before = sanlock_hosts.lockspace.read_bytes()
    assert sanlock_hosts.run(1, "reinitialize") == (0, {"ok": True})
    assert sanlock_hosts.lockspace.read_bytes() != before  # the delta leases are wiped
    assert sanlock_hosts.run(2, "join", "2")[1]["held"] is True


def test_another_hosts_id_is_judged_by_its_delta_lease(sanlock_hosts: SanlockHosts) -> None:
    rc, answer = sanlock_hosts.run(2, "join", "1")
    assert rc == 3 and answer["held_by"] == "host 1"
    assert sanlock_hosts.run(2, "host-holder", "1")[1]["holder"] == 1
    rc, answer = sanlock_hosts.run(2, "join", "7")
    assert rc == 0 and "checked free" in str(answer["lease"])
    assert sanlock_hosts.run(2, "host-holder", "7")[1]["holder"] is None


def test_live_ids_are_read_from_the_disk_by_a_host_that_left(sanlock_hosts: SanlockHosts) -> None:
    """With its broker stopped (so its daemon left the lockspace), a host still tells
    live ids from dead ones: what ``--reinitialize-lockspace`` checks."""
    assert sanlock_hosts.run(2, "leave", "2")[1]["joined"] is False
    assert sanlock_hosts.run(2, "host-holder", "1")[1]["holder"] == 1
    assert sanlock_hosts.run(2, "host-holder", "2")[1]["holder"] is None  # released
    assert sanlock_hosts.run(2, "host-holder", "9")[1]["holder"] is None  # never used


def test_renewal_fails_under_a_storage_fault(sanlock_hosts: SanlockHosts, tmp_path: Path) -> None:
    fault_file = tmp_path / "faults"
    holder, _ = sanlock_hosts.hold(1, VM, str(fault_file))
    assert holder.stdin is not None and holder.stdout is not None

    def renew() -> str:
        holder.stdin.write("renew\n")  # type: ignore[union-attr]
        holder.stdin.flush()  # type: ignore[union-attr]
        return holder.stdout.readline()  # type: ignore[union-attr]

    assert '"renewed": true' in renew()
    faults.set_fault(fault_file, FaultPoint.LEASE_RENEWAL, FaultMode.FAIL)
    assert "cannot renew lease" in renew()
    faults.set_fault(fault_file, FaultPoint.LEASE_RENEWAL, None)
    assert '"renewed": true' in renew()


def test_no_daemon_is_one_line(sanlock_hosts: SanlockHosts, tmp_path: Path) -> None:
    sanlock_hosts.kill_daemon(2)
    rc, answer = sanlock_hosts.run(2, "hold", VM, "2")
    assert rc == 1
    assert "no sanlock daemon answers at" in str(answer["error"])


def test_missing_module_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sanlock", None)
    with pytest.raises(ConfigError, match="python3-sanlock"):
        sanlock_backend.load_module()


def test_one_process_talks_to_one_daemon(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sanlock_backend, "_process_run_dir", None)
    monkeypatch.delenv("SANLOCK_RUN_DIR", raising=False)
    sanlock_backend.use_run_dir(tmp_path / "a")
    sanlock_backend.use_run_dir(tmp_path / "a")
    with pytest.raises(ConfigError, match="already talks to the sanlock daemon"):
        sanlock_backend.use_run_dir(tmp_path / "b")


def test_a_duplicate_host_id_is_refused_within_a_renewal(sanlock_hosts: SanlockHosts) -> None:
    """A third host configured with id 1 learns in seconds that id 1 is live, not after
    sanlock's 68 s."""
    sanlock_hosts.start_daemon(3)
    started = time.monotonic()
    rc, answer = sanlock_hosts.run(3, "join", "1")
    assert rc == 3, answer
    assert "already held by a live host" in str(answer["error"])
    assert time.monotonic() - started < 30
    assert sanlock_hosts.run(3, "join", "3")[1]["held"] is True  # a free id: joined
