"""``hosted-engine-agent``: decides, every loop, whether this host runs the engine VM.

The loop only gathers a snapshot (from the broker, the local maintenance flags and the
broker's cached copy of the engine VM definition; never shared storage), asks the pure
policy (:func:`decide`) what to do, carries the action out through the VM backend and
reports back. Losing the broker is waited out with back-off in-process, not by dying and
relying on a restart loop (users-and-numbers P2, BZ 1378310).

Everything the agent touches is passed in (:class:`Agent`'s arguments); only
:func:`main` wires the real broker socket, VM backend, flag file and clock, so tests and
the simulator (``hosted_engine.sim``) run the very same loop against fakes.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable

from hosted_engine.agent.executor import Executor
from hosted_engine.agent.ports import BrokerPort, RpcBroker, StateReport
from hosted_engine.agent.score import ScoreWeights, score_breakdown
from hosted_engine.agent.snapshot import Snapshot, build_snapshot
from hosted_engine.agent.states import (
    Action,
    AgentState,
    Decision,
    StateName,
    after_action,
    decide,
    initial_state,
)
from hosted_engine.agent.wakeup import LeaseWatch, lease_poll_interval
from hosted_engine.broker_contract import BREAKDOWN_KEY
from hosted_engine.clock import Clock, SystemClock
from hosted_engine.config import ha_state
from hosted_engine.config.host import HostConfig
from hosted_engine.config.timing import Timing
from hosted_engine.daemon_entry import run_daemon
from hosted_engine.errors import (
    BrokerUnavailableError,
    ContractError,
    ContractVersionError,
    HostedEngineError,
    RpcError,
)
from hosted_engine.storage.history import Cause
from hosted_engine.vm.base import VmBackend
from hosted_engine.vm.definition import VmDefinition, load_definition

log = logging.getLogger("hosted_engine.agent")

Policy = Callable[[AgentState, Snapshot, Timing, ScoreWeights], Decision]
MAX_BACKOFF = 30.0  # seconds between attempts to reach a broker that is not there
# The history's cause of a stop, by the state that led to EngineStop (storage/history.py).
_STOP_CAUSES = {
    StateName.ENGINE_UP_BAD_HEALTH: Cause.BAD_HEALTH,
    StateName.ENGINE_STARTING: Cause.BAD_HEALTH,  # it never came up healthy
    StateName.ENGINE_UP: Cause.PREEMPTION,  # a better host (or engine) elsewhere
}


class Agent:
    """One host's decision loop.

    ``local_maintenance`` reads this host's maintenance flags (HostedEngineError when
    they cannot be read: the agent then assumes maintenance); ``definition`` gives the
    engine VM definition it would start; ``pause`` waits between loops (default: the
    stop event's wait, ended early when a VM lease we stand by for is freed, see
    ``agent/wakeup.py``; tests and the simulator pass their own clock's); ``policy`` is
    :func:`decide` except in tests that check the simulator catches a broken one.
    """

    def __init__(
        self,
        config: HostConfig,
        clock: Clock,
        stop: threading.Event,
        *,
        broker: BrokerPort,
        backend: VmBackend,
        local_maintenance: Callable[[], bool],
        definition: Callable[[], VmDefinition],
        pause: Callable[[float], object] | None = None,
        policy: Policy = decide,
    ) -> None:
        self.config = config
        self.timing = config.timing
        self.clock = clock
        self.stop = stop
        self.weights = ScoreWeights.from_overrides(config.score_overrides)
        self.broker = broker
        self.executor = Executor(backend, definition, config.timing.vm_shutdown_grace)
        self.policy = policy
        self._local_maintenance = local_maintenance
        self._definition = definition
        self._pause = pause
        self.state: AgentState = initial_state(clock.monotonic())
        self.last_sentence = ""  # the latest loop's log line, for tests and the simulator
        self._vm_mem: int | None = None
        self._backoff = self.timing.loop_period
        poll = lease_poll_interval(self.timing.loop_period)
        self.lease_watch = LeaseWatch(broker.vm_lease, stop, poll, clock)
        self._watch_lease = False  # standing by while another host holds the VM lease
        self._recheck_after: float | None = None
        self._stop_cause: Cause | None = None  # why we are stopping the engine (history)
        self._stop_reason = ""

    @classmethod
    def for_host(cls, config: HostConfig, stop: threading.Event) -> Agent:
        """The agent with this host's real broker, VM backend, flag file and clock."""
        from hosted_engine.backends import vm_backend_for

        return cls(
            config,
            SystemClock(),
            stop,
            broker=RpcBroker(config.broker_socket, config.timing.rpc_timeout),
            backend=vm_backend_for(config),
            local_maintenance=lambda: ha_state.local_maintenance(config.ha_state_path),
            definition=lambda: load_definition(config.vm_conf_path),
        )

    # --- one decision -----------------------------------------------------------------------
    def _refresh_definition(self) -> None:
        """The memory the VM would take here, from the definition it would start with."""
        try:
            self._vm_mem = self._definition().mem_size_mib
        except HostedEngineError as e:
            log.warning("cannot read the engine VM definition: %s", e)

    def _read_local_maintenance(self) -> bool:
        try:
            return self._local_maintenance()
        except HostedEngineError as e:
            log.error("cannot read local maintenance flags, assuming maintenance: %s", e)
            return True  # the safe reading of a broken flag file

    def snapshot(self) -> Snapshot:
        """What this loop decides on: the broker's answer plus our own local reads."""
        now = self.clock.monotonic()
        self._refresh_definition()
        return build_snapshot(
            self.broker.get_snapshot(),
            now=now,
            local_maintenance=self._read_local_maintenance(),
            vm_mem_mib=self._vm_mem,
            config_max_age=self.timing.config_max_age,
            priority=self.config.ha_priority,
        )

    def step(self) -> bool:
        """One decision; returns whether to wait a loop period before the next."""
        snap = self.snapshot()
        previous = self.state
        decision = self.policy(previous, snap, self.timing, self.weights)
        if decision.action is not None:
            outcome = self.executor.run(decision.action)
            self.state = after_action(decision, outcome, self.clock.monotonic())
            what = f"{decision.action.value} the engine VM: {outcome.value}"
        else:
            self.state = decision.state
            what = "no action"
        self._recheck_after = decision.recheck_after
        self._watch_lease = (
            self.state.name is StateName.ENGINE_DOWN
            and snap.vm_lease_free is False
            and snap.vm_lease_holder != self.config.host_id
        )
        # from the state we keep: the outcome may change the score (a failed start's penalty)
        breakdown = score_breakdown(self.state.name, snap, self.state.retry_count, self.weights)
        # Patroni's model: one sentence per loop, saying what was decided and why.
        self.last_sentence = (
            f"{what}: {decision.reason}; state {self.state.name.value}, "
            f"this host scores {breakdown}"
        )
        log.info("%s", self.last_sentence)
        self.broker.report_state(
            StateReport(
                state=self.state.name.value,
                score=breakdown.total,
                maintenance=self.state.name is StateName.LOCAL_MAINTENANCE,
                metadata={**decision.metadata, BREAKDOWN_KEY: breakdown.to_metadata()},
            )
        )
        self._record_history(previous.name, decision, snap)
        if previous.name is not self.state.name:
            detail = f"{previous.name.value}-{self.state.name.value}"
            try:
                self.broker.notify("state_transition", detail)
            except (RpcError, BrokerUnavailableError) as e:
                log.warning("notification of %s failed: %s", detail, e)
        return decision.wait

    def _record_history(self, previous: StateName, decision: Decision, snap: Snapshot) -> None:
        """A start we made, and a stop we asked for, go into the shared history; why we
        stopped is the state that led to EngineStop. The stop is recorded when it is
        asked for, before the VM is down, so that it is in the history before another
        host can start the engine (its entry is told from ours)."""
        event: str | None = None
        cause: Cause | None = None
        now = self.state.name
        if decision.action is Action.START_VM and self.executor.started_new:
            event = "started"
        elif now is StateName.ENGINE_STOP and previous is not StateName.ENGINE_STOP:
            request = snap.switchover
            if request is not None and request.to_host != snap.host_id:
                self._stop_cause, self._stop_reason = Cause.SWITCHOVER, request.describe()
            else:
                self._stop_cause = _STOP_CAUSES.get(previous)
                self._stop_reason = decision.reason
        elif self._stop_cause and (
            (decision.action is Action.STOP_VM and self.state.stop_requested)
            or decision.action is Action.POWEROFF_VM  # a paused or hung VM gets no shutdown
        ):
            event, cause = "stopped", self._stop_cause
            self._stop_cause = None
        if event is None:
            return
        try:
            if cause is None:
                self.broker.record_history(event)
            else:
                self.broker.record_history(event, cause.value, self._stop_reason)
        except (RpcError, BrokerUnavailableError) as e:
            log.warning("the engine %s here, but the history did not take it: %s", event, e)

    # --- the loop ---------------------------------------------------------------------------
    def loop_once(self) -> float:
        """One pass of the loop; returns how long to pause before the next one.

        A broker that is away or that we cannot understand is retried with back-off,
        doubling up to MAX_BACKOFF (never less than a loop period).
        """
        period = self.timing.loop_period
        started = self.clock.monotonic()
        try:
            wait = self.step()
        except (BrokerUnavailableError, RpcError, ContractError) as e:
            if isinstance(e, ContractVersionError):
                log.error("refusing the broker's snapshot, retrying in %.1fs: %s", self._backoff, e)
            else:
                log.warning("broker not usable, retrying in %.1fs: %s", self._backoff, e)
            self.broker.close()
            delay = self._backoff
            self._backoff = min(self._backoff * 2, max(period, MAX_BACKOFF))
            return delay
        self._backoff = period
        if not wait:
            return 0.0
        return max(0.0, period - (self.clock.monotonic() - started))

    def run(self) -> int:
        while not self.stop.is_set():
            delay = self.loop_once()
            if delay > 0:
                self._pause_before_next(delay)
        self.report_stopped()
        return 0

    def _pause_before_next(self, rest_of_loop: float) -> None:
        """Until the next decision: the rest of the loop, or less when the decision asked
        for a recheck; in production also ended early when the VM lease we stand by for
        is freed (an injected pause keeps its own clock: tests and the simulator)."""
        seconds = rest_of_loop
        if self._recheck_after is not None:
            seconds = min(seconds, self._recheck_after)
        if self._pause is not None:
            self._pause(seconds)
        elif self.lease_watch.pause(seconds, watch=self._watch_lease):
            log.info("the engine VM lease was freed: deciding now")

    def report_stopped(self) -> None:
        """Publish AgentStopped so others (and --clean-metadata) know we left cleanly."""
        try:
            self.broker.report_state(
                StateReport(StateName.AGENT_STOPPED.value, 0, maintenance=False, stopped=True)
            )
        except (BrokerUnavailableError, RpcError) as e:
            log.warning("could not publish AgentStopped: %s", e)
        self.broker.close()


def main(argv: list[str] | None = None) -> int:
    def body(config: HostConfig, stop: threading.Event) -> int:
        log.info("agent for host %d starting", config.host_id)
        return Agent.for_host(config, stop).run()

    return run_daemon(
        "agent", __doc__, argv, body, lambda c: ScoreWeights.from_overrides(c.score_overrides)
    )


if __name__ == "__main__":
    sys.exit(main())
