"""The lease and VM backends a host's configuration asks for.

The mechanisms (``locking/``, ``vm/``) know nothing of ``hosted-engine.conf``; this is
where a configuration picks and wires them, for the daemons and the client alike.
"""

from __future__ import annotations

from hosted_engine.config.host import HostConfig
from hosted_engine.errors import ConfigError
from hosted_engine.locking.base import LeaseManager
from hosted_engine.locking.fcntl_backend import FcntlLeaseManager
from hosted_engine.vm.base import VmBackend
from hosted_engine.vm.process import FencingSettings, PayloadSettings, ProcessVmBackend


def lease_manager_for(config: HostConfig) -> LeaseManager:
    if config.lease_backend != "fcntl":
        raise ConfigError(f"lease_backend {config.lease_backend!r} is not available (known: fcntl)")
    return FcntlLeaseManager(config.lockspace_path)


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
