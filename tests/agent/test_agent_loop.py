"""``Agent.step``/``loop_once``/``run`` with fakes: the in-process broker, the shipped
FakeVmBackend and MemoryLeaseManager, and a FakeClock."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hosted_engine.agent.daemon import MAX_BACKOFF, Agent
from hosted_engine.agent.states import AgentState, StateName
from hosted_engine.broker_contract import BREAKDOWN_KEY, ScoreBreakdown, VmLease
from hosted_engine.clock import FakeClock
from hosted_engine.config.host import HostConfig, from_values
from hosted_engine.errors import (
    BrokerUnavailableError,
    ConfigError,
    ContractError,
    ContractVersionError,
    RpcError,
)
from hosted_engine.locking import MemoryLeaseManager
from hosted_engine.vm.definition import VmDefinition
from hosted_engine.vm.fake import FakeVmBackend

from .builders import PAUSED
from .fakes import UP, FakeBroker, remote

S = StateName
VM = VmDefinition(vm_id="vm-1", mem_size_mib=4096)


def config(**more: str) -> HostConfig:
    values = {"host_id": "1", "sdUUID": "sd", "storage": "/nonexistent", "hostname": "host1"}
    values.update(more)
    return from_values(values)


class Rig:
    def __init__(self, **agent_args: Any) -> None:
        self.clock = FakeClock()
        self.leases = MemoryLeaseManager()
        self.backend = FakeVmBackend(self.leases, 1)
        self.broker = FakeBroker(self.clock, backend=self.backend)
        self.maintenance: Callable[[], bool] = lambda: False
        self.stop = threading.Event()
        self.pauses: list[float] = []
        args: dict[str, Any] = dict(
            broker=self.broker,
            backend=self.backend,
            local_maintenance=lambda: self.maintenance(),
            definition=lambda: VM,
            pause=self._pause,
        )
        args.update(agent_args)
        self.agent = Agent(config(), self.clock, self.stop, **args)

    def _pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.clock.advance(seconds)

    def states(self) -> list[str]:
        return [r.state for r in self.broker.reports]


def test_alone_on_a_cluster_the_agent_starts_the_engine() -> None:
    rig = Rig()
    for _ in range(6):
        rig.agent.step()
    assert rig.backend.running
    assert rig.states() == [
        "ReinitializeFSM",
        "EngineDown",
        "EngineStart",
        "EngineStarting",  # EngineStart's action, carried out within the step
        "EngineUp",
        "EngineUp",
    ]
    assert ("state_transition", "EngineStart-EngineStarting") in rig.broker.notifications
    assert rig.broker.reports[-1].score == 3400


def test_every_report_carries_the_score_breakdown() -> None:
    rig = Rig()
    rig.broker.monitor_values = {"network": 0.5}
    rig.agent.step()
    rig.agent.step()
    report = rig.broker.reports[-1]
    breakdown = ScoreBreakdown.from_metadata(report.metadata[BREAKDOWN_KEY])
    assert breakdown == ScoreBreakdown(3400, (("network", 800),), None)
    assert report.score == breakdown.total == 2600


def test_one_sentence_per_loop_says_what_and_why(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "hosted_engine.agent")
    rig = Rig()
    rig.broker.hosts = (remote(2, engine=UP, score=3400, state="EngineUp"),)
    rig.broker.lease = VmLease(known=True, held=True, holder_host_id=2)
    for _ in range(3):
        rig.agent.step()
    sentences = [r.getMessage() for r in caplog.records if r.name == "hosted_engine.agent"]
    assert len(sentences) == 3
    assert sentences[-1] == (
        "no action: engine VM runs on host2 (id 2); state EngineDown, this host scores 3400"
    )
    assert rig.agent.last_sentence == sentences[-1]


def test_an_action_is_named_with_its_outcome(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "hosted_engine.agent")
    rig = Rig()
    rig.backend.set_start_failure("qemu exploded")
    for _ in range(4):
        rig.agent.step()
    assert rig.agent.last_sentence.startswith("start the engine VM: failed: ")
    # the failed attempt costs the retry penalty at once, in the score and its breakdown
    report = rig.broker.reports[-1]
    assert report.state == "EngineDown"
    assert report.score == 3350
    assert "1 failed start attempts" in report.metadata[BREAKDOWN_KEY]


def test_local_maintenance_is_read_each_loop() -> None:
    rig = Rig()
    rig.maintenance = lambda: True
    rig.agent.step()
    rig.agent.step()
    assert rig.states()[-1] == "LocalMaintenance"
    assert rig.broker.reports[-1].maintenance is True
    assert rig.broker.reports[-1].score == 0


def test_unreadable_maintenance_flags_count_as_maintenance() -> None:
    def broken() -> bool:
        raise ConfigError("ha.conf: not a boolean: 'maybe'")

    rig = Rig()
    rig.maintenance = broken
    rig.agent.step()
    rig.agent.step()
    assert rig.states()[-1] == "LocalMaintenance"
    assert not rig.backend.running


def test_a_missing_definition_does_not_stop_the_loop() -> None:
    from hosted_engine.errors import VmDefinitionError

    def missing() -> VmDefinition:
        raise VmDefinitionError("vm.conf: no such file")

    rig = Rig(definition=missing)
    for _ in range(4):
        rig.agent.step()
    assert not rig.backend.running  # the start failed, counted, and the loop goes on
    assert rig.agent.state.retry_count == 1


# --- the loop -------------------------------------------------------------------------------


def test_loop_once_waits_out_the_period_or_not_at_all() -> None:
    rig = Rig()
    assert rig.agent.loop_once() == rig.agent.timing.loop_period  # StartState: WAIT
    rig.agent.state = AgentState(S.UNKNOWN_LOCAL_VM_STATE, rig.clock.monotonic())
    assert rig.agent.loop_once() == 0.0  # UnknownLocalVmState -> Reinitialize is NOWAIT


@pytest.mark.parametrize(
    "error",
    [
        BrokerUnavailableError("cannot connect"),
        RpcError("internal error", -32603),
        ContractError("broker snapshot: host_id is missing"),
    ],
)
def test_a_broker_gone_or_garbled_is_retried_with_back_off(error: Exception) -> None:
    rig = Rig()
    period = rig.agent.timing.loop_period
    rig.broker.fail = error
    delays = [rig.agent.loop_once() for _ in range(6)]
    assert delays == [min(period * 2**i, MAX_BACKOFF) for i in range(6)]
    assert delays[-1] == MAX_BACKOFF
    assert rig.broker.closed == 6
    assert rig.broker.reports == []  # nothing decided, nothing published
    rig.broker.fail = None
    assert rig.agent.loop_once() == period
    rig.broker.fail = error
    assert rig.agent.loop_once() == period  # back-off starts over after a success


def test_a_newer_broker_is_refused_and_logged_as_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "hosted_engine.agent")
    rig = Rig()
    rig.broker.fail = ContractVersionError("2.0", 1)
    rig.agent.loop_once()
    assert not rig.backend.running
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert "contract version 2.0" in record.getMessage()


def test_run_loops_until_stopped_then_reports_agent_stopped() -> None:
    rig = Rig()

    def pause(seconds: float) -> None:
        rig.pauses.append(seconds)
        rig.clock.advance(seconds)
        if len(rig.pauses) == 5:
            rig.stop.set()

    rig.agent = Agent(
        config(),
        rig.clock,
        rig.stop,
        broker=rig.broker,
        backend=rig.backend,
        local_maintenance=lambda: False,
        definition=lambda: VM,
        pause=pause,
    )
    assert rig.agent.run() == 0
    assert len(rig.pauses) == 5
    last = rig.broker.reports[-1]
    assert (last.state, last.score, last.stopped) == ("AgentStopped", 0, True)
    assert rig.backend.running  # stopping the agent never stops the engine VM
    assert rig.broker.closed >= 1


def test_run_with_the_stop_event_set_only_reports_stopped() -> None:
    rig = Rig()
    rig.stop.set()
    assert rig.agent.run() == 0
    assert rig.states() == ["AgentStopped"]


def test_agent_stopped_is_best_effort_without_a_broker() -> None:
    rig = Rig()
    rig.broker.fail = BrokerUnavailableError("gone")
    rig.broker.report_state = _raise(BrokerUnavailableError("gone"))  # type: ignore[method-assign]
    rig.stop.set()
    assert rig.agent.run() == 0


def _raise(error: Exception) -> Callable[..., None]:
    def fail(*args: object) -> None:
        raise error

    return fail


def test_the_daemon_wires_the_real_pieces(tmp_path: Path) -> None:
    from hosted_engine.agent.ports import RpcBroker

    c = config(
        storage=str(tmp_path), run_dir=str(tmp_path / "run"), state_dir=str(tmp_path / "state")
    )
    agent = Agent.for_host(c, threading.Event())
    assert isinstance(agent.broker, RpcBroker)
    # no broker socket: the loop backs off instead of dying
    assert agent.loop_once() == c.timing.loop_period


def test_a_start_goes_into_the_history_once() -> None:
    rig = Rig()
    for _ in range(8):
        rig.agent.step()
    assert rig.broker.history == [("started", None)]


def test_a_stop_goes_into_the_history_with_its_cause_when_asked_for() -> None:
    """Outranked by 800 points for the whole grace: EngineStop, then the VM is down."""
    rig = Rig()
    for _ in range(5):
        rig.agent.step()
    assert rig.states()[-1] == "EngineUp"
    rig.broker.monitor_values = {"network": 0.5}  # this host drops to 2600
    rig.broker.hosts = (remote(2, score=3400),)
    for _ in range(40):
        rig.agent.step()
        rig.clock.advance(rig.agent.timing.loop_period)
        if rig.states()[-1] == "EngineDown":
            break
    assert "EngineStop" in rig.states()
    assert rig.broker.history == [("started", None), ("stopped", "preemption")]


def test_a_frozen_engine_powered_off_for_bad_health_is_in_the_history() -> None:
    """A paused (SIGSTOPped) engine fails its health check; after the bad-health timeout
    EngineStop finds it paused and powers it off without a graceful shutdown. Found by
    the chaos run: the stop was missing from the history."""
    rig = Rig()
    for _ in range(5):
        rig.agent.step()
    assert rig.states()[-1] == "EngineUp"
    rig.backend.pause()
    rig.broker.monitor_values = {"engine_health": PAUSED}
    for _ in range(100):
        rig.agent.step()
        rig.clock.advance(rig.agent.timing.loop_period)
        if not rig.backend.running:
            break
    assert "EngineForceStop" in rig.states() or "EngineStop" in rig.states()
    assert not rig.backend.running
    assert rig.broker.history == [("started", None), ("stopped", "bad health")]
