"""The broker's monitor set for this host, built from hosted-engine.conf."""

from __future__ import annotations

from typing import Any

from hosted_engine.broker.config_cache import ConfigCache
from hosted_engine.broker.monitors.base import Monitor
from hosted_engine.broker.monitors.config_age import ConfigAgeMonitor
from hosted_engine.broker.monitors.cpu_load import CpuLoadMonitor
from hosted_engine.broker.monitors.engine_health import EngineHealthMonitor
from hosted_engine.broker.monitors.host import BridgeMonitor, MemFreeMonitor
from hosted_engine.broker.monitors.network import NetworkMonitor, make_probe
from hosted_engine.broker.monitors.storage_domain import StorageDomainMonitor
from hosted_engine.clock import Clock
from hosted_engine.config.host import HostConfig
from hosted_engine.vm import health
from hosted_engine.vm.base import VmBackend


def build_monitors(
    config: HostConfig, backend: VmBackend, clock: Clock, config_cache: ConfigCache | None = None
) -> list[Monitor[Any]]:
    """Raises ConfigError for network options that cannot work."""
    timing = config.timing
    probe = make_probe(
        config.network_test,
        address=config.tcp_t_address if config.network_test == "tcp" else config.gateway,
        port=config.tcp_t_port,
        timeout=timing.network_probe_timeout,
    )
    monitors: list[Monitor[Any]] = [
        NetworkMonitor(probe, timing.network_probe_interval, clock),
        BridgeMonitor(config.bridge),
        MemFreeMonitor(),
        CpuLoadMonitor(backend, clock),
        EngineHealthMonitor(
            backend,
            config.health_url,
            timing.health_check_timeout,
            engine_status=health.engine_status,
            check_liveliness=health.LivelinessProbe(),
        ),
        StorageDomainMonitor.for_domain(
            config.metadata_path,
            config.domain_dir,
            config.host_id,
            timing.storage_latency_limit,
            clock,
        ),
    ]
    if config_cache is not None:
        monitors.append(ConfigAgeMonitor(config_cache.status, clock))
    return monitors
