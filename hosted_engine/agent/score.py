"""The host score (ha-anchor section 2): how suitable this host is to run the engine VM.

Hosts compare scores to elect who starts the engine VM and to decide when a running
engine should move, so the formula and weights must be the same on every host. The
weights are the reference's defaults, overridable like its ``agent.conf [score]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from hosted_engine.agent.fsm import StateName
from hosted_engine.agent.snapshot import Snapshot
from hosted_engine.broker_contract import ScoreBreakdown
from hosted_engine.errors import ConfigError

__all__ = ["ScoreBreakdown", "ScoreWeights", "compute_score", "score_breakdown"]

_ZERO_SCORE_STATES = frozenset(
    {
        StateName.START_STATE,
        StateName.REINITIALIZE_FSM,
        StateName.LOCAL_MAINTENANCE,
        StateName.ENGINE_UNEXPECTEDLY_DOWN,
        StateName.AGENT_STOPPED,
    }
)

# A running engine already uses its memory: counting it as missing would push the
# engine away from the host that runs it.
_NO_MEMORY_PENALTY_STATES = frozenset(
    {StateName.ENGINE_UP, StateName.ENGINE_UP_BAD_HEALTH, StateName.GLOBAL_MAINTENANCE}
)


@dataclass(frozen=True)
class ScoreWeights:
    """Field ``x_y`` is the reference's ``agent.conf`` key ``x-y``."""

    base_score: int = 3400
    not_uptodate_config_penalty: int = 1000
    network_score_penalty: int = 1600
    mgmt_bridge_score_penalty: int = 600
    cpu_load_score_penalty: int = 1000
    cpu_load_penalty_min: float = 0.4
    cpu_load_penalty_max: float = 0.9
    free_memory_score_penalty: int = 400
    engine_retry_score_penalty: int = 50
    engine_retry_max_attempts: int = 3
    restart_threshold_score: int = 800  # a running engine moves only to a host this much better

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"score {_key(f.name)} must be >= 0 (got {value})")
        if self.cpu_load_penalty_min > self.cpu_load_penalty_max:
            raise ConfigError(
                f"score cpu-load-penalty-min ({self.cpu_load_penalty_min}) must not exceed "
                f"cpu-load-penalty-max ({self.cpu_load_penalty_max})"
            )

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, str]) -> ScoreWeights:
        """The defaults with ``{agent.conf key: text}`` applied; bad input -> ConfigError."""
        defaults = cls()
        names = {_key(f.name): f.name for f in fields(cls)}
        changes: dict[str, Any] = {}
        for key, text in overrides.items():
            if key not in names:
                raise ConfigError(f"unknown score setting {key!r}; known: {', '.join(names)}")
            convert = type(getattr(defaults, names[key]))  # int or float, like the default
            try:
                changes[names[key]] = convert(text)
            except ValueError:
                kind = "a number" if convert is float else "a whole number"
                raise ConfigError(f"score {key} must be {kind} (got {text!r})") from None
        return cls(**changes)


def _key(field_name: str) -> str:
    return field_name.replace("_", "-")


def score_breakdown(
    state_name: StateName, snapshot: Snapshot, retry_count: int, weights: ScoreWeights
) -> ScoreBreakdown:
    w = weights
    penalties = [
        ("config not up to date", 0 if snapshot.config_uptodate else w.not_uptodate_config_penalty),
        ("network", _network_penalty(snapshot.network, w)),
        ("management bridge down", w.mgmt_bridge_score_penalty if snapshot.bridge is False else 0),
        ("cpu load", _cpu_load_penalty(snapshot.cpu_load, w)),
        ("low free memory", _memory_penalty(state_name, snapshot, w)),
        (f"{retry_count} failed start attempts", w.engine_retry_score_penalty * retry_count),
    ]
    return ScoreBreakdown(
        base=w.base_score,
        penalties=tuple((what, points) for what, points in penalties if points),
        zero_because=_zero_because(state_name, snapshot, retry_count, w),
    )


def compute_score(
    state_name: StateName, snapshot: Snapshot, retry_count: int, weights: ScoreWeights
) -> int:
    return score_breakdown(state_name, snapshot, retry_count, weights).total


def _zero_because(
    state_name: StateName, snapshot: Snapshot, retry_count: int, w: ScoreWeights
) -> str | None:
    if state_name in _ZERO_SCORE_STATES:
        return f"state {state_name.value}"
    if snapshot.storage_ok is False:
        # A host that cannot do storage I/O cannot hold the VM lease: never elect it.
        return "storage domain not usable"
    if retry_count > w.engine_retry_max_attempts:
        # Give a less suited host its chance (the reference never got here: D1).
        return f"{retry_count} failed start attempts > {w.engine_retry_max_attempts}"
    return None


def _network_penalty(network: float, w: ScoreWeights) -> int:
    return int((1 - min(1.0, max(0.0, network))) * w.network_score_penalty)


def _cpu_load_penalty(load: float | None, w: ScoreWeights) -> int:
    if load is None:
        return 0
    low, high, penalty = w.cpu_load_penalty_min, w.cpu_load_penalty_max, w.cpu_load_score_penalty
    if low == high:
        return penalty if load >= low else 0
    return max(0, min(penalty, int((load - low) / (high - low) * penalty)))


def _memory_penalty(state_name: StateName, snapshot: Snapshot, w: ScoreWeights) -> int:
    if state_name in _NO_MEMORY_PENALTY_STATES:
        return 0
    if snapshot.mem_free_mib is None or snapshot.vm_mem_mib is None:
        return 0  # unknown is not "too little" (the reference counted it as 0 MiB free)
    return w.free_memory_score_penalty if snapshot.mem_free_mib < snapshot.vm_mem_mib else 0
