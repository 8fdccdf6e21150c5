"""``--clean-metadata`` (D12: refusals exit non-zero, a live host is never cleaned) and
``--reinitialize-lockspace`` (global maintenance, stopped agents, no held host-id lease)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hosted_engine.locking import Lease

from .conftest import Cli, Domain, MakeConf, assert_one_line_error

NOT_IN_GLOBAL = "Lockfile reset can be performed in global maintenance mode only."

# --- --clean-metadata -----------------------------------------------------------------------


@pytest.fixture
def hold(domain: Domain) -> Iterator[list[Lease]]:
    """Leases taken by the test (as a live broker would), released afterwards."""
    held: list[Lease] = []
    yield held
    for lease in held:
        lease.release()


def test_cleans_a_stopped_slot(cli: Cli, domain: Domain, conf: Path) -> None:
    domain.write_host(1, stopped=True)
    domain.write_host(2)
    result = cli("--clean-metadata", "--config", conf)
    assert (result.code, result.err) == (0, "")
    assert result.out == "Metadata for host 1 cleaned.\n"
    scan = domain.scan()
    assert sorted(scan.hosts) == [2]
    assert domain.slot_bytes(1) == bytes(4096)


def test_releases_the_host_id_lease_afterwards(cli: Cli, domain: Domain, conf: Path) -> None:
    domain.write_host(1, stopped=True)
    assert cli("--clean-metadata", "--config", conf).code == 0
    assert domain.leases().host_id_holder(1) is None
    domain.leases().acquire_host_id(1).release()


def test_refuses_an_unclean_slot(cli: Cli, domain: Domain, conf: Path) -> None:
    domain.write_host(1, stopped=False)
    before = domain.slot_bytes(1)
    result = cli("--clean-metadata", "--config", conf)
    assert result.code == 1
    assert_one_line_error(result)
    assert "--force-cleanup" in result.err
    assert domain.slot_bytes(1) == before


def test_force_cleans_an_unclean_slot(cli: Cli, domain: Domain, conf: Path) -> None:
    domain.write_host(1, stopped=False)
    result = cli("--clean-metadata", "--force-cleanup", "--config", conf)
    assert result.code == 0
    assert 1 not in domain.scan().hosts


def test_refuses_an_unreadable_slot_without_force(cli: Cli, domain: Domain, conf: Path) -> None:
    domain.write_raw(1, b"garbage" + bytes(600))
    before = domain.slot_bytes(1)
    result = cli("--clean-metadata", "--config", conf)
    assert result.code == 1
    assert_one_line_error(result)
    assert domain.slot_bytes(1) == before
    assert cli("--clean-metadata", "--force-cleanup", "--config", conf).code == 0
    assert domain.slot_bytes(1) == bytes(4096)


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force-cleanup"])
@pytest.mark.parametrize("target", [1, 2], ids=["own-id", "other-id"])
def test_refuses_a_live_host_even_when_forced(
    cli: Cli, domain: Domain, conf: Path, hold: list[Lease], force: bool, target: int
) -> None:
    """A held host-id lease means a live broker: its slot is never cleaned (D12)."""
    domain.write_host(target, stopped=True)
    hold.append(domain.leases().acquire_host_id(target))
    before = domain.slot_bytes(target)
    args = ["--clean-metadata", "--config", conf]
    if target != 1:
        args.append(f"--host-id={target}")
    if force:
        args.append("--force-cleanup")
    result = cli(*args)
    assert result.code == 1
    assert_one_line_error(result)
    assert f"Host {target} is live" in result.err
    assert domain.slot_bytes(target) == before
    assert hold[0].is_held()


def test_host_id_targets_another_host(cli: Cli, domain: Domain, conf: Path) -> None:
    domain.write_host(1, stopped=False)
    domain.write_host(2, stopped=True)
    domain.write_host(3, stopped=True)
    result = cli("--clean-metadata", "--host-id=2", "--config", conf)
    assert result.code == 0
    assert result.out == "Metadata for host 2 cleaned.\n"
    assert sorted(domain.scan().hosts) == [1, 3]


def test_a_missing_slot_is_already_clean(cli: Cli, domain: Domain, conf: Path) -> None:
    domain.write_host(1)
    result = cli("--clean-metadata", "--host-id=5", "--config", conf)
    assert (result.code, result.err) == (0, "")
    assert result.out == "Metadata for host 5 is already clean.\n"
    assert sorted(domain.scan().hosts) == [1]


# --- --reinitialize-lockspace ---------------------------------------------------------------


def _all_stopped(domain: Domain) -> None:
    for host_id in (1, 2, 3):
        domain.write_host(host_id, stopped=True, state="AgentStopped")


def test_refused_outside_global_maintenance(cli: Cli, domain: Domain, conf: Path) -> None:
    _all_stopped(domain)
    before = os.stat(domain.lockspace).st_ino
    result = cli("--reinitialize-lockspace", "--config", conf)
    assert result.code == 1
    assert_one_line_error(result, NOT_IN_GLOBAL)
    assert os.stat(domain.lockspace).st_ino == before


def test_refused_with_an_active_agent(cli: Cli, domain: Domain, conf: Path) -> None:
    _all_stopped(domain)
    domain.write_host(2, stopped=False)
    domain.set_global_maintenance(True)
    before = os.stat(domain.lockspace).st_ino
    result = cli("--reinitialize-lockspace", "--config", conf)
    assert result.code == 1
    assert_one_line_error(result)
    assert result.err.startswith("Lockfile reset cannot be performed with an active agent")
    assert "host ids: 2" in result.err
    assert os.stat(domain.lockspace).st_ino == before


@pytest.mark.parametrize("held_id", [2, 9], ids=["host-with-slot", "host-without-slot"])
def test_refused_while_a_host_id_lease_is_held(
    cli: Cli, domain: Domain, conf: Path, hold: list[Lease], held_id: int
) -> None:
    """A broker holds its lease before its first write, and after its slot is cleaned."""
    _all_stopped(domain)
    domain.set_global_maintenance(True)
    hold.append(domain.leases().acquire_host_id(held_id))
    before = os.stat(domain.lockspace).st_ino
    result = cli("--reinitialize-lockspace", "--config", conf)
    assert result.code == 1
    assert_one_line_error(result)
    assert f"host ids: {held_id}" in result.err
    assert os.stat(domain.lockspace).st_ino == before


def test_succeeds_in_global_maintenance_with_all_stopped(
    cli: Cli, domain: Domain, conf: Path
) -> None:
    _all_stopped(domain)
    domain.set_global_maintenance(True)
    domain.lockspace.write_bytes(b"\x01" * 16)  # a damaged lockspace
    before = os.stat(domain.lockspace).st_ino
    result = cli("--reinitialize-lockspace", "--config", conf)
    assert (result.code, result.out, result.err) == (0, "Lockspace reinitialized.\n", "")
    assert os.stat(domain.lockspace).st_ino != before
    assert domain.lockspace.read_bytes() == b""
    domain.leases().acquire_host_id(1).release()


def test_force_skips_every_check(cli: Cli, domain: Domain, conf: Path, hold: list[Lease]) -> None:
    domain.write_host(1, stopped=False)  # active agent, no global maintenance, lease held
    hold.append(domain.leases().acquire_host_id(1))
    before = os.stat(domain.lockspace).st_ino
    result = cli("--reinitialize-lockspace", "--force", "--config", conf)
    assert (result.code, result.out) == (0, "Lockspace reinitialized.\n")
    assert os.stat(domain.lockspace).st_ino != before


def test_on_a_missing_domain_is_one_line(cli: Cli, make_conf: MakeConf) -> None:
    result = cli("--reinitialize-lockspace", "--config", make_conf(sdUUID="never-created"))
    assert_one_line_error(result)
