"""The status publisher: this host's slot out, everybody's slots in, every period.

It writes this host's record only while holding the host-id lease, so a second host
configured with the same id cannot overwrite it. Storage errors are logged, counted and
retried on the next period; the broker never kills itself over them (D14).

All of the broker's periodic storage reads happen here, on the publisher's own thread:
the scan of every slot and the probe of the VM lease. RPC requests only read the cached
results and their age, so a hung mount stalls this one thread, never the request path.

The record's ``conf_on_shared_storage`` and ``local_conf_timestamp`` come from the
broker's own configuration cache, which knows where the engine VM definition came from
and when it was last refreshed (the reference had the agent report them).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hosted_engine.broker.config_cache import CacheStatus
from hosted_engine.broker.liveness import Liveness, LivenessTracker
from hosted_engine.broker.metrics import EngineWatch
from hosted_engine.broker_contract import VmLease
from hosted_engine.clock import Clock
from hosted_engine.config.host import HostConfig
from hosted_engine.errors import HostedEngineError, LeaseHeldError
from hosted_engine.locking.base import Lease, LeaseManager
from hosted_engine.ratelimit import RateLimitedLog
from hosted_engine.storage.metadata import PRIORITY_KEY, HostRecord, encode_slot
from hosted_engine.storage.switchover import Switchover, SwitchoverStore
from hosted_engine.storage.whiteboard import Scan, Whiteboard
from hosted_engine.vm.engine_status import UNKNOWN_ENGINE_STATUS, EngineStatus

log = logging.getLogger(__name__)

AGENT_STOPPED = "AgentStopped"


@dataclass(frozen=True)
class AgentReport:
    """What the local agent last told us about itself."""

    state: str
    score: int
    maintenance: bool
    stopped: bool
    metadata: Mapping[str, str]
    received_at: float


@dataclass
class PublisherHealth:
    last_write_ok: float | None = None
    last_scan_ok: float | None = None
    last_error: str | None = None
    errors: int = 0
    lease_held: bool = False
    last_scan_seconds: float | None = None  # how long the last whiteboard read took
    extra: dict[str, Any] = field(default_factory=dict)


class StatusPublisher:
    def __init__(
        self,
        config: HostConfig,
        whiteboard: Whiteboard,
        leases: LeaseManager,
        engine_status: Callable[[], EngineStatus | None],
        clock: Clock,
        config_status: Callable[[], CacheStatus] | None = None,
        fencing: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self.config = config
        self.fencing = fencing
        self.whiteboard = whiteboard
        self.leases = leases
        self.engine_status = engine_status
        self.clock = clock
        self.config_status = config_status
        self.liveness = LivenessTracker(config.timing.host_alive_timeout, clock.monotonic())
        self.health = PublisherHealth()
        self._limited = RateLimitedLog(log, monotonic=clock.monotonic)
        self._lease: Lease | None = None
        self._report: AgentReport | None = None
        self._scan: Scan | None = None
        self._vm_lease: tuple[VmLease, float | None] = (VmLease(known=False), None)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.engine_watch = EngineWatch()  # failovers and downtime, for the metrics
        self._switchover: Switchover | None = None

    # --- lease --------------------------------------------------------------------------
    def acquire_lease(self) -> None:
        """Claim our host id; LeaseHeldError (a duplicate host id) propagates."""
        if self._lease is not None and self._lease.is_held():
            return
        self._lease = self.leases.acquire_host_id(self.config.host_id, self.config.hostname)
        self.health.lease_held = True
        log.info("holding the host-id lease for host %d", self.config.host_id)

    def release_lease(self) -> None:
        if self._lease is not None:
            self._lease.release()
            self._lease = None
            self.health.lease_held = False

    # --- agent reports --------------------------------------------------------------------
    def report_agent(self, report: AgentReport) -> None:
        with self._lock:
            self._report = report
        self._wake.set()  # publish a new state at once, not a period later

    def check_report(self, report: AgentReport) -> None:
        """Raise MetadataError unless a slot can be encoded from ``report``: the encoder's
        own check, so the broker never accepts a report it then cannot publish."""
        now = self.clock.monotonic()
        record, state_md = self._record_for(report, now, alive=True)
        encode_slot(record, state_md, 0.0)

    def agent_report(self) -> AgentReport | None:
        with self._lock:
            return self._report

    def agent_alive(self, now: float) -> bool:
        report = self.agent_report()
        return (
            report is not None
            and not report.stopped
            and now - report.received_at < self.config.timing.agent_report_timeout
        )

    # --- the record ---------------------------------------------------------------------
    def build_record(self, now: float) -> tuple[HostRecord, dict[str, str]]:
        report = self.agent_report()
        return self._record_for(report, now, alive=self.agent_alive(now))

    def _record_for(
        self, report: AgentReport | None, now: float, *, alive: bool
    ) -> tuple[HostRecord, dict[str, str]]:
        engine = self.engine_status() or UNKNOWN_ENGINE_STATUS
        state_md: dict[str, str]
        if report is not None and (report.stopped or alive):
            score = 0 if report.stopped else report.score
            state_md = {**report.metadata, "state": report.state}
            maintenance, stopped = report.maintenance, report.stopped
        else:
            # No agent, or a silent one: we still publish (so we are seen alive and our
            # engine status stays true) but with score 0, so nobody elects us.
            score, maintenance, stopped = 0, False, False
            state_md = {"state": report.state if report else AGENT_STOPPED, "agent": "unresponsive"}
        if self.config.ha_priority:
            state_md[PRIORITY_KEY] = str(self.config.ha_priority)
        state_md.setdefault("maintenance", str(maintenance))
        state_md.setdefault("stopped", str(stopped))
        conf = None if self.config_status is None else self.config_status()
        refreshed_at = None if conf is None else conf.refreshed_at
        if conf is not None and conf.vm_source is not None:
            state_md["vm_conf_source"] = conf.vm_source
        if self.fencing is not None:
            state_md.update(self.fencing())
        record = HostRecord(
            host_id=self.config.host_id,
            host_ts=int(now),
            score=score,
            engine_status=engine.to_json(),
            hostname=self.config.hostname,
            maintenance=maintenance,
            stopped=stopped,
            # the definition was installed from the shared OVF_STORE or archive
            conf_on_shared_storage=refreshed_at is not None,
            local_conf_timestamp=0 if refreshed_at is None else int(refreshed_at),
        )
        return record, state_md

    # --- one period ---------------------------------------------------------------------
    def publish_once(self) -> None:
        now = self.clock.monotonic()
        try:
            self.acquire_lease()
            record, state_md = self.build_record(now)
            epoch_offset = self.clock.time() - now
            self.whiteboard.write_slot(
                self.config.host_id, encode_slot(record, state_md, epoch_offset)
            )
            self.health.last_write_ok = now
        except LeaseHeldError as e:
            self._note_error(f"not writing our slot: {e}")
        except HostedEngineError as e:
            self._note_error(f"cannot write our slot: {e}")
        self.read_slots()

    def read_slots(self) -> None:
        """Read every slot and probe the VM lease: what requests are answered from."""
        started = self.clock.monotonic()
        try:
            scan = self.whiteboard.scan()
        except HostedEngineError as e:
            self._note_error(f"cannot read the whiteboard: {e}")
            return
        self.health.last_scan_seconds = self.clock.monotonic() - started
        for host_id, err in scan.errors.items():
            # every period while it lasts: say it once per window, with the repeat count
            key = ("slot", host_id, type(err).__name__)
            self._limited.warning(key, "slot %d skipped: %s", host_id, err)
        now = self.clock.monotonic()
        with self._lock:
            self._scan = scan
            self.liveness.observe(now, {h: r.host_ts for h, r in scan.hosts.items()})
        self.health.last_scan_ok = now
        self.engine_watch.observe(now, *self._healthy_engine_host(scan, now))
        self._read_switchover()
        self.probe_vm_lease()

    def _read_switchover(self) -> None:
        try:
            request = SwitchoverStore(self.config.ha_dir).read()
        except HostedEngineError as e:
            self._limited.warning("switchover", "cannot read the switchover request: %s", e)
            return
        with self._lock:
            self._switchover = request

    def switchover_due(self) -> Switchover | None:
        """The pending request if it is due now (judged on this host's wall clock)."""
        with self._lock:
            request = self._switchover
        return request if request is not None and request.due(self.clock.time()) else None

    def _healthy_engine_host(self, scan: Scan, now: float) -> tuple[int | None, float | None]:
        """The live host whose record says its engine is up and healthy, with when its
        record last changed; the freshest such record if more than one (a killed host's
        stays "up" until it goes stale)."""
        best: tuple[int | None, float | None] = (None, None)
        with self._lock:
            for host_id, record in sorted(scan.hosts.items()):
                if self.liveness.status(host_id, now) is not Liveness.ALIVE:
                    continue
                if record.engine.vm != "up" or record.engine.health != "good":
                    continue
                changed_at = self.liveness.changed_at(host_id) or 0.0
                if best[0] is None or changed_at > (best[1] or 0.0):
                    best = (host_id, changed_at)
        return best

    def probe_vm_lease(self) -> None:
        """Who holds the VM lease now (file I/O on the shared domain: this thread only)."""
        if not self.config.vm_id:
            return
        try:
            holder = self.leases.vm_lease_holder(self.config.vm_id)
        except Exception as e:  # storage trouble: unknown, never "free"
            self._limited.warning("vm-lease", "cannot probe the VM lease: %s", e)
            probe = VmLease(known=False)
        else:
            self._limited.forget("vm-lease")
            probe = VmLease(
                known=True,
                held=holder is not None,
                holder_host_id=None if holder is None else holder.host_id,
                holder_pid=None if holder is None else holder.pid,
            )
        with self._lock:
            self._vm_lease = (probe, self.clock.monotonic())

    def vm_lease(self) -> tuple[VmLease, float | None]:
        """The last probe and when it was made (monotonic; None: never probed)."""
        with self._lock:
            return self._vm_lease

    def _note_error(self, message: str) -> None:
        self.health.errors += 1
        if message != self.health.last_error:
            log.error("%s", message)
        self.health.last_error = message

    def scan(self) -> Scan | None:
        with self._lock:
            return self._scan

    def liveness_of(self, host_id: int, now: float) -> Liveness:
        with self._lock:
            return self.liveness.status(host_id, now)

    def enough_data(self, now: float) -> bool:
        with self._lock:
            return self.liveness.enough_data(now)

    # --- thread ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        period = self.config.timing.publish_period
        while not self._stop.is_set():
            started = self.clock.monotonic()
            try:
                self.publish_once()
            except Exception:  # a bug must not stop publishing for good
                log.exception("publisher iteration failed")
            elapsed = self.clock.monotonic() - started
            self._wake.wait(max(0.0, period - elapsed))
            self._wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
