"""Whatever the snapshot and state, ``decide`` answers with something the caller can use."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hosted_engine.agent.snapshot import Snapshot
from hosted_engine.agent.states import Action, AgentState, Outcome, StateName, after_action
from hosted_engine.broker_contract import RemoteRecord
from hosted_engine.vm.engine_status import EngineStatus

from .builders import WEIGHTS, advance

ACTION_STATE = {
    Action.START_VM: StateName.ENGINE_START,
    Action.STOP_VM: StateName.ENGINE_STOP,
    Action.POWEROFF_VM: StateName.ENGINE_FORCE_STOP,
}

times = st.floats(min_value=-1e6, max_value=1e6)
engine_statuses = st.builds(
    EngineStatus,
    vm=st.sampled_from(["up", "down", "down_unexpected", "down_missing", "unknown", "odd"]),
    health=st.sampled_from(["good", "bad", "unknown"]),
    detail=st.sampled_from(["Up", "Powering up", "Paused", "Down", "unknown"]),
)
remote_hosts = st.builds(
    RemoteRecord,
    host_id=st.integers(2, 2000),
    hostname=st.text(max_size=10),
    score=st.integers(0, 3400),
    engine=engine_statuses,
    alive=st.booleans(),
    maintenance=st.booleans(),
    stopped=st.booleans(),
    state=st.none() | st.sampled_from([s.value for s in StateName]),
)
snapshots = st.builds(
    Snapshot,
    now=times,
    host_id=st.just(1),
    local_engine=engine_statuses,
    local_maintenance=st.booleans(),
    global_maintenance=st.booleans(),
    remotes=st.lists(remote_hosts, max_size=4).map(tuple),
    vm_lease_free=st.none() | st.booleans(),
    enough_data=st.booleans(),
    network=st.floats(0.0, 1.0),
    bridge=st.none() | st.booleans(),
    mem_free_mib=st.none() | st.floats(0.0, 1e6),
    cpu_load=st.none() | st.floats(0.0, 1.0),
    storage_ok=st.none() | st.booleans(),
    vm_mem_mib=st.none() | st.integers(0, 1 << 20),
    config_uptodate=st.booleans(),
)
agent_states = st.builds(
    AgentState,
    name=st.sampled_from(StateName),
    entered_at=times,
    retry_count=st.integers(0, 10),
    retry_time=st.none() | times,
    stop_requested=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(current=agent_states, snap=snapshots)
def test_decide_always_gives_a_usable_decision(current: AgentState, snap: Snapshot) -> None:
    decision = advance(current, snap)
    following = decision.state
    assert following.name in StateName
    assert 0 <= decision.score <= WEIGHTS.base_score
    assert decision.reason and "\n" not in decision.reason
    assert set(decision.metadata) <= {"timeout"}
    if following.name is current.name:
        assert following.entered_at == current.entered_at  # staying keeps the timer
    else:
        assert following.entered_at == snap.now  # a new state starts its timer now
    if decision.action is not None:
        assert following.name is current.name is ACTION_STATE[decision.action]
        assert decision.wait


@settings(max_examples=100, deadline=None)
@given(current=agent_states, snap=snapshots, outcome=st.sampled_from(Outcome))
def test_after_action_always_gives_a_valid_state(
    current: AgentState, snap: Snapshot, outcome: Outcome
) -> None:
    following = after_action(advance(current, snap), outcome, snap.now + 1)
    assert following.name in StateName
    assert following.retry_count >= 0
