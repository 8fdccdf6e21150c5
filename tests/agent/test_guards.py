"""The G, U and L guards of ha-anchor 1.3: which states have them, where they lead, in
what order they are checked (and 1.5: the maintenance modes)."""

from __future__ import annotations

import pytest

from hosted_engine.agent.states import StateName

from .builders import UNKNOWN, UP_GOOD, WAIT, S, snap, step, summary

GUARDED = [
    S.REINITIALIZE_FSM, S.ENGINE_DOWN, S.ENGINE_START, S.ENGINE_STARTING, S.ENGINE_UP,
    S.ENGINE_UP_BAD_HEALTH, S.ENGINE_STOP, S.ENGINE_FORCE_STOP, S.ENGINE_MAYBE_AWAY,
    S.ENGINE_UNEXPECTEDLY_DOWN, S.UNKNOWN_LOCAL_VM_STATE,
]  # fmt: skip
WITH_L = [s for s in GUARDED if s not in (S.ENGINE_UP, S.ENGINE_UP_BAD_HEALTH)]
L_BEFORE_U = [S.ENGINE_STOP, S.ENGINE_FORCE_STOP]


@pytest.mark.parametrize("current", [*GUARDED, S.GLOBAL_MAINTENANCE])
def test_global_maintenance_leads_to_global_maintenance(current: StateName) -> None:
    decision = step(current, snap(global_maintenance=True, local_engine=UP_GOOD))
    assert summary(decision) == (S.GLOBAL_MAINTENANCE, WAIT, None)


@pytest.mark.parametrize("current", [S.LOCAL_MAINTENANCE, S.AGENT_STOPPED])
def test_global_maintenance_is_not_checked_in(current: StateName) -> None:
    decision = step(current, snap(global_maintenance=True, local_maintenance=True))
    assert decision.state.name is current


def test_global_maintenance_keeps_a_host_out_of_local_maintenance_until_it_ends() -> None:
    both = snap(global_maintenance=True, local_maintenance=True)
    assert step(S.GLOBAL_MAINTENANCE, both).state.name is S.GLOBAL_MAINTENANCE
    assert step(S.GLOBAL_MAINTENANCE, snap(local_maintenance=True)).state.name is (
        S.LOCAL_MAINTENANCE
    )


def test_local_maintenance_ending_under_global_maintenance_goes_through_reinitialize() -> None:
    assert step(S.LOCAL_MAINTENANCE, snap(global_maintenance=True)).state.name is (
        S.REINITIALIZE_FSM
    )


@pytest.mark.parametrize("current", [s for s in GUARDED if s is not S.UNKNOWN_LOCAL_VM_STATE])
def test_unknown_local_vm_state_leads_to_unknown_local_vm_state(current: StateName) -> None:
    decision = step(current, snap(local_engine=UNKNOWN))
    assert summary(decision) == (S.UNKNOWN_LOCAL_VM_STATE, WAIT, None)


def test_unknown_local_vm_state_stays_while_unknown_even_in_local_maintenance() -> None:
    unknown = snap(local_engine=UNKNOWN, local_maintenance=True)
    assert step(S.UNKNOWN_LOCAL_VM_STATE, unknown).state.name is S.UNKNOWN_LOCAL_VM_STATE


@pytest.mark.parametrize("current", [*WITH_L, S.GLOBAL_MAINTENANCE, S.LOCAL_MAINTENANCE])
def test_local_maintenance_leads_to_local_maintenance(current: StateName) -> None:
    decision = step(current, snap(local_maintenance=True, local_engine=UP_GOOD))
    assert summary(decision) == (S.LOCAL_MAINTENANCE, WAIT, None)


@pytest.mark.parametrize("current", [S.ENGINE_UP, S.ENGINE_UP_BAD_HEALTH])
def test_local_maintenance_is_ignored_while_the_engine_runs_here(current: StateName) -> None:
    decision = step(current, snap(local_maintenance=True, local_engine=UP_GOOD))
    assert decision.state.name is S.ENGINE_UP


@pytest.mark.parametrize("current", GUARDED)
def test_g_is_checked_before_u_and_l(current: StateName) -> None:
    everything = snap(global_maintenance=True, local_maintenance=True, local_engine=UNKNOWN)
    assert step(current, everything).state.name is S.GLOBAL_MAINTENANCE


@pytest.mark.parametrize(
    "current", [s for s in WITH_L if s not in (*L_BEFORE_U, S.UNKNOWN_LOCAL_VM_STATE)]
)
def test_u_is_checked_before_l(current: StateName) -> None:
    decision = step(current, snap(local_maintenance=True, local_engine=UNKNOWN))
    assert decision.state.name is S.UNKNOWN_LOCAL_VM_STATE


@pytest.mark.parametrize("current", L_BEFORE_U)
def test_stop_states_check_l_before_u(current: StateName) -> None:
    decision = step(current, snap(local_maintenance=True, local_engine=UNKNOWN))
    assert decision.state.name is S.LOCAL_MAINTENANCE


def test_local_maintenance_scores_0_and_global_maintenance_keeps_its_score() -> None:
    assert step(S.ENGINE_DOWN, snap(local_maintenance=True)).score == 0
    assert step(S.ENGINE_DOWN, snap(global_maintenance=True)).score == 3400
