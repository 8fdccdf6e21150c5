"""Prometheus metrics of one broker, served on ``metrics_listen`` (off by default).

Every scrape reads the broker's own state, through the snapshot the agent decides on and
the publisher's record, so the metrics never say what the broker does not believe and
keep no copy that could drift. The two counters (failovers, downtime) are what no single
reading holds: :class:`EngineWatch` builds them from every read of the whiteboard.

The metric names are listed in the README ("Metrics").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from hosted_engine.broker_contract import BrokerSnapshot, Reading
from hosted_engine.errors import ConfigError

PREFIX = "hosted_engine_"


@dataclass
class EngineWatch:
    """Which host runs a healthy engine, as this broker's scans see it.

    A failover is a change of that host (with or without a gap); downtime runs from the
    last fresh evidence of a healthy engine (when the runner's record last changed) to the
    scan that sees one again, on this broker's monotonic clock, from its first scan on.
    Fresh evidence, not the last scan: a killed host's record goes on saying "up, good"
    and counts as alive for a whole alive timeout, while another host may already have
    restarted the engine; counting from the last scan made such a failover look 0 s long.
    """

    failovers: int = 0
    switchovers: int = 0  # switchovers that ended with the engine started here
    _downtime: float = 0.0
    _runner: int | None = None  # the host with a healthy engine at the last scan
    _last_runner: int | None = None  # the last host ever seen with one
    _last_up_at: float | None = None  # the last fresh record of a healthy engine
    _down_since: float | None = None  # set while no engine is seen up
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, now: float, runner: int | None, fresh_at: float | None = None) -> None:
        """One scan: ``runner`` has a healthy engine (None: no host has), its record last
        changed at ``fresh_at`` (None: now)."""
        with self._lock:
            if runner is None:
                if self._down_since is None:
                    self._down_since = self._last_up_at if self._last_up_at is not None else now
            else:
                if self._last_runner is not None and runner != self._last_runner:
                    self.failovers += 1
                    if self._down_since is None:  # the old host went silent
                        self._down_since = self._last_up_at
                if self._down_since is not None:
                    self._downtime += max(0.0, now - self._down_since)
                    self._down_since = None
                self._last_runner = runner
                self._last_up_at = now if fresh_at is None else min(now, fresh_at)
            self._runner = runner

    def last_up_at(self) -> float | None:
        """When a healthy engine was last seen in a fresh record (monotonic; None: never)."""
        with self._lock:
            return self._last_up_at

    def downtime(self, now: float) -> float:
        with self._lock:
            if self._down_since is None:
                return self._downtime
            return self._downtime + max(0.0, now - self._down_since)


@dataclass(frozen=True)
class MetricsSources:
    """Where a scrape reads from (callables, so that every scrape is fresh)."""

    host_id: int
    snapshot: Callable[[], BrokerSnapshot]
    agent: Callable[[], tuple[str, int, bool] | None]  # (state, score, alive), None: no report
    lease_state: Callable[[], str]
    storage_read_seconds: Callable[[], float | None]
    watch: EngineWatch
    monotonic: Callable[[], float]


def _gauge(name: str, doc: str, value: float, labels: dict[str, str] | None = None) -> Metric:
    family = GaugeMetricFamily(PREFIX + name, doc, labels=list(labels or {}))
    family.add_metric(list((labels or {}).values()), value)
    return family


def _monitor_value(reading: Reading[object]) -> float | None:
    value = reading.value
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return None


class BrokerCollector(Collector):
    def __init__(self, sources: MetricsSources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        s = self.sources
        now = s.monotonic()
        snap = s.snapshot()
        agent = s.agent()
        state, score, alive = agent if agent is not None else ("AgentStopped", 0, False)
        yield _gauge("score", "This host's score, as its agent computed it.", score)
        yield _gauge(
            "agent_state", "The agent's state (1 for the current one).", 1, {"state": state}
        )
        yield _gauge("agent_alive", "1 while the agent reports in time.", 1 if alive else 0)
        health = snap.monitors.engine_health.value
        vm_up = health is not None and health.vm == "up"
        good = health is not None and health.health == "good"
        maintenance = bool(snap.global_maintenance)
        yield _gauge("engine_vm_up", "1 while the engine VM runs on this host.", vm_up)
        yield _gauge("engine_health_good", "1 while this host's engine answers healthy.", good)
        yield _gauge(
            "global_maintenance",
            "1 while the cluster is in global maintenance.",
            maintenance,
        )
        yield _gauge(
            "hosts_alive",
            "Hosts this broker sees alive, itself included.",
            1 + sum(1 for h in snap.hosts if h.alive),
        )
        yield _gauge(
            "lease_state",
            "The VM lease on this host (1 for the current state).",
            1,
            {"state": s.lease_state()},
        )
        values = GaugeMetricFamily(
            PREFIX + "monitor_value", "Each monitor's last good value.", labels=["monitor"]
        )
        ages = GaugeMetricFamily(
            PREFIX + "monitor_age_seconds",
            "Seconds since each monitor's value was measured.",
            labels=["monitor"],
        )
        failing = GaugeMetricFamily(
            PREFIX + "monitor_failing",
            "1 while a monitor's latest attempt failed.",
            labels=["monitor"],
        )
        for name, reading in snap.monitors.readings().items():
            value = _monitor_value(reading)
            if value is not None:
                values.add_metric([name], value)
            if reading.measured_at is not None:
                ages.add_metric([name], max(0.0, now - reading.measured_at))
            failing.add_metric([name], 1 if reading.error else 0)
        yield values
        yield ages
        yield failing
        read = s.storage_read_seconds()
        if read is not None:
            yield _gauge("storage_read_seconds", "How long the last whiteboard read took.", read)
        failovers = CounterMetricFamily(
            PREFIX + "failovers", "Changes of the host running a healthy engine, seen here."
        )
        failovers.add_metric([], s.watch.failovers)
        yield failovers
        switchovers = CounterMetricFamily(
            PREFIX + "switchovers", "Switchovers that ended with the engine started on this host."
        )
        switchovers.add_metric([], s.watch.switchovers)
        yield switchovers
        downtime = CounterMetricFamily(
            PREFIX + "engine_downtime_seconds",
            "Seconds with no live host reporting a healthy engine, seen here.",
        )
        downtime.add_metric([], s.watch.downtime(now))
        yield downtime


class MetricsServer:
    """The scrape endpoint in a thread of the broker; closed with it."""

    def __init__(self, listen: tuple[str, int], sources: MetricsSources) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(BrokerCollector(sources))
        self._server: WSGIServer | None = None
        self._listen = listen

    def start(self) -> None:
        host, port = self._listen
        try:
            self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        except OSError as e:
            raise ConfigError(f"cannot serve metrics on {host}:{port}: {e.strerror or e}") from None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
