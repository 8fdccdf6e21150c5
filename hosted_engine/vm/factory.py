"""The VM backend a host's configuration asks for."""

from __future__ import annotations

from hosted_engine.config.host import HostConfig
from hosted_engine.errors import ConfigError
from hosted_engine.vm.base import VmBackend
from hosted_engine.vm.process import PayloadSettings, ProcessVmBackend


def backend_for(config: HostConfig) -> VmBackend:
    if config.vm_backend != "process":
        raise ConfigError(f"vm_backend {config.vm_backend!r} is not available (known: process)")
    return ProcessVmBackend(
        config.run_dir / "vm",
        config.ha_dir,
        config.host_id,
        config.hostname,
        config.lease_backend,
        payload=PayloadSettings(config.process_command, config.process_data_dir, config.images_dir),
        shutdown_grace=config.timing.vm_shutdown_grace,
    )
