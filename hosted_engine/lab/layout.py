"""The lab's files, as ``hosted-engine --deploy`` wrote them (lab/deploy.py), and where.

``create_lab`` deploys host 1 as a first host and hosts 2..N as additional hosts, each
with ``--root hosts/hostN`` and an answer file carrying the lab's own facts (ports,
ids, watchdog sockets, fault files); every other file is deploy's, so each lab start
proves deploy. The functions here name where deploy put things; every caller uses them.

DIR/lab.json                 what `up` created (hosts, profile, ids, ports)
DIR/answers/hostN.conf       the answer file host N was deployed with
DIR/storage/<sdUUID>/...     the shared storage domain, deploy's first host's (metadata,
                             lockspace, the configuration archive with fhanswers.conf and
                             the engine VM's initial vm.conf, the OVF_STORE with its OVF,
                             images/engine-disk: the VM's "disk", with the cluster CA,
                             the manager's client certificate and hosts.json, the host
                             registry every deployed host joined)
DIR/hosts/hostN/             host N's root: etc/hosted-engine/hosted-engine.conf and
                             answers.conf, etc/pki/hosted-engine/ (its host API's
                             certificate), run/hosted-engine, var/lib/hosted-engine (the
                             broker's config cache), var/log/hosted-engine (daemon logs)
DIR/hosts/hostN/faults       the host's injected storage faults (the lab's)
DIR/hosts/hostN/sanlock/     the host's sanlock daemon (``up --leases sanlock``)
DIR/watchdogs/hostN.sock     each host's watchdog (outside the host: lab/watchdog.py),
DIR/watchdogs/hostN.resets   and the resets it did

Deploy starts no daemon here (``SYSTEM/servicesProvider=caller``): the lab starts the
watchdogs and each host's daemons itself (lab/cluster.py), as kill-host and chaos need.
"""

from __future__ import annotations

import json
import shutil
import socket
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from hosted_engine.deploy import keys as deploy_keys
from hosted_engine.deploy import paths as setup_paths
from hosted_engine.errors import UsageError
from hosted_engine.locking import LEASE_BACKENDS

MANIFEST = "lab.json"


@dataclass(frozen=True)
class LabManifest:
    hosts: int
    profile: str
    sd_uuid: str
    vm_id: str
    engine_port: int
    hostd_ports: tuple[int, ...] = ()
    engine: str = "manager"  # the engine VM's payload: "manager" or the older "stand-in"
    leases: str = "fcntl"  # the lease backend of every host: "fcntl" or "sanlock"
    metrics_ports: tuple[int, ...] = ()  # each broker's Prometheus endpoint

    def metrics_url(self, host_id: int) -> str | None:
        if host_id > len(self.metrics_ports):
            return None
        return f"http://127.0.0.1:{self.metrics_ports[host_id - 1]}/metrics"

    @property
    def engine_url(self) -> str:
        return f"http://127.0.0.1:{self.engine_port}/ovirt-engine/services/health"

    @property
    def manager_url(self) -> str:
        return f"http://127.0.0.1:{self.engine_port}/"

    def hostd_port(self, host_id: int) -> int | None:
        return self.hostd_ports[host_id - 1] if host_id <= len(self.hostd_ports) else None


def host_dir(lab_dir: Path, host_id: int) -> Path:
    """Host ``host_id``'s root: deploy's ``--root``; all its processes name paths under it."""
    return lab_dir / "hosts" / f"host{host_id}"


def _under_root(lab_dir: Path, host_id: int, system_path: str) -> Path:
    return host_dir(lab_dir, host_id) / system_path.lstrip("/")


def host_config_path(lab_dir: Path, host_id: int) -> Path:
    return _under_root(lab_dir, host_id, deploy_keys.CONFIG_FILE)


def host_run_dir(lab_dir: Path, host_id: int) -> Path:
    return _under_root(lab_dir, host_id, setup_paths.RUN_DIR)


def host_state_dir(lab_dir: Path, host_id: int) -> Path:
    """The broker's cache of the shared configuration (vm.conf, broker.conf, ...)."""
    return _under_root(lab_dir, host_id, setup_paths.STATE_DIR)


def host_log_dir(lab_dir: Path, host_id: int) -> Path:
    return _under_root(lab_dir, host_id, setup_paths.LOG_DIR)


def answers_path(lab_dir: Path, host_id: int) -> Path:
    """The answer file the lab deployed host ``host_id`` with (lab/deploy.py)."""
    return lab_dir / "answers" / f"host{host_id}.conf"


def watchdog_socket(lab_dir: Path, host_id: int) -> Path:
    """Where the host's watchdog listens: outside the host's directory (lab/watchdog.py)."""
    return lab_dir / "watchdogs" / f"host{host_id}.sock"


def watchdog_resets(lab_dir: Path, host_id: int) -> Path:
    return lab_dir / "watchdogs" / f"host{host_id}.resets"


def fault_file(lab_dir: Path, host_id: int) -> Path:
    """The host's injected storage faults (files/faults.py), read by all its processes."""
    return host_dir(lab_dir, host_id) / "faults"


def sanlock_run_dir(lab_dir: Path, host_id: int) -> Path:
    """The run directory of the host's own sanlock daemon (lab/sanlock_daemons.py)."""
    return host_dir(lab_dir, host_id) / "sanlock"


def host_pki(lab_dir: Path, host_id: int) -> tuple[Path, Path, Path]:
    """``(ca, cert, key)`` the host API of ``host_id`` serves with (deploy's enrollment)."""
    return (
        _under_root(lab_dir, host_id, deploy_keys.CA_FILE),
        _under_root(lab_dir, host_id, deploy_keys.CERT_FILE),
        _under_root(lab_dir, host_id, deploy_keys.KEY_FILE),
    )


def storage_dir(lab_dir: Path) -> Path:
    return lab_dir / "storage"


def engine_disk(lab_dir: Path, manifest: LabManifest) -> Path:
    """The engine VM's disk on the domain: the manager's data, CA and host registry."""
    return storage_dir(lab_dir) / manifest.sd_uuid / setup_paths.DISK


def load_manifest(lab_dir: Path) -> LabManifest:
    path = lab_dir / MANIFEST
    try:
        data = json.loads(path.read_text())
        data["hostd_ports"] = tuple(data.get("hostd_ports", ()))
        data["metrics_ports"] = tuple(data.get("metrics_ports", ()))
        return LabManifest(**data)
    except FileNotFoundError:
        raise UsageError(f"{lab_dir}: no lab here (run `hosted-engine-lab up` first)") from None
    except (OSError, ValueError, TypeError) as e:
        raise UsageError(f"{path}: unreadable lab manifest: {e}") from None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create_lab(
    lab_dir: Path,
    hosts: int,
    profile: str,
    *,
    ovf_store: bool = True,
    engine: str = "manager",
    leases: str = "fcntl",
) -> LabManifest:
    """Deploy a fresh lab (lab/deploy.py); refuses a non-empty directory that is not a lab.

    Deploy puts the engine VM's definition into the archive's vm.conf and its OVF into
    the OVF_STORE; with ``ovf_store=False`` the OVF_STORE is removed afterwards, leaving
    a domain from before the OVF_STORE (what the upgrade path converts).
    """
    from hosted_engine.lab import deploy  # it uses this module's paths; and only `up` deploys

    if not 1 <= hosts <= 64:
        raise UsageError(f"--hosts must be between 1 and 64 (got {hosts})")
    if engine not in ENGINES:
        raise UsageError(f"--engine must be one of {', '.join(ENGINES)} (got {engine!r})")
    if leases not in LEASE_BACKENDS:
        raise UsageError(f"--leases must be one of {', '.join(LEASE_BACKENDS)} (got {leases!r})")
    if lab_dir.exists() and any(lab_dir.iterdir()):
        if not (lab_dir / MANIFEST).exists():
            raise UsageError(f"{lab_dir} is not empty and holds no lab; refusing to use it")
        shutil.rmtree(lab_dir)
    lab_dir.mkdir(parents=True, exist_ok=True)
    manifest = LabManifest(
        hosts,
        profile,
        str(uuid.uuid4()),
        str(uuid.uuid4()),
        _free_port(),
        tuple(_free_port() for _ in range(hosts)),
        engine,
        leases,
        tuple(_free_port() for _ in range(hosts)),
    )
    storage_dir(lab_dir).mkdir()
    # written first: a lab whose deploy failed half-way is still a lab `up` may replace
    (lab_dir / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    for host_id in range(1, hosts + 1):
        deploy.deploy_host(lab_dir, manifest, host_id)
    if not ovf_store:
        deploy.drop_ovf_store(lab_dir, manifest)
    return manifest


ENGINES = ("manager", "stand-in")
