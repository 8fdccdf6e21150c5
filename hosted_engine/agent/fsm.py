"""The state machine's vocabulary: state names, what it remembers, what it decides.

Kept apart from the rules (``states.py``) so the score (``score.py``) can name states
without importing the rules that use it. Import everything from ``states.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class StateName(StrEnum):
    """The reference's FSM states (ha-anchor 1.3); the value, its class name, is what is
    published as ``state=``."""

    START_STATE = "StartState"
    REINITIALIZE_FSM = "ReinitializeFSM"
    ENGINE_DOWN = "EngineDown"
    ENGINE_START = "EngineStart"
    ENGINE_STARTING = "EngineStarting"
    ENGINE_UP = "EngineUp"
    ENGINE_UP_BAD_HEALTH = "EngineUpBadHealth"
    ENGINE_STOP = "EngineStop"
    ENGINE_FORCE_STOP = "EngineForceStop"
    ENGINE_MAYBE_AWAY = "EngineMaybeAway"
    ENGINE_UNEXPECTEDLY_DOWN = "EngineUnexpectedlyDown"
    GLOBAL_MAINTENANCE = "GlobalMaintenance"
    LOCAL_MAINTENANCE = "LocalMaintenance"
    UNKNOWN_LOCAL_VM_STATE = "UnknownLocalVmState"
    AGENT_STOPPED = "AgentStopped"


@dataclass(frozen=True)
class AgentState:
    """Everything the agent remembers from one decision to the next.

    ``entered_at`` (monotonic) is when this state name was entered: the state's timeout
    runs from it, and a move to another name restarts it. The retry counters outlive
    state changes; they are forgotten only after ``retry_expiration`` or on EngineUp.
    """

    name: StateName
    entered_at: float
    retry_count: int = 0  # failed start attempts not yet forgotten
    retry_time: float | None = None  # monotonic time of the last failed attempt
    stop_requested: bool = False  # EngineStop: the graceful shutdown was already sent
    outranked_since: float | None = None  # EngineUp: since when a remote host beats us by the
    # restart threshold; we yield only once that has lasted preempt_grace
    deferred_since: float | None = None  # EngineDown: since when we have stood back for a
    # better-scoring host while the VM lease is free; it gets half a loop to take the lease


class Action(StrEnum):
    """What the executor must do to the local engine VM."""

    START_VM = "start"
    STOP_VM = "shutdown"  # graceful
    POWEROFF_VM = "poweroff"


class Outcome(StrEnum):
    """How an action ended, as the executor reports it to ``after_action``."""

    OK = "ok"
    LEASE_HELD = "lease held"  # another host won the start race: not this host's failure
    FAILED = "failed"


@dataclass(frozen=True)
class Decision:
    """One step of the FSM.

    ``state`` is the state to publish and keep; when ``action`` is set, it is the state the
    action is carried out in, and ``after_action`` gives the one that follows. ``wait``
    False means decide again at once (the reference's NOWAIT). ``score`` is ``state``'s
    score. ``metadata`` holds the extra published keys (``timeout``: whole seconds left
    before the state's timeout fires); ``maintenance`` and ``stopped`` follow from the
    state name. ``recheck_after``, when set, asks for the next decision after that many
    seconds instead of a whole loop (EngineDown standing back on a free VM lease).
    """

    state: AgentState
    action: Action | None
    wait: bool
    score: int
    reason: str
    metadata: dict[str, str] = field(default_factory=dict)
    recheck_after: float | None = None
