"""This host's ``hosted-engine.conf``: identity, the storage domain, and local paths.

A conf holding only ``host_id``, ``sdUUID`` and ``storage`` is enough to read a domain;
everything else has a default. Keys keep the reference's names so existing files work;
keys the reference did not have (paths, backends, timing) are ours.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hosted_engine.config.timing import Timing, load_timing
from hosted_engine.errors import ConfigError, NotDeployedError, TimingError, WatchdogError
from hosted_engine.files import keyvalue
from hosted_engine.locking import SANLOCK_SOCKET
from hosted_engine.locking.watchdog import check_spec as check_watchdog
from hosted_engine.locking.watchdog import default_spec as default_watchdog
from hosted_engine.storage.domain import HA_DIR_NAME, LOCKSPACE_NAME, METADATA_NAME
from hosted_engine.storage.metadata import MAX_HOST_ID

DEFAULT_CONFIG_PATH = Path("/etc/hosted-engine/hosted-engine.conf")
CONFIG_ENV = "HOSTED_ENGINE_CONFIG"
DOMAIN_TYPES = ("localfs", "nfs", "nfs3", "nfs4", "glusterfs", "posixfs")
NETWORK_TESTS = ("ping", "dns", "tcp", "none")
MAX_PORT = 65535
PATH_MAX, NAME_MAX = 4096, 255  # Linux's limits
_WHOLE = re.compile(r"-?[0-9]+")


def config_path(explicit: str | None = None) -> Path:
    """``--config`` first, then ``$HOSTED_ENGINE_CONFIG``, then the system default."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else DEFAULT_CONFIG_PATH


@dataclass(frozen=True)
class HostConfig:
    host_id: int
    sd_uuid: str
    storage: Path
    domain_type: str = "localfs"
    vm_id: str | None = None
    fqdn: str | None = None
    hostname: str = field(default_factory=socket.gethostname)
    vm_conf: Path | None = None
    engine_health_url: str | None = None
    gateway: str | None = None
    bridge: str | None = None
    network_test: str = "ping"
    tcp_t_address: str | None = None
    tcp_t_port: int | None = None
    run_dir: Path = Path("/run/hosted-engine")
    state_dir: Path = Path("/var/lib/hosted-engine")
    log_dir: Path = Path("/var/log/hosted-engine")
    lease_backend: str = "fcntl"
    vm_backend: str = "process"
    # the process backend's payload (not part of the VM definition): what it runs, and
    # the directory that plays the VM's disk
    process_command: tuple[str, ...] = ()
    process_data_dir: Path | None = None
    # what resets this host when it freezes while holding the VM lease
    # (locking/watchdog.py): "none", a device path, or "unix:PATH" (the lab's)
    watchdog: str = field(default_factory=default_watchdog)
    fault_file: Path | None = None  # injected storage faults (files/faults.py): tests, the lab
    # the libvirt backend's connection (vm_backend=libvirt)
    libvirt_uri: str = "qemu:///system"
    # the sanlock backend's daemon (lease_backend=sanlock): its run dir (None: the
    # system daemon's) and the io_timeout this host formats and joins the lockspace with
    sanlock_run_dir: Path | None = None
    sanlock_io_timeout: int = 10
    # among hosts within the restart margin of each other, the higher one wins the election
    ha_priority: int = 0
    # where the broker serves Prometheus metrics (None: it does not)
    metrics_listen: tuple[str, int] | None = None
    timing: Timing = field(default_factory=lambda: load_timing("default"))
    score_overrides: Mapping[str, str] = field(default_factory=dict)
    path: Path | None = None
    raw: Mapping[str, str] = field(default_factory=dict)

    # --- derived paths ----------------------------------------------------------------
    @property
    def domain_dir(self) -> Path:
        return self.storage / self.sd_uuid

    @property
    def ha_dir(self) -> Path:
        return self.domain_dir / HA_DIR_NAME

    @property
    def images_dir(self) -> Path:
        """The domain's disk images, one directory per image id."""
        return self.domain_dir / "images"

    @property
    def metadata_path(self) -> Path:
        return self.ha_dir / METADATA_NAME

    @property
    def lockspace_path(self) -> Path:
        return self.ha_dir / LOCKSPACE_NAME

    @property
    def broker_socket(self) -> Path:
        return self.run_dir / "broker.socket"

    @property
    def ha_state_path(self) -> Path:
        """Local maintenance flags (type ``ha`` in the reference)."""
        return self.state_dir / "ha.conf"

    # The broker's local cache of the shared configuration archive (seed 003): the agent
    # and the notifier read these, never the storage domain.
    @property
    def local_config_lock(self) -> Path:
        """Serialises every read-modify-write of this host's local files."""
        return self.state_dir / "local-config.lock"

    @property
    def vm_conf_path(self) -> Path:
        """The engine VM definition (``conf``; by default the broker's cached copy)."""
        return self.vm_conf if self.vm_conf is not None else self.state_dir / "vm.conf"

    @property
    def broker_conf_path(self) -> Path:
        return self.state_dir / "broker.conf"

    @property
    def shared_conf_path(self) -> Path:
        """The cached shared copy of hosted-engine.conf (type ``he_shared``)."""
        return self.state_dir / "hosted-engine.conf"

    @property
    def health_url(self) -> str | None:
        if self.engine_health_url:
            return self.engine_health_url
        if self.fqdn:
            return f"http://{self.fqdn}/ovirt-engine/services/health"
        return None

    @property
    def is_deployed(self) -> bool:
        return bool(self.vm_id)


def _int(values: Mapping[str, str], key: str, source: str, low: int, high: int) -> int | None:
    """A whole number in ``[low, high]``, in plain ASCII digits (``int()`` alone would take
    ``1_0``, ``٣`` or 5000 digits)."""
    raw = values.get(key)
    if raw is None or raw == "":
        return None
    text = raw.strip()
    shown = text if len(text) <= 40 else text[:40] + "..."
    if not _WHOLE.fullmatch(text):
        raise ConfigError(f"{source}: {key} must be a whole number (got {shown!r})")
    if len(text) > 18 or not low <= int(text) <= high:
        raise ConfigError(f"{source}: {key} must be between {low} and {high} (got {shown})")
    return int(text)


def _path(key: str, raw: str, source: str) -> Path:
    """A path the kernel can take: a longer one fails in whichever verb first opens it,
    with ENAMETOOLONG, so it is refused here, naming the key."""
    encoded = os.fsencode(raw)
    if len(encoded) >= PATH_MAX or any(len(part) > NAME_MAX for part in encoded.split(b"/")):
        raise ConfigError(
            f"{source}: {key} is too long a path (at most {PATH_MAX - 1} bytes, "
            f"{NAME_MAX} per name)"
        )
    return Path(raw)


def from_values(values: Mapping[str, str], source: str = "<config>") -> HostConfig:
    """Build and validate a HostConfig from parsed ``key=value`` pairs."""
    missing = [k for k in ("host_id", "sdUUID", "storage") if not values.get(k)]
    if missing:
        raise NotDeployedError(f"{source}: missing {', '.join(missing)}")
    host_id = _int(values, "host_id", source, 1, MAX_HOST_ID)
    assert host_id is not None
    domain_type = values.get("domainType", "localfs")
    if domain_type not in DOMAIN_TYPES:
        raise ConfigError(
            f"{source}: domainType {domain_type!r} is not supported here; "
            f"supported: {', '.join(DOMAIN_TYPES)}"
        )
    network_test = values.get("network_test", "ping" if values.get("gateway") else "none")
    if network_test not in NETWORK_TESTS:
        raise ConfigError(
            f"{source}: network_test must be one of {', '.join(NETWORK_TESTS)} "
            f"(got {network_test!r})"
        )
    timing_overrides = {
        k.removeprefix("timing."): v for k, v in values.items() if k.startswith("timing.")
    }
    score_overrides = {
        k.removeprefix("score."): v for k, v in values.items() if k.startswith("score.")
    }
    try:
        timing = load_timing(values.get("timing_profile", "default"), timing_overrides)
    except TimingError as e:
        raise TimingError(f"{source}: {e}") from None
    try:
        process_command = tuple(shlex.split(values.get("process_command", "")))
    except ValueError as e:
        raise ConfigError(f"{source}: process_command cannot be parsed: {e}") from None
    defaults = HostConfig(host_id=1, sd_uuid="-", storage=Path("/"))

    def path(key: str, default: Path) -> Path:
        raw = values.get(key)
        return _path(key, raw, source) if raw else default

    def optional_path(key: str) -> Path | None:
        raw = values.get(key)
        return _path(key, raw, source) if raw else None

    return HostConfig(
        host_id=host_id,
        sd_uuid=values["sdUUID"],
        storage=_path("storage", values["storage"], source),
        domain_type=domain_type,
        vm_id=values.get("vmid") or None,
        fqdn=values.get("fqdn") or None,
        hostname=values.get("hostname") or socket.gethostname(),
        vm_conf=optional_path("conf"),
        engine_health_url=values.get("engine_health_url") or None,
        gateway=values.get("gateway") or None,
        bridge=values.get("bridge") or None,
        network_test=network_test,
        tcp_t_address=values.get("tcp_t_address") or None,
        tcp_t_port=_int(values, "tcp_t_port", source, 1, MAX_PORT),
        run_dir=path("run_dir", defaults.run_dir),
        state_dir=path("state_dir", defaults.state_dir),
        log_dir=path("log_dir", defaults.log_dir),
        lease_backend=values.get("lease_backend", "fcntl"),
        vm_backend=values.get("vm_backend", "process"),
        process_command=process_command,
        process_data_dir=optional_path("process_data_dir"),
        watchdog=_watchdog(values.get("watchdog") or default_watchdog(), source),
        fault_file=optional_path("fault_file"),
        libvirt_uri=_libvirt_uri(values.get("libvirt_uri") or defaults.libvirt_uri, source),
        sanlock_run_dir=optional_path("sanlock_run_dir"),
        sanlock_io_timeout=_int(values, "sanlock_io_timeout", source, 1, 60)
        or defaults.sanlock_io_timeout,
        ha_priority=_int(values, "ha_priority", source, 0, 1000) or 0,
        metrics_listen=parse_listen(values.get("metrics_listen", ""), f"{source}: metrics_listen"),
        timing=timing,
        score_overrides=score_overrides,
        raw=dict(values),
    )


SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes with the terminating NUL


def check_socket_paths(config: HostConfig) -> None:
    """A UNIX socket path the kernel cannot bind or connect to fails only inside a
    starting daemon, and its caller sees a timeout; the directory that makes it too long
    is named here, before anything starts (the daemons, ``hosted-engine-lab up``)."""
    source = str(config.path or "hosted-engine.conf")
    sockets = [("run_dir", config.broker_socket)]
    if config.watchdog.startswith("unix:"):
        sockets.append(("watchdog", Path(config.watchdog.removeprefix("unix:"))))
    if config.sanlock_run_dir is not None:
        sockets.append(("sanlock_run_dir", config.sanlock_run_dir / SANLOCK_SOCKET))
    for key, path in sockets:
        size = len(os.fsencode(path))
        if size > SOCKET_PATH_MAX:
            raise ConfigError(
                f"{source}: {key} is too long for a UNIX socket: {path} is {size} bytes, "
                f"at most {SOCKET_PATH_MAX}; use a shorter directory"
            )


def parse_listen(spec: str, what: str = "metrics_listen") -> tuple[str, int] | None:
    """``HOST:PORT`` (empty: off), IPv6 hosts in brackets; a bad one is one line."""
    if not spec:
        return None
    host, sep, port = spec.rpartition(":")
    if not (sep and host and port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise ConfigError(f"{what} must be HOST:PORT, e.g. 127.0.0.1:9393 (got {spec[:60]!r})")
    return host.strip("[]"), int(port)


def _watchdog(spec: str, source: str) -> str:
    try:
        return check_watchdog(spec)
    except WatchdogError as e:
        raise ConfigError(f"{source}: {e}") from None


_LIBVIRT_URI = re.compile(r"^[a-z][a-z0-9+]*://[^\s]*$")


def _libvirt_uri(raw: str, source: str) -> str:
    """A libvirt connection URI (``qemu:///system``, ``test:///default``), checked here so
    a typo is a one-line error when the file is read, not when the VM should start."""
    if not _LIBVIRT_URI.match(raw) or len(raw) > 1024:
        raise ConfigError(f"{source}: libvirt_uri {raw[:60]!r} is not a libvirt URI")
    return raw


def require_daemon_keys(config: HostConfig) -> HostConfig:
    """The daemons need more than a status reader: the VM id and a way to judge health."""
    source = str(config.path or "hosted-engine.conf")
    if not config.vm_id:
        raise NotDeployedError(f"{source}: vmid is missing (run deploy first)")
    if config.health_url is None:
        raise ConfigError(
            f"{source}: fqdn (or engine_health_url) is required to check the engine's health"
        )
    check_socket_paths(config)
    return config


def load_host_config(path: str | Path | None = None) -> HostConfig:
    """Read and validate the host's hosted-engine.conf."""
    resolved = config_path(str(path) if path is not None else None)
    text = keyvalue.read(resolved)  # a FIFO or a device is refused, not waited on
    if text is None:
        raise NotDeployedError(f"{resolved}: no such file (is hosted-engine deployed here?)")
    config = from_values(keyvalue.parse(text, str(resolved)), str(resolved))
    return HostConfig(**{**config.__dict__, "path": resolved})
