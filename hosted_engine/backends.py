"""The lease and VM backends a host's configuration asks for.

The mechanisms (``locking/``, ``vm/``) know nothing of ``hosted-engine.conf``; this is
where a configuration picks and wires them, for the daemons and the client alike.
"""

from __future__ import annotations

from hosted_engine.config.host import HostConfig
from hosted_engine.errors import ConfigError
from hosted_engine.locking import LeaseManager, open_lease_manager
from hosted_engine.vm.base import VmBackend
from hosted_engine.vm.process import FencingSettings, PayloadSettings, ProcessVmBackend


def lease_manager_for(config: HostConfig) -> LeaseManager:
    if config.lease_backend == "sanlock":
        _check_sanlock_timing(config)
    return open_lease_manager(
        config.lease_backend,
        config.lockspace_path,
        sanlock_run_dir=config.sanlock_run_dir,
        io_timeout=config.sanlock_io_timeout,
    )


def _check_sanlock_timing(config: HostConfig) -> None:
    """sanlock lets another host take a dead host's VM lease after 8 io timeouts plus
    its 60 s watchdog allowance; our own fencing must be done well before that."""
    io_timeout = config.sanlock_io_timeout
    dead_after = 8 * io_timeout + 60.0
    if config.timing.lease_timeout >= dead_after:
        raise ConfigError(
            f"timing.lease_timeout ({config.timing.lease_timeout:g} s) must be below the "
            f"{dead_after:g} s after which sanlock (io_timeout {io_timeout}) gives a dead "
            "host's VM lease to another host"
        )


def vm_backend_for(config: HostConfig) -> VmBackend:
    if config.vm_backend == "libvirt":
        return _libvirt_backend(config)
    if config.vm_backend != "process":
        raise ConfigError(
            f"vm_backend {config.vm_backend!r} is not available (known: process, libvirt)"
        )
    return ProcessVmBackend(
        config.run_dir / "vm",
        config.lockspace_path,
        config.host_id,
        config.hostname,
        config.lease_backend,
        sanlock_run_dir=config.sanlock_run_dir,
        payload=PayloadSettings(config.process_command, config.process_data_dir, config.images_dir),
        fencing=FencingSettings(
            lease_renewal=config.timing.lease_renewal,
            fence_after=config.timing.fence_after,
            watchdog_timeout=config.timing.watchdog_timeout,
            watchdog=config.watchdog,
            fault_file=config.fault_file,
        ),
        shutdown_grace=config.timing.vm_shutdown_grace,
    )


def _libvirt_backend(config: HostConfig) -> VmBackend:
    """Without a sanlock lock manager configured in libvirt, the VM lease is this host's
    lease manager's (see ``vm/libvirt_backend.py`` for what each mode guarantees)."""
    try:
        from hosted_engine.vm.libvirt_backend import LibvirtVmBackend
        from hosted_engine.vm.libvirt_xml import XmlSettings

        return LibvirtVmBackend(
            config.libvirt_uri,
            lease_manager_for(config),
            config.host_id,
            config.hostname,
            XmlSettings(images_dir=config.images_dir),
        )
    except ModuleNotFoundError as e:
        raise ConfigError(
            f"vm_backend libvirt needs the libvirt Python module ({e.name} is missing): "
            "install the Debian package python3-libvirt"
        ) from None
