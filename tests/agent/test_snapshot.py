"""Snapshot building: from the broker's typed answer to the policy's Snapshot, and from a
real broker service (real publisher and whiteboard file) through the JSON wire."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from pathlib import Path

from hosted_engine.agent.snapshot import build_snapshot
from hosted_engine.broker.publisher import AgentReport, StatusPublisher
from hosted_engine.broker.service import BrokerService
from hosted_engine.broker_contract import BrokerSnapshot, Monitors, Reading, VmLease
from hosted_engine.clock import FakeClock
from hosted_engine.config.host import HostConfig, from_values
from hosted_engine.locking import MemoryLeaseManager, MemoryLeaseStore
from hosted_engine.storage.domain import create_domain
from hosted_engine.storage.whiteboard import Whiteboard
from hosted_engine.vm.definition import VmDefinition
from hosted_engine.vm.engine_status import UNKNOWN_ENGINE_STATUS
from hosted_engine.vm.fake import FakeVmBackend

from .fakes import DOWN, UP, FakeBroker, monitors, remote

MAX_AGE = 120.0


def test_every_field_comes_from_its_typed_source() -> None:
    clock = FakeClock(start=40.0)
    broker = FakeBroker(clock, hosts=(remote(2, engine=UP, score=2400),))
    broker.lease = VmLease(known=True, held=True, holder_host_id=2, holder_pid=77)
    broker.monitor_values = {"mem_free": 1024.0, "cpu_load": 0.5, "bridge": False}
    snap = build_snapshot(
        broker.get_snapshot(),
        now=50.0,
        local_maintenance=True,
        vm_mem_mib=4096,
        config_max_age=MAX_AGE,
    )
    assert snap.now == 50.0 and snap.host_id == 1
    assert snap.local_engine == DOWN and snap.local_engine_measured_at == 40.0
    assert snap.local_maintenance is True and snap.global_maintenance is False
    assert [(r.host_id, r.score, r.engine, r.alive) for r in snap.remotes] == [(2, 2400, UP, True)]
    assert (snap.vm_lease_free, snap.vm_lease_holder) == (False, 2)
    assert (snap.mem_free_mib, snap.cpu_load, snap.bridge, snap.storage_ok) == (
        1024.0,
        0.5,
        False,
        True,
    )
    assert snap.vm_mem_mib == 4096 and snap.enough_data and snap.config_uptodate


def _bare(clock: FakeClock, **fields: object) -> BrokerSnapshot:
    base = FakeBroker(clock).get_snapshot()
    return replace(base, **fields)  # type: ignore[arg-type]


def test_what_was_not_measured_stays_unknown() -> None:
    clock = FakeClock()
    nothing = Monitors.from_readings({})
    snap = build_snapshot(
        _bare(clock, monitors=nothing, vm_lease=VmLease(known=False)),
        now=1.0,
        local_maintenance=False,
        vm_mem_mib=None,
        config_max_age=MAX_AGE,
    )
    assert snap.local_engine == UNKNOWN_ENGINE_STATUS
    assert snap.local_engine_measured_at is None
    assert (snap.vm_lease_free, snap.vm_lease_holder) == (None, None)  # never "free"
    assert (snap.bridge, snap.mem_free_mib, snap.cpu_load, snap.storage_ok) == (None,) * 4
    assert snap.network == 1.0  # the reference's reading of an unmeasured network
    assert snap.config_uptodate is False  # an unread cache is out of date


def test_no_whiteboard_read_yet_is_not_enough_data() -> None:
    clock = FakeClock()
    snap = build_snapshot(
        _bare(clock, global_maintenance=None),
        now=1.0,
        local_maintenance=False,
        vm_mem_mib=None,
        config_max_age=MAX_AGE,
    )
    assert snap.enough_data is False and snap.global_maintenance is False


def test_an_old_configuration_cache_is_not_up_to_date() -> None:
    clock = FakeClock()
    old = monitors(clock, config_age=MAX_AGE + 1)
    snap = build_snapshot(
        _bare(clock, monitors=old),
        now=1.0,
        local_maintenance=False,
        vm_mem_mib=None,
        config_max_age=MAX_AGE,
    )
    assert snap.config_uptodate is False


# --- from a real broker service, over the JSON wire -----------------------------------------


def _config(storage: Path, host_id: int) -> HostConfig:
    return from_values(
        {
            "host_id": str(host_id),
            "sdUUID": "sd",
            "storage": str(storage),
            "hostname": f"h{host_id}",
            "vmid": "vm-1",
            "timing_profile": "fast",
        }
    )


def test_the_broker_service_answers_the_contract(tmp_path: Path) -> None:
    create_domain(tmp_path, "sd")
    clock, store = FakeClock(), MemoryLeaseStore()
    configs = {h: _config(tmp_path, h) for h in (1, 2)}
    publishers = {
        h: StatusPublisher(
            c, Whiteboard(c.metadata_path), MemoryLeaseManager(store), lambda: DOWN, clock
        )
        for h, c in configs.items()
    }
    engine_there = FakeVmBackend(MemoryLeaseManager(store), 2)
    engine_there.start(VmDefinition(vm_id="vm-1"))
    publishers[2].report_agent(AgentReport("EngineUp", 3400, False, False, {}, clock.monotonic()))
    service = BrokerService(
        configs[1],
        publishers[1],
        Whiteboard(configs[1].metadata_path),
        MemoryLeaseManager(store),
        lambda: {"engine-health": DOWN, "storage-domain": False, "network": 1},
        lambda *a: "ok",
        clock,
        monitor_times=lambda: {"engine-health": 7.0, "storage-domain": 8.0},
        monitor_errors=lambda: {"storage-domain": "storage I/O failed: EIO"},
    )
    for _ in range(3):  # the timestamps must be seen changing to be alive
        for p in publishers.values():
            p.publish_once()
        clock.advance(1.0)

    wire = json.loads(json.dumps(service.methods()["get_snapshot"]()))
    answer = BrokerSnapshot.from_json(wire)
    assert answer.host_id == 1
    assert [(h.host_id, h.hostname, h.score, h.alive, h.state) for h in answer.hosts] == [
        (2, "h2", 3400, True, "EngineUp")
    ]
    assert answer.vm_lease.age is not None and answer.vm_lease.age >= 0
    assert dataclasses.replace(answer.vm_lease, age=None) == VmLease(
        known=True, held=True, holder_host_id=2
    )
    assert answer.monitors.storage_domain == Reading(False, 8.0, "storage I/O failed: EIO")
    assert answer.monitors.network.value == 1.0
    assert answer.monitors.config_age.error == "not monitored by this broker"
    assert answer.global_maintenance is False

    snap = build_snapshot(
        answer, now=clock.monotonic(), local_maintenance=False, vm_mem_mib=None, config_max_age=5
    )
    assert snap.storage_ok is False and snap.vm_lease_holder == 2
