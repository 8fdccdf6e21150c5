"""The engine-health mapping (ha-anchor 4.2), one table row per line."""

from __future__ import annotations

import pytest

from hosted_engine.vm.base import ExitReason, VmState, VmStatus
from hosted_engine.vm.engine_status import EngineStatus
from hosted_engine.vm.health import (
    BAD_VM_STATUS,
    FAILED_LIVELINESS,
    LOCKED,
    NOT_CHECKED,
    NOT_HERE,
    engine_status,
)

D, UP, PAUSED, POWERING = VmState.DOWN, VmState.UP, VmState.PAUSED, VmState.POWERING_UP
R = ExitReason


def prev(word: str | None) -> EngineStatus | None:
    return None if word is None else EngineStatus(word, "bad", "unknown")


ROWS = [
    # state, exit reason, previous vm, liveliness -> vm, health, detail, reason
    (D, R.NOT_STARTED, None, None, "down", "bad", "unknown", NOT_HERE),
    (D, R.NOT_STARTED, "up", None, "down_missing", "bad", "unknown", NOT_HERE),
    (D, R.NOT_STARTED, "down_unexpected", None, "down_unexpected", "bad", "unknown", NOT_HERE),
    (D, R.NOT_STARTED, "unknown", None, "down", "bad", "unknown", NOT_HERE),
    (D, R.LEASE_HELD, "up", None, "down", "bad", "Down", LOCKED),
    (D, R.CRASHED, "up", None, "down_unexpected", "bad", "Down", BAD_VM_STATUS),
    (D, R.SUPERVISOR_LOST, None, None, "down", "bad", "Down", BAD_VM_STATUS),
    (D, R.EXITED, "up", None, "down_unexpected", "bad", "Down", BAD_VM_STATUS),
    (D, R.START_FAILED, "down", None, "down", "bad", "Down", BAD_VM_STATUS),
    (D, R.CRASHED, "down_unexpected", None, "down_unexpected", "bad", "Down", BAD_VM_STATUS),
    (D, R.SHUTDOWN, "up", None, "down", "bad", "Down", NOT_HERE),
    (D, R.POWEROFF, "up", None, "down", "bad", "Down", NOT_HERE),
    (PAUSED, None, "up", True, "up", "bad", "Paused", BAD_VM_STATUS),
    (POWERING, None, "down", None, "up", "bad", "Powering up", BAD_VM_STATUS),
    (UP, None, "up", False, "up", "bad", "Up", FAILED_LIVELINESS),
    (UP, None, "up", None, "up", "bad", "Up", NOT_CHECKED),
    (UP, None, "down", True, "up", "good", "Up", None),
]


@pytest.mark.parametrize(
    ("state", "exit_reason", "previous", "live", "vm", "health", "detail", "reason"), ROWS
)
def test_engine_status_row(
    state: VmState,
    exit_reason: ExitReason | None,
    previous: str | None,
    live: bool | None,
    vm: str,
    health: str,
    detail: str,
    reason: str | None,
) -> None:
    status = engine_status(VmStatus(state, exit_reason), prev(previous), live)

    assert status == EngineStatus(vm, health, detail, reason)


def test_good_health_ranks_best_and_paused_below_bad() -> None:
    good = engine_status(VmStatus(UP), None, True)
    bad = engine_status(VmStatus(UP), None, False)
    paused = engine_status(VmStatus(PAUSED), None, True)

    assert good.rank > bad.rank > paused.rank
