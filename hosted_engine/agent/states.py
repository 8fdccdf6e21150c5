"""The agent's states and its decision step (ha-anchor 1.3-1.5), pure functions of a snapshot.

``decide`` reads only its arguments: no clock, no I/O. The caller carries out the
decision's action, reports how it went to ``after_action``, publishes, and sleeps when the
decision says WAIT. Each state below is one rule: its checks in the order of the 1.3
table (T = timeout, G = global maintenance, U = local VM state unknown, L = local
maintenance; the first that fires wins), then the state's own behaviour. Compare
``_RULES`` with the table line by line.

Deliberate differences from the reference:
* Timeouts run from ``entered_at``, the first decision in the state, not from the second.
* The VM lease is the truth about whether an engine VM runs anywhere: in EngineDown, when
  the lease is free, a remote record saying "up" is out of date and is ignored.
* Failed start attempts count until ``retry_expiration`` on the same monotonic clock (the
  reference forgot them at once, D1). A start that never reaches EngineUp counts too.
* In EngineDown, a better-scoring host is waited for only half a loop while the VM lease
  is free (``free_lease_deferral``). Each host compares its fresh score with the others'
  published ones, which are a loop or more old; with close scores moving together (a
  shared CPU-load trend) every host can see another as better and all of them wait, loop
  after loop, with no engine anywhere. The reference waits as long as that lasts.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

from hosted_engine.agent.fsm import Action, AgentState, Decision, Outcome, StateName
from hosted_engine.agent.score import ScoreWeights, compute_score
from hosted_engine.agent.snapshot import Snapshot
from hosted_engine.broker_contract import RemoteRecord
from hosted_engine.config.timing import Timing
from hosted_engine.vm.engine_status import EngineStatus

__all__ = [
    "Action",
    "AgentState",
    "Decision",
    "Outcome",
    "StateName",
    "after_action",
    "decide",
    "initial_state",
]

S = StateName  # short, so the rules read like the 1.3 table

# Leaving EngineStarting for one of these means the engine VM started but did not come
# up healthy: a failed attempt. Maintenance, an unknown VM state, or the VM going "down"
# (lease lost to another host, or migrated) are not this host's failure.
_FAILED_START_EXITS = frozenset({S.ENGINE_STOP, S.ENGINE_MAYBE_AWAY})


def initial_state(now: float) -> AgentState:
    return AgentState(S.START_STATE, entered_at=now)


def decide(state: AgentState, snap: Snapshot, timing: Timing, weights: ScoreWeights) -> Decision:
    """The next state (and maybe an action) for ``state`` given what ``snap`` shows."""
    state = _forget_old_failures(state, snap.now, timing)
    rule = _RULES[state.name]
    view = _View(
        state=state,
        snap=snap,
        timing=timing,
        weights=weights,
        remotes=_counted_remotes(snap),
        my_score=compute_score(state.name, snap, state.retry_count, weights),
    )
    step = _first_check_that_fires(rule, view) or rule.behaviour(view)
    following = dataclasses.replace(
        _follow(state, step.to, snap.now),
        outranked_since=_outranked_since(view),
        deferred_since=_deferred_since(view, step),
    )
    return Decision(
        state=following,
        action=step.action,
        wait=step.wait,
        score=compute_score(following.name, snap, following.retry_count, weights),
        reason=step.reason,
        metadata=_metadata(following, snap.now, timing),
        recheck_after=free_lease_deferral(timing) if step.defers else None,
    )


def after_action(decision: Decision, outcome: Outcome, now: float) -> AgentState:
    """The state once the executor has carried out ``decision.action``.

    For STOP_VM and POWEROFF_VM anything but OK is a failure.
    """
    state = decision.state
    ok = outcome is Outcome.OK
    if decision.action is Action.START_VM:
        if ok:
            return _enter(state, S.ENGINE_STARTING, now)
        if outcome is Outcome.LEASE_HELD:
            return _enter(state, S.ENGINE_DOWN, now)  # lost the race: nobody's fault
        return _count_failed_start(_enter(state, S.ENGINE_DOWN, now), now)
    if decision.action is Action.STOP_VM:
        if ok:
            return dataclasses.replace(state, stop_requested=True)
        return _enter(state, S.REINITIALIZE_FSM, now)
    if decision.action is Action.POWEROFF_VM:
        return _enter(state, S.ENGINE_DOWN if ok else S.REINITIALIZE_FSM, now)
    return state


# --- the machinery --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    """A rule's choice; ``to`` None means stay. ``wait`` False is the reference's NOWAIT."""

    to: StateName | None
    reason: str
    wait: bool = True
    action: Action | None = None
    defers: bool = False  # EngineDown stands back for a better host while the lease is free


@dataclass(frozen=True)
class _View:
    """The snapshot plus what the reference derives from it each loop (1.2)."""

    state: AgentState
    snap: Snapshot
    timing: Timing
    weights: ScoreWeights
    remotes: tuple[RemoteRecord, ...]  # the alive remote hosts that count in this state
    my_score: int

    @property
    def local(self) -> EngineStatus:
        return self.snap.local_engine

    @property
    def engine_elsewhere(self) -> RemoteRecord | None:
        """The remote host whose engine ranks above ours (this host wins ties), if any."""
        best = max(self.remotes, key=lambda r: r.engine.rank, default=None)
        return best if best is not None and best.engine.rank > self.local.rank else None

    @property
    def best_engine(self) -> EngineStatus:
        elsewhere = self.engine_elsewhere
        return self.local if elsewhere is None else elsewhere.engine

    @property
    def best_score_host(self) -> RemoteRecord | None:
        """The best-scoring remote host; one with score 0 is out of the race (1.4)."""
        best = max(self.remotes, key=lambda r: r.score, default=None)
        return best if best is not None and best.score > 0 else None

    def beats_me(self, other: RemoteRecord) -> bool:
        """Whether ``other`` should win the election over this host.

        A score better by the restart margin always wins; within the margin the higher
        ``ha_priority`` wins, then the higher score. A host with score 0 (maintenance,
        a failed start, ...) is out of the race whatever its priority.
        """
        if other.score <= 0:
            return False
        gap = other.score - self.my_score
        if abs(gap) < self.weights.restart_threshold_score and other.priority != self.snap.priority:
            return other.priority > self.snap.priority
        return gap > 0

    @property
    def election_rival(self) -> RemoteRecord | None:
        """The strongest remote host that beats this one in the election, if any."""
        rivals = [r for r in self.remotes if self.beats_me(r)]
        return max(rivals, key=lambda r: (r.score, r.priority), default=None)

    @property
    def seconds_left(self) -> float:
        """Until this state's timeout fires; asked only in states that have one."""
        timeout = _RULES[self.state.name].timeout
        assert timeout is not None
        return timeout.seconds_left(self.state, self.snap.now, self.timing)


_Check = Callable[[_View], _Step | None]
_TIMING_FIELDS = frozenset(f.name for f in dataclasses.fields(Timing))
NOWAIT = False


@dataclass(frozen=True)
class _Timeout:
    to: StateName
    setting: str  # the Timing field holding the duration
    wait: bool

    def seconds_left(self, state: AgentState, now: float, timing: Timing) -> float:
        return state.entered_at + float(getattr(timing, self.setting)) - now

    def __call__(self, v: _View) -> _Step | None:
        if self.seconds_left(v.state, v.snap.now, v.timing) >= 0:
            return None
        spent = v.snap.now - v.state.entered_at
        return _Step(self.to, f"{v.state.name.value} timed out after {spent:.0f} s", self.wait)


@dataclass(frozen=True)
class _Flag:
    what: str
    is_set: Callable[[Snapshot], bool]
    to: StateName | None  # None: stay

    def __call__(self, v: _View) -> _Step | None:
        return _Step(self.to, self.what) if self.is_set(v.snap) else None


def T(to: StateName, setting: str, wait: bool = True) -> _Timeout:
    """``entered_at + seconds < now`` -> ``to``."""
    if setting not in _TIMING_FIELDS:
        raise ValueError(f"no timing setting {setting!r}")
    return _Timeout(to, setting, wait)


# G, U, L with the destinations the table gives them unless it says otherwise; *_STAY: stay.
G = _Flag("global maintenance", lambda s: s.global_maintenance, S.GLOBAL_MAINTENANCE)
U = _Flag(
    "local VM state unknown", lambda s: s.local_engine.vm == "unknown", S.UNKNOWN_LOCAL_VM_STATE
)
L = _Flag("local maintenance", lambda s: s.local_maintenance, S.LOCAL_MAINTENANCE)
G_STAY = dataclasses.replace(G, to=None)
U_STAY = dataclasses.replace(U, to=None)
L_STAY = dataclasses.replace(L, to=None)


@dataclass(frozen=True)
class _Rule:
    checks: tuple[_Check, ...]
    behaviour: Callable[[_View], _Step]
    publishes_timeout: bool = False  # the table's "Extra md: timeout"

    @property
    def timeout(self) -> _Timeout | None:
        return next((c for c in self.checks if isinstance(c, _Timeout)), None)


def _first_check_that_fires(rule: _Rule, view: _View) -> _Step | None:
    for check in rule.checks:
        step = check(view)
        if step is not None:
            return step
    return None


def _forget_old_failures(state: AgentState, now: float, timing: Timing) -> AgentState:
    if state.retry_time is not None and state.retry_time + timing.retry_expiration < now:
        return dataclasses.replace(state, retry_count=0, retry_time=None)
    return state


def _counted_remotes(snap: Snapshot) -> tuple[RemoteRecord, ...]:
    """The alive remote hosts, minus any whose record claims a running engine VM that the
    VM lease contradicts: no VM runs without the lease, so while the lease is free, or
    held for another host, that record is out of date (the host died, or its VM did,
    and it is not stale yet). Such a record must not stop our engine, block a start, or
    win an election."""
    if snap.vm_lease_free is True:
        return tuple(r for r in snap.alive_remotes if r.engine.vm != "up")
    holder = snap.vm_lease_holder
    if snap.vm_lease_free is False and holder is not None:
        return tuple(r for r in snap.alive_remotes if r.engine.vm != "up" or r.host_id == holder)
    return snap.alive_remotes


def _enter(state: AgentState, name: StateName, now: float) -> AgentState:
    """A new state name: its timer starts now; only the retry counters carry over."""
    return AgentState(
        name, entered_at=now, retry_count=state.retry_count, retry_time=state.retry_time
    )


def _count_failed_start(state: AgentState, now: float) -> AgentState:
    return dataclasses.replace(state, retry_count=state.retry_count + 1, retry_time=now)


def _follow(state: AgentState, to: StateName | None, now: float) -> AgentState:
    if to is None or to is state.name:
        return state
    entered = _enter(state, to, now)
    if to is S.ENGINE_UP:
        return dataclasses.replace(entered, retry_count=0, retry_time=None)
    if state.name is S.ENGINE_STARTING and to in _FAILED_START_EXITS:
        return _count_failed_start(entered, now)
    return entered


def _metadata(state: AgentState, now: float, timing: Timing) -> dict[str, str]:
    rule = _RULES[state.name]
    if not rule.publishes_timeout or rule.timeout is None:
        return {}
    left = rule.timeout.seconds_left(state, now, timing)
    return {"timeout": str(max(0, math.ceil(left)))}


def _host(r: RemoteRecord) -> str:
    """A host as reasons name it: one line whatever the record's hostname holds."""
    name = "".join(c if c.isprintable() else "?" for c in r.hostname)
    return f"{name} (id {r.host_id})"


# --- the states' behaviour (the 1.3 table's "Behaviour / transitions" column) ---------------


def _start_state(v: _View) -> _Step:
    return _Step(S.REINITIALIZE_FSM, "agent started")


def _reinitialize(v: _View) -> _Step:
    if v.local.vm == "up":
        # Not straight to EngineUp: a starting engine must get EngineStarting's patience.
        return _Step(S.ENGINE_STARTING, "engine VM up on this host", wait=False)
    return _Step(S.ENGINE_DOWN, f"engine VM {v.local.vm} on this host")


def _engine_down(v: _View) -> _Step:
    if v.best_engine.vm == "up":
        elsewhere = v.engine_elsewhere
        if elsewhere is None:
            return _Step(S.ENGINE_STARTING, "engine VM unexpectedly up on this host", wait=False)
        return _Step(None, f"engine VM runs on {_host(elsewhere)}")
    if not v.snap.enough_data:
        return _Step(None, "engine VM down; not enough data yet to tell which hosts are alive")
    request = v.snap.switchover
    if request is not None and request.to_host == v.snap.host_id:
        return _Step(S.ENGINE_START, f"{request.describe()}: this host is the target", wait=False)
    if request is not None and _switchover_target(v) is not None:
        return _Step(None, f"{request.describe()}: standing back for it")
    best = v.best_score_host
    if best is None:
        return _Step(
            S.ENGINE_START,
            f"no live remote host with score > 0, mine {v.my_score}: starting",
            wait=False,
        )
    rival = v.election_rival
    if rival is None:
        why = f"best remote score {best.score} ({_host(best)}) <= mine {v.my_score}"
        if best.score > v.my_score:
            why = (
                f"{_host(best)} scores {best.score}, within "
                f"{v.weights.restart_threshold_score} of mine {v.my_score}, and my priority "
                f"{v.snap.priority} > its {best.priority}"
            )
        return _Step(S.ENGINE_START, f"{why}: starting", wait=False)
    better = f"{_host(rival)} has a better score {rival.score} > mine {v.my_score}"
    if rival.priority != v.snap.priority:
        better = (
            f"{_host(rival)} outranks me (score {rival.score} vs my {v.my_score}, "
            f"priority {rival.priority} vs my {v.snap.priority})"
        )
    if v.snap.vm_lease_free is not True:
        return _Step(None, better)
    waited = v.snap.now - _standing_back_since(v)
    if waited >= free_lease_deferral(v.timing):
        return _Step(
            S.ENGINE_START,
            f"{better}, but it left the VM lease free for {waited:.1f} s: starting",
            wait=False,
        )
    left = free_lease_deferral(v.timing) - waited
    return _Step(None, f"{better}; the VM lease is free: waiting {left:.1f} s for it", defers=True)


def free_lease_deferral(timing: Timing) -> float:
    """How long EngineDown stands back for a better host while the VM lease is free.

    The lease was freed for every standby at once, and each one's pause ends on it
    (``wakeup.py``), so the better host decides within a lease poll of us and, if it
    starts, holds the lease a second or so later; half a loop covers that with room to
    spare (5 s loop: 2.5 s), and it is never less than :data:`START_HOLDS_LEASE_WITHIN`
    (the fast profile's half loop, 0.25 s, is shorter than a start on a busy machine, and
    the better host, the higher ``ha_priority`` one too, would then lose a race it had
    won). A better host that only wakes on its loop may miss it: then both start and the
    lease picks one, which costs a start attempt that loses (LeaseHeld: no penalty);
    waiting a whole loop or more costs failover time with no engine anywhere. The
    decision that stands back asks to be rechecked after this long.
    """
    return max(timing.loop_period / 2, START_HOLDS_LEASE_WITHIN)


START_HOLDS_LEASE_WITHIN = 1.5  # seconds from a start's decision to its VM holding the lease


def _deferred_since(v: _View, step: _Step) -> float | None:
    """When EngineDown began standing back for a better host on a free lease; None once
    it stops (the lease was taken, the engine runs, the scores changed, ...)."""
    return _standing_back_since(v) if step.defers else None


def _standing_back_since(v: _View) -> float:
    """Since when EngineDown has stood back on a free lease; now, if it only starts now."""
    return v.state.deferred_since if v.state.deferred_since is not None else v.snap.now


def _engine_start(v: _View) -> _Step:
    return _Step(None, "starting the engine VM", action=Action.START_VM)


def _engine_starting(v: _View) -> _Step:
    measured = v.snap.local_engine_measured_at
    if measured is not None and measured < v.state.entered_at:
        # measured before we started the VM: "down" would be the VM that was not yet there
        return _Step(None, "waiting for an engine health reading taken after the start")
    if v.local.vm == "up" and v.local.health == "good":
        return _Step(S.ENGINE_UP, "engine VM up and healthy")
    if v.local.vm == "up":
        return _Step(None, f"engine VM powering up (health {v.local.health})")
    if v.local.vm == "down":
        return _Step(S.ENGINE_FORCE_STOP, "engine VM down while starting: cleaning up", wait=False)
    return _Step(S.ENGINE_MAYBE_AWAY, f"engine VM {v.local.vm} while starting", wait=False)


def _switchover_target(v: _View) -> RemoteRecord | None:
    """The live host a due switchover moves the engine to, if it can take it."""
    request = v.snap.switchover
    if request is None or request.to_host == v.snap.host_id:
        return None
    return next(
        (r for r in v.snap.alive_remotes if r.host_id == request.to_host and r.score > 0), None
    )


def _engine_up(v: _View) -> _Step:
    if v.local.vm == "down":
        return _Step(S.ENGINE_MAYBE_AWAY, "engine VM down on this host")
    if v.local.vm == "down_unexpected":
        return _Step(S.ENGINE_UNEXPECTEDLY_DOWN, "engine VM died unexpectedly")
    if v.snap.switchover is not None and _switchover_target(v) is not None:
        return _Step(S.ENGINE_STOP, f"{v.snap.switchover.describe()}: stopping the VM here")
    if v.best_engine.vm != "up":
        return _Step(S.ENGINE_MAYBE_AWAY, f"engine VM {v.best_engine.vm}, up nowhere", wait=False)
    elsewhere = v.engine_elsewhere
    if elsewhere is not None:
        return _Step(S.ENGINE_STOP, f"a better engine VM runs on {_host(elsewhere)}: stopping ours")
    rival = _rival(v)
    if rival is not None:
        threshold = v.weights.restart_threshold_score
        why = f"{_host(rival)} score {rival.score} >= mine {v.my_score} + {threshold}"
        waited = v.snap.now - (v.state.outranked_since or v.snap.now)
        if waited >= v.timing.preempt_grace:
            return _Step(S.ENGINE_STOP, f"{why} for {waited:.0f} s: stopping")
        if v.local.health != "bad":
            return _Step(None, f"{why}: yielding in {v.timing.preempt_grace - waited:.0f} s")
    if v.local.health == "bad":
        return _Step(S.ENGINE_UP_BAD_HEALTH, "engine VM up but its health is bad")
    return _Step(None, "engine VM up on this host")


def _rival(v: _View) -> RemoteRecord | None:
    """The alive remote host that beats our score by the restart threshold, if any."""
    rival = v.best_score_host
    if rival is not None and rival.score >= v.my_score + v.weights.restart_threshold_score:
        return rival
    return None


def _outranked_since(v: _View) -> float | None:
    """Hysteresis for preemption: a penalty that hits every host (a config or network
    outage) lowers our own score before the others publish theirs; yielding at once
    would move a healthy engine for nothing."""
    if v.state.name not in (S.ENGINE_UP, S.ENGINE_UP_BAD_HEALTH) or _rival(v) is None:
        return None
    return v.state.outranked_since if v.state.outranked_since is not None else v.snap.now


def _engine_up_bad_health(v: _View) -> _Step:
    step = _engine_up(v)
    if step.to is S.ENGINE_UP_BAD_HEALTH:
        left = v.seconds_left
        return _Step(None, f"engine health bad; stopping it in {left:.0f} s unless it recovers")
    if step.to is None:
        return _Step(S.ENGINE_UP, "engine health good again")
    return step


def _engine_stop(v: _View) -> _Step:
    if v.local.vm != "up":
        return _Step(S.ENGINE_DOWN, "engine VM no longer up on this host")
    if v.local.detail == "Paused":
        return _Step(S.ENGINE_FORCE_STOP, "engine VM paused: powering it off", wait=False)
    if not v.state.stop_requested:
        return _Step(None, "shutting the engine VM down", action=Action.STOP_VM)
    left = v.seconds_left
    return _Step(None, f"waiting for the engine VM to shut down ({left:.0f} s before power-off)")


def _engine_force_stop(v: _View) -> _Step:
    return _Step(None, "powering the engine VM off", action=Action.POWEROFF_VM)


def _engine_maybe_away(v: _View) -> _Step:
    if v.local.vm == "down":
        return _Step(S.ENGINE_DOWN, "engine VM down on this host")
    if v.local.vm == "down_unexpected":
        return _Step(S.ENGINE_UNEXPECTEDLY_DOWN, "engine VM died unexpectedly")
    if v.local.vm == "up":
        return _Step(S.ENGINE_UP, "engine VM up on this host again")
    elsewhere = v.engine_elsewhere
    if elsewhere is not None and elsewhere.engine.vm == "up":
        return _Step(S.ENGINE_DOWN, f"engine VM runs on {_host(elsewhere)}")
    return _Step(None, f"engine VM {v.local.vm} here and up nowhere else: waiting")


def _engine_unexpectedly_down(v: _View) -> _Step:
    if v.best_engine.vm == "up" and v.engine_elsewhere is None:
        return _Step(S.ENGINE_UP, "engine VM up on this host again")
    left = v.seconds_left
    return _Step(None, f"engine VM went down unexpectedly; score 0 for {left:.0f} s more")


def _maintenance_ended(v: _View) -> _Step:
    return _Step(S.REINITIALIZE_FSM, "maintenance ended")


def _vm_state_known(v: _View) -> _Step:
    return _Step(S.REINITIALIZE_FSM, "local engine VM state known again", wait=False)


def _agent_stopped(v: _View) -> _Step:
    return _Step(None, "agent stopped")


# --- ha-anchor 1.3, one line per state ------------------------------------------------------

# fmt: off
_RULES: dict[StateName, _Rule] = {
    S.START_STATE:              _Rule((), _start_state),
    S.REINITIALIZE_FSM:         _Rule((G, U, L), _reinitialize),
    S.ENGINE_DOWN:              _Rule((G, U, L), _engine_down),
    S.ENGINE_START:             _Rule((G, U, L), _engine_start),
    S.ENGINE_STARTING:          _Rule((T(S.ENGINE_STOP, "engine_starting_timeout"), G, U, L),
                                      _engine_starting),
    S.ENGINE_UP:                _Rule((G, U), _engine_up),
    S.ENGINE_UP_BAD_HEALTH:     _Rule((T(S.ENGINE_STOP, "engine_bad_health_timeout"), G, U),
                                      _engine_up_bad_health, publishes_timeout=True),
    S.ENGINE_STOP:              _Rule((T(S.ENGINE_FORCE_STOP, "engine_stop_timeout"), G, L, U),
                                      _engine_stop, publishes_timeout=True),
    S.ENGINE_FORCE_STOP:        _Rule((G, L, U), _engine_force_stop),
    S.ENGINE_MAYBE_AWAY:        _Rule((T(S.ENGINE_UNEXPECTEDLY_DOWN, "engine_away_timeout", NOWAIT),
                                       G, U, L), _engine_maybe_away),
    S.ENGINE_UNEXPECTEDLY_DOWN: _Rule((T(S.ENGINE_DOWN, "unexpected_down_timeout"), G, U, L),
                                      _engine_unexpectedly_down, publishes_timeout=True),
    S.GLOBAL_MAINTENANCE:       _Rule((G_STAY, L), _maintenance_ended),
    S.LOCAL_MAINTENANCE:        _Rule((L_STAY,), _maintenance_ended),
    S.UNKNOWN_LOCAL_VM_STATE:   _Rule((G, U_STAY, L), _vm_state_known),
    S.AGENT_STOPPED:            _Rule((), _agent_stopped),
}
# fmt: on
