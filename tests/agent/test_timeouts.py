"""The T(dest, secs) timeouts of ha-anchor 1.3: ``entered_at + secs < now`` fires, measured
on the snapshot's monotonic ``now``; and the ``timeout`` metadata some states publish."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from hosted_engine.agent.states import Decision, StateName
from hosted_engine.config.timing import PROFILES
from hosted_engine.vm.engine_status import EngineStatus

from .builders import (
    DOWN_MISSING,
    DOWN_UNEXPECTED,
    NOW,
    NOWAIT,
    POWERING_UP,
    UP_BAD,
    UP_GOOD,
    WAIT,
    S,
    advance,
    local,
    state,
    step,
    summary,
)


class Timeout(NamedTuple):
    current: StateName
    engine: EngineStatus  # the local engine VM state that keeps ``current`` as it is
    secs: float  # in the default profile
    dest: StateName
    wait: bool

    def decide_after(self, elapsed: float, **snapshot: Any) -> Decision:
        # In EngineStop the graceful stop was sent on entry; now it only waits.
        waiting = self.current is S.ENGINE_STOP
        moment = local(self.engine, now=NOW + elapsed, **snapshot)
        return step(self.current, moment, stop_requested=waiting)


TIMEOUTS = [
    Timeout(S.ENGINE_STARTING, POWERING_UP, 600, S.ENGINE_STOP, WAIT),
    Timeout(S.ENGINE_UP_BAD_HEALTH, UP_BAD, 300, S.ENGINE_STOP, WAIT),
    Timeout(S.ENGINE_STOP, UP_GOOD, 300, S.ENGINE_FORCE_STOP, WAIT),
    Timeout(S.ENGINE_MAYBE_AWAY, DOWN_MISSING, 40, S.ENGINE_UNEXPECTEDLY_DOWN, NOWAIT),
    Timeout(S.ENGINE_UNEXPECTEDLY_DOWN, DOWN_UNEXPECTED, 560, S.ENGINE_DOWN, WAIT),
]
each_timeout = pytest.mark.parametrize("t", TIMEOUTS, ids=[t.current.value for t in TIMEOUTS])


@each_timeout
def test_not_yet_at_the_timeout(t: Timeout) -> None:
    decision = t.decide_after(t.secs)
    assert (decision.state.name, decision.state.entered_at) == (t.current, NOW)


@each_timeout
def test_fires_just_after_the_timeout(t: Timeout) -> None:
    decision = t.decide_after(t.secs + 0.1)
    assert summary(decision) == (t.dest, t.wait, None)
    assert decision.state.entered_at == NOW + t.secs + 0.1  # the destination's timer starts


@each_timeout
def test_the_timeout_is_checked_before_the_guards(t: Timeout) -> None:
    decision = t.decide_after(t.secs + 1, global_maintenance=True, local_maintenance=True)
    assert decision.state.name is t.dest


def test_timeouts_follow_the_timing_profile() -> None:
    fast = PROFILES["fast"]  # engine_away_timeout 2 s
    away = state(S.ENGINE_MAYBE_AWAY)
    stays = advance(away, local(DOWN_MISSING, now=NOW + 2), fast)
    fires = advance(away, local(DOWN_MISSING, now=NOW + 2.1), fast)
    assert stays.state.name is S.ENGINE_MAYBE_AWAY
    assert fires.state.name is S.ENGINE_UNEXPECTEDLY_DOWN


def test_leaving_bad_health_and_coming_back_restarts_the_timer() -> None:
    recovered = step(S.ENGINE_UP_BAD_HEALTH, local(UP_GOOD, now=NOW + 299))
    assert recovered.state.name is S.ENGINE_UP
    bad_again = advance(recovered.state, local(UP_BAD, now=NOW + 300))
    later = advance(bad_again.state, local(UP_BAD, now=NOW + 599))
    assert (bad_again.state.entered_at, later.state.name) == (NOW + 300, S.ENGINE_UP_BAD_HEALTH)


@pytest.mark.parametrize(
    ("t", "left"), [(TIMEOUTS[1], "200"), (TIMEOUTS[2], "200"), (TIMEOUTS[4], "460")]
)
def test_states_with_a_published_timeout_give_the_seconds_left(t: Timeout, left: str) -> None:
    assert t.decide_after(100).metadata == {"timeout": left}


def test_entering_a_state_publishes_its_full_timeout() -> None:
    assert step(S.ENGINE_UP, local(UP_BAD)).metadata == {"timeout": "300"}


@pytest.mark.parametrize("t", [TIMEOUTS[0], TIMEOUTS[3]])
def test_other_timeouts_are_not_published(t: Timeout) -> None:
    assert t.decide_after(10).metadata == {}
