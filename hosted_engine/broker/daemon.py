"""``hosted-engine-broker``: measures this host, publishes its record, reads everyone's."""

from __future__ import annotations

import logging
import sys
import threading

from hosted_engine.backends import lease_manager_for, vm_backend_for
from hosted_engine.broker.config_cache import ConfigCache
from hosted_engine.broker.fencing import LEASE_KEY, FencingReport
from hosted_engine.broker.memory import TRIM_PERIOD, MemoryKeeper, tune_malloc
from hosted_engine.broker.metrics import MetricsServer, MetricsSources
from hosted_engine.broker.monitors import MonitorRunner, build_monitors
from hosted_engine.broker.notifications import Notifier, load_broker_conf
from hosted_engine.broker.publisher import StatusPublisher
from hosted_engine.broker.rpc_server import RpcServer, ServerLimits
from hosted_engine.broker.service import BrokerService
from hosted_engine.clock import SystemClock
from hosted_engine.config.host import HostConfig
from hosted_engine.daemon_entry import run_daemon
from hosted_engine.errors import ConfigError, HostedEngineError, LeaseHeldError
from hosted_engine.locking.watchdog import last_reset
from hosted_engine.storage.whiteboard import Whiteboard
from hosted_engine.vm.engine_status import EngineStatus

log = logging.getLogger("hosted_engine.broker")


def run(config: HostConfig, stop: threading.Event) -> int:
    tune_malloc()  # before the threads and the first large buffer
    clock = SystemClock()
    leases = lease_manager_for(config)
    whiteboard = Whiteboard(config.metadata_path)
    backend = vm_backend_for(config)
    config_cache = ConfigCache.for_host(config, clock)
    runner = MonitorRunner(
        build_monitors(config, backend, clock, config_cache), config.timing.monitor_period, clock
    )

    def engine_status() -> EngineStatus | None:
        reading = runner.values().get("engine-health")
        value = None if reading is None else reading.value
        return value if isinstance(value, EngineStatus) else None

    fencing = FencingReport(backend, lambda: last_reset(config.watchdog), clock.monotonic)
    publisher = StatusPublisher(
        config, whiteboard, leases, engine_status, clock, config_cache.status, fencing.metadata
    )
    try:
        publisher.acquire_lease()  # a duplicate host id fails here, loudly
    except LeaseHeldError:
        raise
    except HostedEngineError as e:  # storage not there yet: the publisher keeps trying (D14)
        log.error("cannot claim the host-id lease yet, will retry: %s", e)
    # Before the agent can ask: it starts the VM from this cache and scores its age.
    config_cache.refresh()
    runner.refresh("config-age")
    notifier = Notifier(lambda: load_broker_conf(config.broker_conf_path))
    service = BrokerService(
        config,
        publisher,
        whiteboard,
        leases,
        lambda: {k: r.value for k, r in runner.values().items()},
        lambda event, detail, host: notifier.notify(event, detail, host),
        clock,
        config_cache,
        monitor_times=lambda: {k: r.measured_at for k, r in runner.values().items()},
        monitor_errors=lambda: {k: r.error for k, r in runner.values().items()},
    )
    runner.start()
    publisher.start()
    config_cache.start(config.timing.config_refresh_period)
    # Calls answered from cached measurements must beat the agent's call timeout by far;
    # the storage lane (slot 0 write, config refresh) may take what storage takes.
    rpc_timeout = config.timing.rpc_timeout
    limits = ServerLimits(
        deadline=min(ServerLimits.deadline, rpc_timeout / 2),
        blocking_deadline=min(ServerLimits.blocking_deadline, rpc_timeout * 0.8),
    )
    server = RpcServer(
        config.broker_socket, service.methods(), blocking=service.BLOCKING, limits=limits
    )
    server.serve_in_thread()
    log.info("broker for host %d up, socket %s", config.host_id, config.broker_socket)
    metrics = _start_metrics(config, service, publisher, fencing, clock)
    memory = MemoryKeeper()
    memory.freeze_startup()
    try:
        while not stop.wait(TRIM_PERIOD):
            memory.trim()
    finally:
        log.info("broker stopping")
        memory.close()
        if metrics is not None:
            metrics.close()
        server.close()
        config_cache.stop()
        publisher.stop()
        runner.stop()
        notifier.close()
        publisher.release_lease()
    return 0


def _start_metrics(
    config: HostConfig,
    service: BrokerService,
    publisher: StatusPublisher,
    fencing: FencingReport,
    clock: SystemClock,
) -> MetricsServer | None:
    """The Prometheus endpoint, if configured; one that cannot listen is logged, and the
    broker serves on without it (metrics must not take HA down)."""
    if config.metrics_listen is None:
        return None

    def agent() -> tuple[str, int, bool] | None:
        report = publisher.agent_report()
        if report is None:
            return None
        return report.state, report.score, publisher.agent_alive(clock.monotonic())

    sources = MetricsSources(
        host_id=config.host_id,
        snapshot=service.snapshot,
        agent=agent,
        lease_state=lambda: fencing.metadata().get(LEASE_KEY, "unknown"),
        storage_read_seconds=lambda: publisher.health.last_scan_seconds,
        watch=publisher.engine_watch,
        monotonic=clock.monotonic,
    )
    metrics = MetricsServer(config.metrics_listen, sources)
    try:
        metrics.start()
    except ConfigError as e:
        log.error("%s", e)
        return None
    log.info("metrics at http://%s:%d/metrics", *config.metrics_listen)
    return metrics


def main(argv: list[str] | None = None) -> int:
    return run_daemon("broker", __doc__, argv, run)


if __name__ == "__main__":
    sys.exit(main())
