"""One-line builders for the agent policy tests: a healthy default, overridden per case."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from hosted_engine.agent.score import ScoreWeights
from hosted_engine.agent.snapshot import Snapshot
from hosted_engine.agent.states import Action, AgentState, Decision, StateName, decide
from hosted_engine.broker_contract import RemoteRecord
from hosted_engine.config.timing import PROFILES, Timing
from hosted_engine.vm.engine_status import EngineStatus

S = StateName
TIMING = PROFILES["default"]  # the reference's timeouts: 600 / 300 / 300 / 40 / 560, retry 600
WEIGHTS = ScoreWeights()
NOW = 10_000.0
WAIT, NOWAIT = True, False

UP_GOOD = EngineStatus("up", "good", "Up")
UP_BAD = EngineStatus("up", "bad", "Up", "failed liveliness check")
POWERING_UP = EngineStatus("up", "bad", "Powering up")
PAUSED = EngineStatus("up", "bad", "Paused")
DOWN = EngineStatus("down", "bad", "Down")
DOWN_UNEXPECTED = EngineStatus("down_unexpected", "bad", "Down")
DOWN_MISSING = EngineStatus("down_missing", "bad", "Down")
UNKNOWN = EngineStatus("unknown", "unknown", "unknown")

_HEALTHY = Snapshot(
    now=NOW,
    host_id=1,
    local_engine=DOWN,
    local_maintenance=False,
    global_maintenance=False,
    remotes=(),
    vm_lease_free=None,
    enough_data=True,
    network=1.0,
    bridge=True,
    mem_free_mib=16_384.0,
    cpu_load=0.0,
    storage_ok=True,
    vm_mem_mib=4096,
)


def snap(*remotes: RemoteRecord, **overrides: Any) -> Snapshot:
    """A healthy host 1 with no engine VM, seeing ``remotes``; score 3400 in any normal state."""
    return replace(_HEALTHY, remotes=remotes, **overrides)


def local(engine: EngineStatus, *remotes: RemoteRecord, **overrides: Any) -> Snapshot:
    """``snap`` with this host's engine VM in state ``engine``."""
    return snap(*remotes, local_engine=engine, **overrides)


def remote(host_id: int = 2, **overrides: Any) -> RemoteRecord:
    """A live, full-score remote host with no engine VM."""
    host = RemoteRecord(
        host_id=host_id,
        hostname=f"host{host_id}",
        score=3400,
        engine=DOWN,
        alive=True,
        maintenance=False,
        stopped=False,
        state="EngineDown",
    )
    return replace(host, **overrides)


def state(name: StateName, entered_at: float = NOW, **overrides: Any) -> AgentState:
    return AgentState(name, entered_at=entered_at, **overrides)


def step(name: StateName, snapshot: Snapshot | None = None, **state_fields: Any) -> Decision:
    """``decide`` from state ``name`` (entered at NOW unless given) on ``snapshot``."""
    return advance(state(name, **state_fields), snapshot or snap())


def summary(decision: Decision) -> tuple[StateName, bool, Action | None]:
    """(next state, wait, action): what most cases check."""
    return decision.state.name, decision.wait, decision.action


def advance(current: AgentState, snapshot: Snapshot, timing: Timing = TIMING) -> Decision:
    """``decide`` from an existing state, to follow a sequence of loops."""
    return decide(current, snapshot, timing, WEIGHTS)


def case_id(value: object) -> str | None:
    """Readable test ids: a snapshot shows only what differs from the healthy default."""
    if isinstance(value, Snapshot):
        changed = [
            f"{f.name}={_short(getattr(value, f.name))}"
            for f in fields(Snapshot)
            if getattr(value, f.name) != getattr(_HEALTHY, f.name)
        ]
        return ",".join(changed) or "defaults"
    return None


def _short(value: object) -> str:
    if isinstance(value, EngineStatus):
        return f"{value.vm}/{value.health}/{value.detail}"
    if isinstance(value, tuple):
        return "[" + " ".join(f"{r.host_id}:{_short(r.engine)}:{r.score}" for r in value) + "]"
    return str(value)
