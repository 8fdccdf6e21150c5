"""Carrying out actions (``after_action``) and the failed-start counter that D1 broke:
it must really cost 50 a try, zero the score after more than 3, and be forgotten only
after ``retry_expiration`` on the same monotonic clock, or once the engine is up."""

from __future__ import annotations

import pytest

from hosted_engine.agent.snapshot import Snapshot
from hosted_engine.agent.states import AgentState, Outcome, StateName
from hosted_engine.agent.states import after_action as after

from .builders import (
    DOWN,
    DOWN_UNEXPECTED,
    NOW,
    POWERING_UP,
    UP_GOOD,
    S,
    advance,
    local,
    remote,
    snap,
    state,
    step,
)

LATER = NOW + 5


KEPT = {"retry_count": 1, "retry_time": NOW - 1}  # counters from an earlier failure

# fmt: off
AFTER_ACTION = [  # the state that acts, how the action went, the state after it
    (S.ENGINE_START, Outcome.OK, state(S.ENGINE_STARTING, LATER, **KEPT)),
    (S.ENGINE_START, Outcome.LEASE_HELD, state(S.ENGINE_DOWN, LATER, **KEPT)),
    (S.ENGINE_START, Outcome.FAILED, state(S.ENGINE_DOWN, LATER, retry_count=2, retry_time=LATER)),
    (S.ENGINE_STOP, Outcome.OK, state(S.ENGINE_STOP, NOW, **KEPT, stop_requested=True)),
    (S.ENGINE_STOP, Outcome.FAILED, state(S.REINITIALIZE_FSM, LATER, **KEPT)),
    (S.ENGINE_FORCE_STOP, Outcome.OK, state(S.ENGINE_DOWN, LATER, **KEPT)),
    (S.ENGINE_FORCE_STOP, Outcome.FAILED, state(S.REINITIALIZE_FSM, LATER, **KEPT)),
]
# fmt: on


@pytest.mark.parametrize(("current", "outcome", "expected"), AFTER_ACTION)
def test_after_action(current: StateName, outcome: Outcome, expected: AgentState) -> None:
    decision = step(current, local(UP_GOOD), **KEPT)
    assert decision.action is not None
    assert after(decision, outcome, LATER) == expected


def test_after_no_action_the_decided_state_stands() -> None:
    decision = step(S.ENGINE_DOWN, snap())
    assert after(decision, Outcome.OK, LATER) == decision.state


def test_after_a_graceful_stop_the_stop_state_waits_without_asking_again() -> None:
    stopping = after(step(S.ENGINE_STOP, local(UP_GOOD)), Outcome.OK, LATER)
    assert advance(stopping, local(UP_GOOD, now=LATER)).action is None


# --- the failed-start counter (D1) ----------------------------------------------------------


def fail_starts(times: int) -> tuple[AgentState, float]:
    """``times`` rounds of EngineDown -> EngineStart -> START_VM failed, one loop (10 s)
    apart; returns the state and the time of the last failure."""
    current, now = state(S.ENGINE_DOWN), NOW
    for _ in range(times):
        now += 10
        to_start = advance(current, snap(now=now))
        assert to_start.state.name is S.ENGINE_START, to_start.reason
        current = after(advance(to_start.state, snap(now=now)), Outcome.FAILED, now)
    return current, now


@pytest.mark.parametrize(("failures", "score"), [(1, 3350), (2, 3300), (3, 3250), (4, 0)])
def test_each_failed_start_lowers_the_score_until_more_than_3_zero_it(
    failures: int, score: int
) -> None:
    current, last = fail_starts(failures)
    next_loop = advance(current, snap(now=last + 10))  # D1 forgot the failures right here
    assert (next_loop.state.retry_count, next_loop.score) == (failures, score)


def test_a_retried_out_host_leaves_the_start_to_a_healthy_peer() -> None:
    current, last = fail_starts(4)
    decision = advance(current, snap(remote(score=3400), now=last + 10))
    assert (decision.score, decision.state.name) == (0, S.ENGINE_DOWN)


def test_failed_starts_are_forgotten_only_after_retry_expiration() -> None:
    current, last = fail_starts(4)
    before = advance(current, snap(remote(score=3400), now=last + 600))  # retry_expiration 600
    after_it = advance(current, snap(remote(score=3400), now=last + 600.1))
    assert (before.score, before.state.retry_count) == (0, 4)
    assert (after_it.score, after_it.state.retry_count) == (3400, 0)
    assert after_it.state.name is S.ENGINE_START  # the tie with the peer: try again


def test_losing_the_lease_race_costs_nothing() -> None:
    current = state(S.ENGINE_DOWN)
    for _ in range(5):
        starting = advance(advance(current, snap()).state, snap())
        current = after(starting, Outcome.LEASE_HELD, NOW)
    assert (current.retry_count, advance(current, snap()).score) == (0, 3400)


@pytest.mark.parametrize(
    ("snapshot", "expected", "counted"),
    [
        (local(DOWN_UNEXPECTED), S.ENGINE_MAYBE_AWAY, True),  # crashed while starting
        (local(POWERING_UP, now=NOW + 600.1), S.ENGINE_STOP, True),  # never became healthy
        (local(DOWN), S.ENGINE_FORCE_STOP, False),  # lease lost or migrated
        (snap(global_maintenance=True), S.GLOBAL_MAINTENANCE, False),
        (snap(local_maintenance=True), S.LOCAL_MAINTENANCE, False),
    ],
)
def test_a_start_that_does_not_reach_engine_up_counts_as_failed(
    snapshot: Snapshot, expected: StateName, counted: bool
) -> None:
    decision = step(S.ENGINE_STARTING, snapshot)
    assert decision.state.name is expected
    assert (decision.state.retry_count, decision.state.retry_time) == (
        (1, snapshot.now) if counted else (0, None)
    )


def test_reaching_engine_up_forgets_failed_starts() -> None:
    up = step(S.ENGINE_STARTING, local(UP_GOOD), retry_count=3, retry_time=NOW - 1)
    assert (up.state.name, up.state.retry_count, up.state.retry_time) == (S.ENGINE_UP, 0, None)


def test_the_counter_survives_a_successful_start_until_the_engine_is_healthy() -> None:
    starting = step(S.ENGINE_START, snap(), retry_count=2, retry_time=NOW - 1)
    started = after(starting, Outcome.OK, NOW)
    powering_up = advance(started, local(POWERING_UP))
    assert (powering_up.state.retry_count, powering_up.score) == (2, 3300)
