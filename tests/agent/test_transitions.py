"""Each state's own behaviour, one line per row of the ha-anchor 1.3 table.

Guards, timeouts and the election have their own modules; here every case runs inside
its state's timeout with no maintenance flag set.
"""

from __future__ import annotations

import pytest

from hosted_engine.agent.snapshot import Snapshot
from hosted_engine.agent.states import Action, StateName

from .builders import (
    DOWN,
    DOWN_MISSING,
    DOWN_UNEXPECTED,
    NOW,
    NOWAIT,
    PAUSED,
    POWERING_UP,
    UNKNOWN,
    UP_BAD,
    UP_GOOD,
    WAIT,
    S,
    case_id,
    local,
    remote,
    snap,
    step,
    summary,
)

up_elsewhere = remote(engine=UP_GOOD, state="EngineUp")
better = remote(score=3400)  # 800 above a host with half its network probes failing

# fmt: off
TRANSITIONS = [
    # StartState: always -> ReinitializeFSM, no guard
    (S.START_STATE, snap(), S.REINITIALIZE_FSM, WAIT),
    (S.START_STATE, local(UNKNOWN, global_maintenance=True), S.REINITIALIZE_FSM, WAIT),
    # ReinitializeFSM: local up -> EngineStarting (not EngineUp), otherwise EngineDown
    (S.REINITIALIZE_FSM, local(UP_GOOD), S.ENGINE_STARTING, NOWAIT),
    (S.REINITIALIZE_FSM, local(DOWN), S.ENGINE_DOWN, WAIT),
    (S.REINITIALIZE_FSM, local(DOWN_UNEXPECTED), S.ENGINE_DOWN, WAIT),
    # EngineDown (the election itself: test_election.py)
    (S.ENGINE_DOWN, local(UP_GOOD), S.ENGINE_STARTING, NOWAIT),
    (S.ENGINE_DOWN, local(DOWN, up_elsewhere), S.ENGINE_DOWN, WAIT),
    (S.ENGINE_DOWN, local(DOWN), S.ENGINE_START, NOWAIT),
    # EngineStarting
    (S.ENGINE_STARTING, local(UP_GOOD), S.ENGINE_UP, WAIT),
    (S.ENGINE_STARTING, local(POWERING_UP), S.ENGINE_STARTING, WAIT),
    (S.ENGINE_STARTING, local(DOWN), S.ENGINE_FORCE_STOP, NOWAIT),
    (S.ENGINE_STARTING, local(DOWN_UNEXPECTED), S.ENGINE_MAYBE_AWAY, NOWAIT),
    (S.ENGINE_STARTING, local(DOWN_MISSING), S.ENGINE_MAYBE_AWAY, NOWAIT),
    # EngineUp: conditions (1) to (6) in order, then stay
    (S.ENGINE_UP, local(DOWN), S.ENGINE_MAYBE_AWAY, WAIT),
    (S.ENGINE_UP, local(DOWN_UNEXPECTED), S.ENGINE_UNEXPECTEDLY_DOWN, WAIT),
    (S.ENGINE_UP, local(DOWN_MISSING), S.ENGINE_MAYBE_AWAY, NOWAIT),
    (S.ENGINE_UP, local(UP_BAD, up_elsewhere), S.ENGINE_STOP, WAIT),
    # outranked by 800, but only just: preemption waits preempt_grace (test_election.py)
    (S.ENGINE_UP, local(UP_GOOD, better, network=0.5), S.ENGINE_UP, WAIT),
    (S.ENGINE_UP, local(UP_BAD), S.ENGINE_UP_BAD_HEALTH, WAIT),
    (S.ENGINE_UP, local(PAUSED), S.ENGINE_UP_BAD_HEALTH, WAIT),
    (S.ENGINE_UP, local(UP_GOOD), S.ENGINE_UP, WAIT),
    (S.ENGINE_UP, local(UP_GOOD, up_elsewhere), S.ENGINE_UP, WAIT),
    # EngineUpBadHealth: EngineUp's logic; health good again -> EngineUp
    (S.ENGINE_UP_BAD_HEALTH, local(UP_BAD), S.ENGINE_UP_BAD_HEALTH, WAIT),
    (S.ENGINE_UP_BAD_HEALTH, local(UP_GOOD), S.ENGINE_UP, WAIT),
    (S.ENGINE_UP_BAD_HEALTH, local(DOWN), S.ENGINE_MAYBE_AWAY, WAIT),
    (S.ENGINE_UP_BAD_HEALTH, local(DOWN_UNEXPECTED), S.ENGINE_UNEXPECTEDLY_DOWN, WAIT),
    (S.ENGINE_UP_BAD_HEALTH, local(UP_BAD, up_elsewhere), S.ENGINE_STOP, WAIT),
    (S.ENGINE_UP_BAD_HEALTH, local(UP_BAD, better, network=0.5), S.ENGINE_UP_BAD_HEALTH, WAIT),
    # EngineStop (its action: below)
    (S.ENGINE_STOP, local(DOWN), S.ENGINE_DOWN, WAIT),
    (S.ENGINE_STOP, local(DOWN_UNEXPECTED), S.ENGINE_DOWN, WAIT),
    (S.ENGINE_STOP, local(PAUSED), S.ENGINE_FORCE_STOP, NOWAIT),
    # EngineMaybeAway
    (S.ENGINE_MAYBE_AWAY, local(DOWN), S.ENGINE_DOWN, WAIT),
    (S.ENGINE_MAYBE_AWAY, local(DOWN_UNEXPECTED), S.ENGINE_UNEXPECTEDLY_DOWN, WAIT),
    (S.ENGINE_MAYBE_AWAY, local(UP_GOOD), S.ENGINE_UP, WAIT),
    (S.ENGINE_MAYBE_AWAY, local(UP_BAD), S.ENGINE_UP, WAIT),
    (S.ENGINE_MAYBE_AWAY, local(DOWN_MISSING, up_elsewhere), S.ENGINE_DOWN, WAIT),
    (S.ENGINE_MAYBE_AWAY, local(DOWN_MISSING), S.ENGINE_MAYBE_AWAY, WAIT),
    # EngineUnexpectedlyDown: only the engine back up here ends it before the timeout
    (S.ENGINE_UNEXPECTEDLY_DOWN, local(UP_GOOD), S.ENGINE_UP, WAIT),
    (S.ENGINE_UNEXPECTEDLY_DOWN, local(DOWN_UNEXPECTED), S.ENGINE_UNEXPECTEDLY_DOWN, WAIT),
    (S.ENGINE_UNEXPECTEDLY_DOWN, local(DOWN, up_elsewhere), S.ENGINE_UNEXPECTEDLY_DOWN, WAIT),
    # GlobalMaintenance, LocalMaintenance, UnknownLocalVmState: flag cleared -> ReinitializeFSM
    (S.GLOBAL_MAINTENANCE, snap(), S.REINITIALIZE_FSM, WAIT),
    (S.LOCAL_MAINTENANCE, snap(), S.REINITIALIZE_FSM, WAIT),
    (S.UNKNOWN_LOCAL_VM_STATE, snap(), S.REINITIALIZE_FSM, NOWAIT),
    # AgentStopped is final
    (S.AGENT_STOPPED, local(UP_GOOD), S.AGENT_STOPPED, WAIT),
]

ACTIONS = [
    (S.ENGINE_START, local(DOWN), Action.START_VM),
    (S.ENGINE_STOP, local(UP_GOOD), Action.STOP_VM),
    (S.ENGINE_FORCE_STOP, local(UP_GOOD), Action.POWEROFF_VM),
    (S.ENGINE_FORCE_STOP, local(DOWN), Action.POWEROFF_VM),
]
# fmt: on


@pytest.mark.parametrize(("current", "snapshot", "expected", "wait"), TRANSITIONS, ids=case_id)
def test_transition(
    current: StateName, snapshot: Snapshot, expected: StateName, wait: bool
) -> None:
    decision = step(current, snapshot)
    assert summary(decision) == (expected, wait, None)


@pytest.mark.parametrize(("current", "snapshot", "action"), ACTIONS, ids=case_id)
def test_action_states_act_then_wait_in_place(
    current: StateName, snapshot: Snapshot, action: Action
) -> None:
    decision = step(current, snapshot)
    assert summary(decision) == (current, WAIT, action)


def test_engine_stop_sends_the_graceful_stop_only_once() -> None:
    decision = step(S.ENGINE_STOP, local(UP_GOOD), stop_requested=True)
    assert (decision.state.name, decision.action) == (S.ENGINE_STOP, None)
    assert decision.state.stop_requested


def test_staying_keeps_the_timer_and_moving_restarts_it() -> None:
    stay = step(S.ENGINE_STARTING, local(POWERING_UP, now=10_100.0))
    move = step(S.ENGINE_STARTING, local(UP_GOOD, now=10_100.0))
    assert stay.state.entered_at == 10_000.0
    assert move.state.entered_at == 10_100.0


def test_the_score_published_is_the_next_states() -> None:
    assert step(S.ENGINE_DOWN, local(UP_GOOD)).score == 3400
    assert step(S.ENGINE_UP, local(DOWN_UNEXPECTED)).score == 0
    assert step(S.LOCAL_MAINTENANCE, snap()).score == 0  # ReinitializeFSM scores 0


def test_the_reason_is_one_line_for_the_log() -> None:
    decision = step(S.ENGINE_DOWN, snap(remote(score=3400)))
    assert decision.reason == "best remote score 3400 (host2 (id 2)) <= mine 3400: starting"


# --- EngineStarting trusts only readings taken after the start ------------------------------


def test_a_health_reading_older_than_the_start_does_not_stop_the_new_vm() -> None:
    """The broker's last reading may predate our start: its "down" is the VM not yet there."""
    before_start = snap(local_engine=DOWN, local_engine_measured_at=NOW - 0.2)
    assert step(S.ENGINE_STARTING, before_start).state.name is S.ENGINE_STARTING


def test_a_reading_taken_after_the_start_is_acted_on() -> None:
    after_start = snap(local_engine=DOWN, local_engine_measured_at=NOW + 0.1)
    assert step(S.ENGINE_STARTING, after_start).state.name is S.ENGINE_FORCE_STOP
