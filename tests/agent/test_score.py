"""The score formula and its weights (ha-anchor section 2)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from hosted_engine.agent.score import ScoreWeights, compute_score, score_breakdown
from hosted_engine.agent.states import StateName
from hosted_engine.errors import ConfigError

from .builders import WEIGHTS, S, snap


def score(name: StateName = S.ENGINE_DOWN, retries: int = 0, **snapshot: Any) -> int:
    return compute_score(name, snap(**snapshot), retries, WEIGHTS)


@pytest.mark.parametrize(
    ("snapshot", "expected"),
    [
        pytest.param({}, 3400, id="healthy host: base score"),
        pytest.param({"config_uptodate": False}, 2400, id="config not up to date"),
        pytest.param({"network": 0.5}, 2600, id="half the probes failed"),
        pytest.param({"network": 0.0}, 1800, id="no probe succeeded"),
        pytest.param({"network": 0.8}, 3081, id="4 of 5 probes: int() truncates 319.99"),
        pytest.param({"bridge": False}, 2800, id="bridge down"),
        pytest.param({"bridge": None}, 3400, id="bridge unknown: no penalty (D2)"),
        pytest.param({"cpu_load": 0.8}, 2600, id="cpu 0.8: the reference's 800 example"),
        pytest.param({"cpu_load": 0.4}, 3400, id="cpu at the penalty minimum"),
        pytest.param({"cpu_load": 0.65}, 2900, id="cpu half-way"),
        pytest.param({"cpu_load": 0.95}, 2400, id="cpu above the maximum: capped"),
        pytest.param({"cpu_load": None}, 3400, id="cpu unknown"),
        pytest.param({"mem_free_mib": 4095.0}, 3000, id="less free memory than the VM needs"),
        pytest.param({"mem_free_mib": 4096.0}, 3400, id="exactly enough free memory"),
        pytest.param({"mem_free_mib": None}, 3400, id="free memory unknown"),
        pytest.param({"vm_mem_mib": None}, 3400, id="VM memory size unknown"),
        pytest.param({"storage_ok": False}, 0, id="storage unusable: never elected"),
        pytest.param({"storage_ok": None}, 3400, id="storage unknown"),
        pytest.param(
            {"network": 0.0, "bridge": False, "cpu_load": 1.0, "config_uptodate": False},
            0,
            id="floor at 0",
        ),
    ],
)
def test_penalties(snapshot: dict[str, Any], expected: int) -> None:
    assert score(**snapshot) == expected


@pytest.mark.parametrize(
    ("retries", "expected"),
    [(0, 3400), (1, 3350), (2, 3300), (3, 3250), (4, 0), (9, 0)],
)
def test_failed_start_attempts_cost_50_each_and_more_than_3_zero_the_score(
    retries: int, expected: int
) -> None:
    assert score(retries=retries) == expected


@pytest.mark.parametrize(
    "name",
    [S.START_STATE, S.REINITIALIZE_FSM, S.LOCAL_MAINTENANCE, S.ENGINE_UNEXPECTEDLY_DOWN,
     S.AGENT_STOPPED],
)  # fmt: skip
def test_forced_zero_states(name: StateName) -> None:
    assert score(name) == 0


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (S.ENGINE_DOWN, 3000),
        (S.ENGINE_START, 3000),
        (S.ENGINE_STARTING, 3000),
        (S.ENGINE_UP, 3400),
        (S.ENGINE_UP_BAD_HEALTH, 3400),
        (S.GLOBAL_MAINTENANCE, 3400),
    ],
)
def test_memory_penalty_skipped_while_the_engine_runs_or_in_global_maintenance(
    name: StateName, expected: int
) -> None:
    assert score(name, mem_free_mib=1024.0) == expected


def test_cpu_penalty_is_a_step_when_min_equals_max() -> None:
    step = ScoreWeights(cpu_load_penalty_min=0.5, cpu_load_penalty_max=0.5)
    assert compute_score(S.ENGINE_DOWN, snap(cpu_load=0.49), 0, step) == 3400
    assert compute_score(S.ENGINE_DOWN, snap(cpu_load=0.5), 0, step) == 2400


def test_breakdown_names_each_penalty() -> None:
    breakdown = score_breakdown(S.ENGINE_DOWN, snap(network=0.5, cpu_load=0.8), 1, WEIGHTS)
    assert str(breakdown) == "3400 - network 800 - cpu load 800 - 1 failed start attempts 50 = 1750"
    assert breakdown.total == 1750


def test_breakdown_says_why_the_score_is_zero() -> None:
    assert str(score_breakdown(S.LOCAL_MAINTENANCE, snap(), 0, WEIGHTS)) == (
        "0 (state LocalMaintenance)"
    )
    assert str(score_breakdown(S.ENGINE_DOWN, snap(storage_ok=False), 0, WEIGHTS)) == (
        "0 (storage domain not usable)"
    )


def test_default_weights_are_the_reference_constants() -> None:
    assert ScoreWeights.from_overrides({}) == ScoreWeights(
        base_score=3400,
        not_uptodate_config_penalty=1000,
        network_score_penalty=1600,
        mgmt_bridge_score_penalty=600,
        cpu_load_score_penalty=1000,
        cpu_load_penalty_min=0.4,
        cpu_load_penalty_max=0.9,
        free_memory_score_penalty=400,
        engine_retry_score_penalty=50,
        engine_retry_max_attempts=3,
        restart_threshold_score=800,
    )


def test_overrides_use_the_agent_conf_keys() -> None:
    weights = ScoreWeights.from_overrides(
        {"base-score": "2000", "cpu-load-penalty-max": "0.8", "restart-threshold-score": "400"}
    )
    assert (weights.base_score, weights.cpu_load_penalty_max) == (2000, 0.8)
    assert weights.restart_threshold_score == 400


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"base_score": "1"}, "unknown score setting 'base_score'"),
        ({"gateway-score-penalty": "1"}, "unknown score setting 'gateway-score-penalty'"),
        ({"base-score": "lots"}, "score base-score must be a whole number (got 'lots')"),
        ({"base-score": "3400.5"}, "score base-score must be a whole number"),
        ({"cpu-load-penalty-min": "x"}, "score cpu-load-penalty-min must be a number"),
        ({"cpu-load-penalty-min": "nan"}, "score cpu-load-penalty-min must be >= 0"),
        ({"network-score-penalty": "-5"}, "score network-score-penalty must be >= 0"),
        ({"cpu-load-penalty-min": "0.95"}, "must not exceed cpu-load-penalty-max"),
    ],
)
def test_bad_overrides_are_refused_with_a_one_line_message(
    overrides: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        ScoreWeights.from_overrides(overrides)
    assert "\n" not in str(caught.value)
