"""``hosted-engine-agent``: decides, every loop, whether this host runs the engine VM.

The loop only gathers a snapshot (from the broker, the local maintenance file and the
broker's cached copy of the engine VM definition; never shared storage), asks the pure
policy (:func:`decide`) what to do, carries the action out through the VM backend and
reports back. Losing the broker is waited out with back-off in-process, not by dying and
relying on a restart loop (users-and-numbers P2, BZ 1378310).
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from hosted_engine.agent.executor import Executor
from hosted_engine.agent.score import ScoreWeights, compute_score
from hosted_engine.agent.snapshot import RemoteHost, Snapshot
from hosted_engine.agent.states import AgentState, StateName, after_action, decide, initial_state
from hosted_engine.agent.wakeup import LeaseWatch, lease_poll_interval
from hosted_engine.clock import Clock, SystemClock
from hosted_engine.config import ha_state
from hosted_engine.config.host import HostConfig
from hosted_engine.daemon_entry import run_daemon
from hosted_engine.errors import BrokerUnavailableError, HostedEngineError, RpcError
from hosted_engine.jsonrpc import RpcClient
from hosted_engine.vm.definition import load_definition
from hosted_engine.vm.engine_status import UNKNOWN_ENGINE_STATUS, EngineStatus
from hosted_engine.vm.factory import backend_for

log = logging.getLogger("hosted_engine.agent")


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _holder_id(lease: dict[str, Any]) -> int | None:
    holder = lease.get("holder") if lease.get("known") else None
    host_id = holder.get("host_id") if isinstance(holder, dict) else None
    return host_id if isinstance(host_id, int) and not isinstance(host_id, bool) else None


def build_snapshot(
    raw: dict[str, Any], config: HostConfig, now: float, vm_mem: int | None
) -> Snapshot:
    """Turn the broker's typed answer into the policy's snapshot."""
    monitors = raw.get("monitors", {})
    engine = monitors.get("engine-health")
    lease = raw.get("vm_lease", {})
    remotes = tuple(
        RemoteHost(
            host_id=int(h["host_id"]),
            hostname=str(h["hostname"]),
            score=int(h["score"]),
            engine=EngineStatus.from_dict(h["engine"]),
            alive=bool(h["alive"]),
            maintenance=bool(h["maintenance"]),
            stopped=bool(h["stopped"]),
            state=h.get("state"),
        )
        for h in raw.get("hosts", {}).values()
    )
    try:
        local_maintenance = ha_state.local_maintenance(config.ha_state_path)
    except HostedEngineError as e:
        log.error("cannot read local maintenance flags, assuming maintenance: %s", e)
        local_maintenance = True  # the safe reading of a broken flag file
    bridge = monitors.get("bridge")
    storage = monitors.get("storage-domain")
    network = _float(monitors.get("network"))
    # The broker's copy of the shared configuration (the VM definition included) must be
    # fresh: a host running on settings the others no longer have should not win.
    config_age = _float(monitors.get("config-age"))
    return Snapshot(
        now=now,
        host_id=config.host_id,
        local_engine=EngineStatus.from_dict(engine) if engine else UNKNOWN_ENGINE_STATUS,
        local_maintenance=local_maintenance,
        global_maintenance=bool(raw.get("global_maintenance")),
        remotes=remotes,
        vm_lease_free=(lease.get("holder") is None) if lease.get("known") else None,
        vm_lease_holder=_holder_id(lease),
        local_engine_measured_at=_float(raw.get("measured_at", {}).get("engine-health")),
        enough_data=bool(raw.get("enough_data")) and raw.get("global_maintenance") is not None,
        network=1.0 if network is None else network,
        bridge=bridge if isinstance(bridge, bool) else None,
        mem_free_mib=_float(monitors.get("mem-free")),
        cpu_load=_float(monitors.get("cpu-load")),
        storage_ok=storage if isinstance(storage, bool) else None,
        vm_mem_mib=vm_mem,
        config_uptodate=config_age is not None and config_age <= config.timing.config_max_age,
    )


class Agent:
    def __init__(self, config: HostConfig, clock: Clock, stop: threading.Event) -> None:
        self.config = config
        self.clock = clock
        self.stop = stop
        self.weights = ScoreWeights.from_overrides(config.score_overrides)
        self.broker = RpcClient(config.broker_socket, timeout=config.timing.rpc_timeout)
        self.executor = Executor(config, backend_for(config))
        self.state: AgentState = initial_state(clock.monotonic())
        self._last_logged = ""
        self._vm_mem: int | None = None
        poll = lease_poll_interval(config.timing.loop_period)
        self.lease_watch = LeaseWatch(lambda: self.broker.call("vm_lease"), stop, poll, clock)
        self._watch_lease = False  # standing by while another host holds the VM lease
        self._recheck_after: float | None = None

    def _refresh_definition(self) -> None:
        """The memory the VM would take here, from the definition it would start with."""
        try:
            self._vm_mem = load_definition(self.config.vm_conf_path).mem_size_mib
        except HostedEngineError as e:
            log.warning("cannot read the engine VM definition: %s", e)

    def step(self) -> bool:
        """One decision; returns whether to wait a loop period before the next."""
        now = self.clock.monotonic()
        self._refresh_definition()
        snap = build_snapshot(self.broker.call("get_snapshot"), self.config, now, self._vm_mem)
        previous = self.state
        decision = decide(previous, snap, self.config.timing, self.weights)
        score = decision.score
        if decision.action is not None:
            log.info("%s: %s", decision.action.value, decision.reason)
            outcome = self.executor.run(decision.action)
            self.state = after_action(decision, outcome, self.clock.monotonic())
            # the outcome may change the score (a failed start's retry penalty): publish it now
            score = compute_score(self.state.name, snap, self.state.retry_count, self.weights)
        else:
            self.state = decision.state
        self._recheck_after = decision.recheck_after
        self._watch_lease = (
            self.state.name is StateName.ENGINE_DOWN
            and snap.vm_lease_free is False
            and snap.vm_lease_holder != self.config.host_id
        )
        line = f"Current state {self.state.name.value} (score: {score})"
        if line != self._last_logged:
            log.info("%s; %s", line, decision.reason)
            self._last_logged = line
        self.broker.call(
            "report_state",
            state=self.state.name.value,
            score=score,
            maintenance=self.state.name is StateName.LOCAL_MAINTENANCE,
            metadata=decision.metadata,
        )
        if previous.name is not self.state.name:
            detail = f"{previous.name.value}-{self.state.name.value}"
            try:
                self.broker.call("notify", event="state_transition", detail=detail)
            except (RpcError, BrokerUnavailableError) as e:
                log.warning("notification of %s failed: %s", detail, e)
        return decision.wait

    def run(self) -> int:
        period = self.config.timing.loop_period
        backoff = period
        while not self.stop.is_set():
            started = self.clock.monotonic()
            try:
                wait = self.step()
                backoff = period
            except (BrokerUnavailableError, RpcError) as e:
                log.warning("broker not usable, retrying in %.1fs: %s", backoff, e)
                self.broker.close()
                self.stop.wait(backoff)
                backoff = min(backoff * 2, max(period, 30.0))
                continue
            if wait:
                self._pause(period - (self.clock.monotonic() - started))
        self._report_stopped()
        return 0

    def _pause(self, rest_of_loop: float) -> None:
        """Until the next decision: the rest of the loop, or less when the decision asked
        for a recheck, ended early when the VM lease we stand by for is freed."""
        seconds = rest_of_loop
        if self._recheck_after is not None:
            seconds = min(seconds, self._recheck_after)
        if self.lease_watch.pause(max(0.0, seconds), watch=self._watch_lease):
            log.info("the engine VM lease was freed: deciding now")

    def _report_stopped(self) -> None:
        """Publish AgentStopped so others (and --clean-metadata) know we left cleanly."""
        try:
            self.broker.call(
                "report_state",
                state=StateName.AGENT_STOPPED.value,
                score=0,
                maintenance=False,
                stopped=True,
            )
        except (BrokerUnavailableError, RpcError) as e:
            log.warning("could not publish AgentStopped: %s", e)
        self.broker.close()


def main(argv: list[str] | None = None) -> int:
    def body(config: HostConfig, stop: threading.Event) -> int:
        log.info("agent for host %d starting", config.host_id)
        return Agent(config, SystemClock(), stop).run()

    return run_daemon(
        "agent", __doc__, argv, body, lambda c: ScoreWeights.from_overrides(c.score_overrides)
    )


if __name__ == "__main__":
    sys.exit(main())
