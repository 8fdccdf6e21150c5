"""The broker's RPC surface: what the agent and the clients may ask of it."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

from hosted_engine.broker.config_cache import ConfigCache
from hosted_engine.broker.liveness import Liveness
from hosted_engine.broker.notifications import HISTORY
from hosted_engine.broker.publisher import AgentReport, StatusPublisher
from hosted_engine.broker_contract import BrokerSnapshot, Monitors, Reading, RemoteRecord, VmLease
from hosted_engine.clock import Clock
from hosted_engine.config.host import HostConfig
from hosted_engine.errors import (
    BrokerUnavailableError,
    HostedEngineError,
    MetadataError,
    UsageError,
)
from hosted_engine.locking.base import LeaseManager
from hosted_engine.storage.history import Cause, Event, History, HistoryEntry, start_entry
from hosted_engine.storage.host_stats import host_status
from hosted_engine.storage.switchover import SwitchoverStore
from hosted_engine.storage.whiteboard import Whiteboard

log = logging.getLogger(__name__)


MAX_STATE = 64  # characters of a state name; the real ones are under 30
MAX_SCORE = 1_000_000  # far above any real score (3400), far below a slot's room


def _checked_state(state: Any) -> str:
    if not isinstance(state, str) or not 0 < len(state) <= MAX_STATE:
        raise UsageError(f"state must be a string of 1 to {MAX_STATE} characters")
    return state


def _checked_score(score: Any) -> int:
    if not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= MAX_SCORE:
        raise UsageError(f"score must be an integer between 0 and {MAX_SCORE}")
    return score


def _checked_flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise UsageError(f"{name} must be true or false")
    return value


def _checked_metadata(metadata: Any) -> dict[str, str]:
    """Scalar values only, as text; the encoder then checks what the slot can hold."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise UsageError("metadata must be an object")
    out: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(value, str | int | float | bool):
            raise UsageError(f"metadata value of {str(key)[:40]!r} must be a string or number")
        out[str(key)] = str(value)
    return out


class BrokerService:
    # The calls that read or write shared storage themselves; every other call is
    # answered from what the publisher and the monitors measured.
    BLOCKING = frozenset({"set_global_maintenance", "refresh_config", "vm_lease", "record_history"})

    def __init__(
        self,
        config: HostConfig,
        publisher: StatusPublisher,
        whiteboard: Whiteboard,
        leases: LeaseManager,
        monitor_values: Callable[[], dict[str, Any]],
        notify: Callable[[str, str, str], str],
        clock: Clock,
        config_cache: ConfigCache | None = None,
        *,
        monitor_times: Callable[[], dict[str, float | None]] = dict,
        monitor_errors: Callable[[], dict[str, str | None]] = dict,
    ) -> None:
        self.config = config
        self.publisher = publisher
        self.whiteboard = whiteboard
        self.leases = leases
        self.monitor_values = monitor_values
        self._notify = notify
        self.clock = clock
        self.config_cache = config_cache
        self.monitor_times = monitor_times  # monotonic time each value was measured
        self.monitor_errors = monitor_errors  # why each value is bad or stale, if it is

    def methods(self) -> dict[str, Callable[..., Any]]:
        return {
            "ping": self.ping,
            "get_snapshot": self.get_snapshot,
            "vm_lease": self.vm_lease,
            "get_status": self.get_status,
            "report_state": self.report_state,
            "notify": self.notify,
            "set_global_maintenance": self.set_global_maintenance,
            "get_health": self.get_health,
            "refresh_config": self.refresh_config,
            "record_history": self.record_history,
        }

    def ping(self) -> str:
        return "pong"

    def record_history(self, event: str, cause: str | None = None, detail: str = "") -> str:
        """The agent tells that the engine started or stopped here; the entry, with where
        it ran before and how long it was down, is put together from what this broker
        saw (``storage/history.py``)."""
        try:
            kind = Event(event)
            why = None if cause is None else Cause(cause)
        except ValueError as e:
            raise UsageError(f"record_history: {e}") from None
        if kind is Event.STOPPED and why is None:
            raise UsageError("record_history: a stop needs its cause")
        history = History(self.config.ha_dir)
        now, at = self.clock.monotonic(), self.clock.time()
        if kind is Event.STOPPED:
            assert why is not None
            self._append(
                history,
                HistoryEntry(at, Event.STOPPED, self.config.host_id, why, detail=detail[:500]),
            )
            return "ok"
        self._switchover_done()
        up_at = self.publisher.engine_watch.last_up_at()
        down_since = None if up_at is None else at - (now - up_at)
        last = history.last()
        if last is not None and last.event is Event.STARTED and last.host_id != self.config.host_id:
            # The engine left another host with no stop recorded: that host died, or only
            # its VM did. Right after a fast failover both look alike; the host's next
            # record (or its silence) tells, within the alive timeout.
            threading.Thread(
                target=self._settle_start,
                args=(history, at, last, down_since),
                name="history",
                daemon=True,
            ).start()
            return "ok"
        self._append(history, start_entry(at, self.config.host_id, last, {}, down_since))
        return "ok"

    def _switchover_done(self) -> None:
        """The engine started here: a switchover that targeted us is complete."""
        store = SwitchoverStore(self.config.ha_dir)
        request = store.read()
        if request is not None and request.to_host == self.config.host_id:
            store.clear(request.id)
            log.info("%s: done", request.describe())

    def _settle_start(
        self, history: History, at: float, last: HistoryEntry, down_since: float | None
    ) -> None:
        deadline = self.clock.monotonic() + self.config.timing.host_alive_timeout
        alive = True
        while self.clock.monotonic() < deadline:
            scan = self.publisher.scan()
            record = None if scan is None else scan.hosts.get(last.host_id)
            alive = (
                self.publisher.liveness_of(last.host_id, self.clock.monotonic()) is Liveness.ALIVE
            )
            if not alive or (record is not None and record.engine.vm != "up"):
                break  # silent: the host is lost; says its VM is not up: the VM died
            self.clock.sleep(0.2)
        entry = start_entry(at, self.config.host_id, last, {last.host_id: alive}, down_since)
        try:
            self._append(history, entry)
        except HostedEngineError as e:
            log.error("the engine's start here is not in the history: %s", e)

    def _append(self, history: History, entry: HistoryEntry) -> None:
        history.append(entry)
        if entry.event is Event.STARTED and entry.cause is Cause.SWITCHOVER:
            self.publisher.engine_watch.switchovers += 1
        log.info("history: %s", entry.to_json())
        self._notify(HISTORY, entry.summary(), self.config.hostname)

    def _vm_lease(self, now: float) -> VmLease:
        """The publisher's last VM lease probe with its age; too old a probe is "unknown"
        (a hung mount must not keep a lease looking free)."""
        probe, measured_at = self.publisher.vm_lease()
        if measured_at is None:
            return probe
        age = max(0.0, now - measured_at)
        if age > self.config.timing.host_alive_timeout:
            return VmLease(known=False, age=age)
        return dataclasses.replace(probe, age=age)

    def vm_lease(self) -> dict[str, Any]:
        """Only the VM lease, probed now (a storage call, on the storage pool): a standby
        agent asks this between its decisions to wake the moment the engine's host dies
        (``agent/wakeup.py``)."""
        self.publisher.probe_vm_lease()
        return self._vm_lease(self.clock.monotonic()).to_json()

    def snapshot(self) -> BrokerSnapshot:
        """Everything the agent decides on, measured by us, in the contract's types."""
        now = self.clock.monotonic()
        scan = self.publisher.scan()
        hosts: list[RemoteRecord] = []
        global_maintenance: bool | None = None
        if scan is not None:
            global_maintenance = scan.global_flags.maintenance
            for host_id, record in sorted(scan.hosts.items()):
                if host_id == self.config.host_id:
                    continue
                hosts.append(
                    RemoteRecord(
                        host_id=host_id,
                        hostname=record.hostname,
                        score=record.score,
                        engine=record.engine,
                        alive=self.publisher.liveness_of(host_id, now) is Liveness.ALIVE,
                        maintenance=record.maintenance,
                        stopped=record.stopped,
                        state=record.state,
                        priority=record.priority,
                    )
                )
        values, times, errors = self.monitor_values(), self.monitor_times(), self.monitor_errors()
        readings = {
            name: Reading(value, times.get(name), errors.get(name))
            for name, value in values.items()
        }
        return BrokerSnapshot(
            host_id=self.config.host_id,
            broker_now=now,
            global_maintenance=global_maintenance,
            enough_data=scan is not None and self.publisher.enough_data(now),
            hosts=tuple(hosts),
            monitors=Monitors.from_readings(readings),
            vm_lease=self._vm_lease(now),
            switchover=self.publisher.switchover_due(),
        )

    def get_snapshot(self) -> dict[str, Any]:
        """The RPC form of :meth:`snapshot` (``BrokerSnapshot.from_json`` reads it)."""
        return self.snapshot().to_json()

    def get_status(self) -> dict[str, Any]:
        """All hosts in the ``--vm-status --json`` shape, with our liveness judgement.

        From the publisher's last scan only: a request never reads storage itself. With
        no scan yet the caller is told the broker is not ready (the CLI then reads the
        storage domain directly)."""
        scan = self.publisher.scan()
        if scan is None:
            raise BrokerUnavailableError("the broker has not read the storage domain yet")
        now = self.clock.monotonic()
        result: dict[str, Any] = {}
        for host_id, record in sorted(scan.hosts.items()):
            live = self.publisher.liveness_of(host_id, now) is Liveness.ALIVE
            result[str(host_id)] = host_status(record, live)
        result["global_maintenance"] = scan.global_flags.maintenance
        result["warnings"] = [f"slot {h}: {e}" for h, e in sorted(scan.errors.items())]
        last_scan = self.publisher.health.last_scan_ok
        if last_scan is not None and now - last_scan > self.config.timing.host_alive_timeout:
            result["warnings"].append(
                f"the broker last read the storage domain {now - last_scan:.0f} s ago"
            )
        return result

    def report_state(
        self,
        state: str,
        score: int,
        maintenance: bool,
        stopped: bool = False,
        metadata: dict[str, Any] | None = None,
        conf_timestamp: int = 0,
    ) -> str:
        """The agent's state and score. ``conf_timestamp`` is accepted from agents of
        earlier versions and ignored: the broker now knows when it refreshed the VM
        definition (its configuration cache).

        A report that could not be published is refused here, with the reason: the
        last good one stays in the slot (accepting it would fail every later write)."""
        del conf_timestamp
        report = AgentReport(
            state=_checked_state(state),
            score=_checked_score(score),
            maintenance=_checked_flag("maintenance", maintenance),
            stopped=_checked_flag("stopped", stopped),
            metadata=_checked_metadata(metadata),
            received_at=self.clock.monotonic(),
        )
        try:
            self.publisher.check_report(report)
        except MetadataError as e:
            raise UsageError(f"cannot publish this report: {e}") from None
        self.publisher.report_agent(report)
        return "ok"

    def notify(self, event: str, detail: str, hostname: str | None = None) -> str:
        return self._notify(event, detail, hostname or self.config.hostname)

    def set_global_maintenance(self, enabled: bool) -> bool:
        enabled = _checked_flag("enabled", enabled)
        return self.whiteboard.update_global(maintenance=enabled).maintenance

    def get_health(self) -> dict[str, Any]:
        h = self.publisher.health
        now = self.clock.monotonic()
        cache = self.config_cache
        return {
            "lease_held": h.lease_held,
            "last_write_age": None if h.last_write_ok is None else now - h.last_write_ok,
            "last_scan_age": None if h.last_scan_ok is None else now - h.last_scan_ok,
            "errors": h.errors,
            "last_error": h.last_error,
            "agent_alive": self.publisher.agent_alive(now),
            "config": None if cache is None else cache.status().to_dict(now),
        }

    def refresh_config(self) -> dict[str, Any]:
        """Re-read the shared configuration now (a client just changed it)."""
        if self.config_cache is None:
            raise UsageError("this broker keeps no configuration cache")
        return self.config_cache.refresh().to_dict(self.clock.monotonic())
