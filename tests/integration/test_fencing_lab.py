"""Fencing on a real lab: a frozen engine host is reset by its watchdog, a host whose
lease renewal stalls kills its own VM, and the engine comes up elsewhere, never twice."""

from __future__ import annotations

import json
import time

import pytest

from hosted_engine.config.timing import PROFILES
from hosted_engine.files.faults import FaultMode, FaultPoint
from hosted_engine.lab.cluster import Lab, engine_healthy
from hosted_engine.lab.layout import host_log_dir
from tests.integration.conftest import (
    BOTH_LEASE_BACKENDS,
    VmSampler,
    cli,
    host_death_takeover,
    host_states,
    processes,
    wait_for,
)

pytestmark = [pytest.mark.lab, BOTH_LEASE_BACKENDS]
FAST = PROFILES["fast"]


def engine_elsewhere(lab: Lab, away_from: int) -> int | None:
    host = lab.engine_host()
    if host in (None, away_from) or not engine_healthy(lab.manifest.engine_url):
        return None
    return host


@pytest.mark.slow_with_sanlock
def test_frozen_engine_host_is_reset_and_the_engine_moves(lab: Lab, sampler: VmSampler) -> None:
    runner = wait_for(lab.engine_host, 30, "an engine host")
    old_vm = {p.pid for p in lab.engine_vms()}
    frozen_at = time.monotonic()
    lab.freeze_host(runner)
    try:
        # the watchdog fires after watchdog_timeout; then a start, with room for a slow CI
        # (with sanlock, the reset host's delta lease must expire before that start)
        bound = FAST.watchdog_timeout + FAST.engine_starting_timeout
        if lab.manifest.leases == "sanlock":
            bound += host_death_takeover(lab)
        new_host = wait_for(
            lambda: engine_elsewhere(lab, runner), bound, "the engine healthy on another host"
        )
        took = time.monotonic() - frozen_at
        reset = lab.last_reset(runner)
        assert reset is not None, "the frozen host was not reset by its watchdog"
        assert not old_vm & {p.pid for p in lab.engine_vms()}
    finally:
        lab.thaw_host(runner)
    assert not any(processes.host_processes(lab.dir, runner).values()), "a reset left processes"
    print(
        f"{lab.manifest.leases}: frozen host {runner}: engine healthy on host {new_host} "
        f"after {took:.1f} s"
    )
    # rebooted, the host says when it was reset
    lab.start_host(runner)

    def reset_shown() -> bool:
        view = json.loads(cli(lab, new_host, "--vm-status", "--json").stdout)
        return "last_reset=" in view[str(runner)]["extra"]

    wait_for(reset_shown, 30, f"host {runner}'s reset shown in --vm-status")


@pytest.mark.parametrize("mode", [FaultMode.HANG, FaultMode.FAIL])
def test_storage_stall_on_the_engine_host_fences_its_vm(
    lab: Lab, sampler: VmSampler, mode: FaultMode
) -> None:
    runner = wait_for(lab.engine_host, 30, "an engine host")
    wait_for(lambda: host_states(lab)[runner]["lease"] == "held", 30, "the lease shown held")
    stalled_at = time.monotonic()
    lab.set_fault(runner, FaultPoint.LEASE_RENEWAL, mode)
    try:
        wait_for(
            lambda: not processes.host_processes(lab.dir, runner)["vm"],
            FAST.fence_after + 5,
            f"host {runner} to kill its own VM",
        )
        fenced = time.monotonic() - stalled_at
        wait_for(lambda: engine_elsewhere(lab, runner), 60, "the engine healthy elsewhere")
        wait_for(lambda: host_states(lab)[runner]["lease"] == "fenced", 30, "'fenced' shown")
        text = cli(lab, runner, "--vm-status").stdout
        assert "lease=fenced" in text
        log = (host_log_dir(lab.dir, runner) / "broker.log").read_text()
        assert "the engine VM lease is fenced: fenced: the VM lease was not renewed" in log
    finally:
        lab.set_fault(runner, FaultPoint.LEASE_RENEWAL, None)
    print(
        f"{lab.manifest.leases}: storage {mode.value} on host {runner}: "
        f"VM gone after {fenced:.1f} s"
    )
