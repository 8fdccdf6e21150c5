"""The cluster simulator: seeds pass, replay exactly, and a broken policy is caught."""

from __future__ import annotations

import dataclasses

import pytest

from hosted_engine.agent.score import ScoreWeights
from hosted_engine.agent.snapshot import Snapshot
from hosted_engine.agent.states import Action, AgentState, Decision, StateName, decide
from hosted_engine.clock import FakeClock
from hosted_engine.config.timing import Timing
from hosted_engine.locking import MemoryLeaseManager
from hosted_engine.sim.__main__ import main
from hosted_engine.sim.host import SimVmBackend
from hosted_engine.sim.world import SimSettings, SimulationFailed, World, simulate

SEEDS = (1, 2, 3)
STEPS = 2000


def test_a_handful_of_seeds_keep_both_invariants(capsys: pytest.CaptureFixture[str]) -> None:
    results = [simulate(seed, SimSettings(steps=STEPS)) for seed in SEEDS]
    for result in results:
        print(result.summary())
        assert result.faults > 10  # the storms did happen
        assert result.worst_recovery <= result.bound
    with capsys.disabled():
        rate = sum(r.steps for r in results) / sum(r.steps / r.steps_per_second for r in results)
        print(f"\nsimulator: {len(SEEDS)} seeds x {STEPS} steps, {rate:.0f} steps/s")


def test_a_seed_replays_exactly() -> None:
    settings = SimSettings(steps=400)
    first, second = World(7, settings).run(), World(7, settings).run()
    assert first.digest == second.digest
    assert World(8, settings).run().digest != first.digest


# --- a broken policy must be caught ---------------------------------------------------------


def _eager(state: AgentState, snap: Snapshot, timing: Timing, weights: ScoreWeights) -> Decision:
    """Starts the engine whenever it is not up here, whatever the others do."""
    decision = decide(state, snap, timing, weights)
    if decision.state.name is StateName.ENGINE_DOWN and snap.local_engine.vm != "up":
        start = dataclasses.replace(decision.state, name=StateName.ENGINE_START)
        return dataclasses.replace(decision, state=start, action=Action.START_VM)
    return decision


def _leaseless(leases: MemoryLeaseManager, host_id: int, clock: FakeClock) -> SimVmBackend:
    """Starts without the shared VM lease: each host gets a lockspace of its own."""
    return SimVmBackend(MemoryLeaseManager(), host_id, clock)


def test_two_hosts_starting_without_a_lease_are_caught_with_the_seed() -> None:
    settings = SimSettings(steps=2000)
    with pytest.raises(SimulationFailed) as caught:
        simulate(11, settings, policy=_eager, backend_factory=_leaseless)
    message = str(caught.value)
    assert "engine VMs running at once" in message
    assert "replay: python -m hosted_engine.sim --seed 11 --steps 2000" in message
    # the failure replays exactly: the same step, the same words
    again = World(11, settings, policy=_eager, backend_factory=_leaseless).run()
    assert again.failure == caught.value.result.failure


def test_the_lease_alone_stops_an_eager_policy() -> None:
    """Invariant 1 rests on the VM lease, not on agents agreeing."""
    assert simulate(11, SimSettings(steps=600), policy=_eager).ok


def _lazy(state: AgentState, snap: Snapshot, timing: Timing, weights: ScoreWeights) -> Decision:
    """Never starts the engine VM."""
    decision = decide(state, snap, timing, weights)
    if decision.action is Action.START_VM:
        return dataclasses.replace(decision, action=None, state=state)
    return decision


def test_an_engine_never_restarted_is_caught() -> None:
    result = World(5, SimSettings(steps=1500), policy=_lazy).run()
    assert result.failure is not None and "engine down for" in result.failure
    assert result.history and "INVARIANT BROKEN" in result.history[-1]


# --- the command line -----------------------------------------------------------------------


def test_the_command_line_runs_and_replays(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--seed", "3", "--steps", "300"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("seed 3: 300 steps (75 s simulated)") and out.rstrip().endswith(": ok")
    assert main(["--seed", "3", "--steps", "40", "--verbose"]) == 0
    assert "host 1: no action" in capsys.readouterr().out  # every event, then the summary


@pytest.mark.parametrize(
    "args", [["--steps", "0"], ["--hosts", "0"], ["--profile", "nope", "--steps", "5"]]
)
def test_bad_arguments_are_one_line(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
