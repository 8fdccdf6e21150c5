"""The broker's cache of the shared configuration, its age, and what the agent makes of it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from hosted_engine.agent.snapshot import build_snapshot
from hosted_engine.broker.config_cache import ConfigCache, cache_files
from hosted_engine.broker.monitors import MonitorRunner
from hosted_engine.broker.monitors.config_age import ConfigAgeMonitor
from hosted_engine.broker.notifications import load_broker_conf
from hosted_engine.broker.publisher import StatusPublisher
from hosted_engine.broker.service import BrokerService
from hosted_engine.broker_contract import BrokerSnapshot, Monitors, Reading, VmLease
from hosted_engine.clock import FakeClock
from hosted_engine.config.host import HostConfig
from hosted_engine.locking import MemoryLeaseManager
from hosted_engine.storage.whiteboard import Whiteboard
from hosted_engine.vm.definition import load_definition

from .conftest import LabFiles, entries, members_of, tar_bytes


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config(lab_files: LabFiles) -> HostConfig:
    return lab_files.config(2)


@pytest.fixture
def cache(config: HostConfig, clock: FakeClock) -> ConfigCache:
    return ConfigCache.for_host(config, clock)


def _contents(config: HostConfig) -> dict[str, str]:
    return {name: path.read_text() for name, path in cache_files(config).items()}


def test_a_refresh_installs_the_members_in_the_state_dir(
    cache: ConfigCache, config: HostConfig, lab_files: LabFiles, clock: FakeClock
) -> None:
    status = cache.refresh()
    assert status.error is None and status.refreshed_at == clock.monotonic()
    assert status.checksum == lab_files.archive.read().checksum
    for name, text in _contents(config).items():
        assert text == lab_files.member(name)
    assert config.vm_conf_path == config.state_dir / "vm.conf"
    assert load_definition(config.vm_conf_path).vm_id == lab_files.manifest.vm_id


def test_a_change_is_installed_and_unchanged_files_are_left_alone(
    cache: ConfigCache, config: HostConfig, lab_files: LabFiles
) -> None:
    cache.refresh()
    files = cache_files(config)
    untouched = {name: files[name].stat().st_ino for name in ("vm.conf", "hosted-engine.conf")}
    lab_files.shared(1).set("smtp-port", "2525")
    cache.refresh()
    assert load_broker_conf(config.broker_conf_path).smtp_port == 2525
    assert {name: files[name].stat().st_ino for name in untouched} == untouched


def test_an_unchanged_archive_rewrites_nothing(cache: ConfigCache, config: HostConfig) -> None:
    cache.refresh()
    inodes = {name: p.stat().st_ino for name, p in cache_files(config).items()}
    cache.refresh()
    assert {name: p.stat().st_ino for name, p in cache_files(config).items()} == inodes


def test_a_deleted_cache_file_comes_back(cache: ConfigCache, config: HostConfig) -> None:
    cache.refresh()
    config.vm_conf_path.unlink()
    cache.refresh()
    assert config.vm_conf_path.exists()


@pytest.mark.parametrize(
    "breakage",
    ["garbage", "bad-vm-conf", "missing", "unreadable-member"],
)
def test_a_broken_archive_keeps_the_last_good_cache_and_is_reported(
    breakage: str,
    cache: ConfigCache,
    config: HostConfig,
    lab_files: LabFiles,
    clock: FakeClock,
) -> None:
    good = cache.refresh()
    before = _contents(config)
    members = members_of(lab_files)
    path = lab_files.archive.path
    if breakage == "garbage":
        path.write_bytes(b"garbage")
    elif breakage == "bad-vm-conf":
        path.write_bytes(tar_bytes(entries(members, {"vm.conf": b"vmId=\n"})))
    elif breakage == "missing":
        path.unlink()
    else:
        path.write_bytes(tar_bytes(entries(members, {"broker.conf": b"\xff"})))
    clock.advance(7)

    status = cache.refresh()

    assert status.error is not None and "\n" not in status.error
    assert status.refreshed_at == good.refreshed_at and status.checksum == good.checksum
    assert status.failures == 1
    assert status.age(clock.monotonic()) == 7
    assert _contents(config) == before


def test_the_config_age_monitor(cache: ConfigCache, lab_files: LabFiles, clock: FakeClock) -> None:
    runner = MonitorRunner([ConfigAgeMonitor(cache.status, clock)], 1, clock)
    never = runner.refresh("config-age")
    assert never.value is None and never.error is not None and "never read" in never.error

    cache.refresh()
    clock.advance(3)
    assert runner.refresh("config-age").value == 3
    assert runner.refresh("config-age").error is None

    lab_files.archive.path.write_bytes(b"garbage")
    cache.refresh()
    clock.advance(2)
    reading = runner.refresh("config-age")
    assert reading.value == 5  # the age keeps growing while refreshes fail
    assert reading.error is not None and "latest refresh failed" in reading.error


def _snapshot(config: HostConfig, age: Any) -> bool:
    broker = BrokerSnapshot(
        host_id=config.host_id,
        broker_now=0.0,
        global_maintenance=False,
        enough_data=True,
        hosts=(),
        monitors=Monitors.from_readings({"config-age": Reading(age, 0.0)}),
        vm_lease=VmLease(known=False),
    )
    snapshot = build_snapshot(
        broker,
        now=0.0,
        local_maintenance=False,
        vm_mem_mib=None,
        config_max_age=config.timing.config_max_age,
    )
    return snapshot.config_uptodate


def test_the_agent_counts_an_old_or_unread_cache_as_out_of_date(config: HostConfig) -> None:
    limit = config.timing.config_max_age
    assert _snapshot(config, 0.0) is True
    assert _snapshot(config, limit) is True
    assert _snapshot(config, limit + 0.1) is False
    assert _snapshot(config, None) is False


def test_the_broker_refreshes_on_demand_and_reports_the_cache(
    cache: ConfigCache, config: HostConfig, lab_files: LabFiles, clock: FakeClock
) -> None:
    board = Whiteboard(config.metadata_path)
    leases = MemoryLeaseManager()
    publisher = StatusPublisher(config, board, leases, lambda: None, clock)
    service = BrokerService(
        config, publisher, board, leases, dict, lambda *a: "ok", clock, config_cache=cache
    )
    assert service.get_health()["config"]["age"] is None
    lab_files.shared(1).set("source-email", "ha@lab")
    answer = service.methods()["refresh_config"]()
    assert answer == {
        "checksum": lab_files.archive.read().checksum,
        "age": 0.0,
        "error": None,
        "failures": 0,
        "vm_source": "vm.conf",
        "warning": None,
    }
    assert load_broker_conf(config.broker_conf_path).source_email == "ha@lab"
    clock.advance(4)
    assert service.get_health()["config"]["age"] == 4


def test_the_periodic_refresh_picks_up_a_change(lab_files: LabFiles, config: HostConfig) -> None:
    from hosted_engine.clock import SystemClock

    cache = ConfigCache.for_host(config, SystemClock())
    cache.refresh()
    cache.start(0.05)
    try:
        lab_files.shared(1).set("smtp-server", "relay.lab")
        deadline = time.monotonic() + 10
        while load_broker_conf(config.broker_conf_path).smtp_server != "relay.lab":
            assert time.monotonic() < deadline, "the periodic refresh never installed the change"
            time.sleep(0.02)
    finally:
        cache.stop()


def test_cache_files_follow_the_host_config(config: HostConfig) -> None:
    files = cache_files(config)
    assert files == {
        "broker.conf": config.state_dir / "broker.conf",
        "hosted-engine.conf": config.state_dir / "hosted-engine.conf",
        "vm.conf": config.state_dir / "vm.conf",
    }
    assert all(isinstance(p, Path) for p in files.values())
