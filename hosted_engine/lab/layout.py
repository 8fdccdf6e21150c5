"""The lab's files: a storage domain and one host directory per simulated host.

DIR/lab.json                 what `up` created (hosts, profile, engine URL, ids)
DIR/storage/<sdUUID>/...     the shared storage domain (metadata, lockspace, the shared
                             configuration archive with the engine VM's initial vm.conf,
                             the OVF_STORE with its OVF, images/engine-disk: the VM's "disk")
DIR/hosts/hostN/hosted-engine.conf, run/, state/ (the broker's config cache), log/,
                             pki/ (the host's certificate for its host API)
                             faults (the host's injected storage faults)
DIR/hosts/hostN/sanlock/     the host's sanlock daemon (``up --leases sanlock``)
DIR/watchdogs/hostN.sock     each host's watchdog (outside the host: lab/watchdog.py),
DIR/watchdogs/hostN.resets   and the resets it did
DIR/pki/                     the cluster CA
<engine disk>/pki/, hosts.json  the manager's client certificate and its host registry seed
                             (on the engine VM's disk, as the engine VM carries them)
"""

from __future__ import annotations

import json
import shlex
import shutil
import socket
import sys
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from hosted_engine import __version__
from hosted_engine.broker.notifications import load_template
from hosted_engine.errors import UsageError
from hosted_engine.files import keyvalue
from hosted_engine.lab import sanlock_daemons
from hosted_engine.locking import LEASE_BACKENDS
from hosted_engine.storage.config_archive import ConfigArchive
from hosted_engine.storage.domain import create_domain
from hosted_engine.storage.ovf_store import OvfStore
from hosted_engine.vm.definition import from_values

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
    return lab_dir / "hosts" / f"host{host_id}"


def host_config_path(lab_dir: Path, host_id: int) -> Path:
    return host_dir(lab_dir, host_id) / "hosted-engine.conf"


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
    """``(ca, cert, key)`` the host API of ``host_id`` serves with."""
    pki = host_dir(lab_dir, host_id) / "pki"
    return pki / "ca.pem", pki / "host.pem", pki / "host.key"


def engine_disk(lab_dir: Path, manifest: LabManifest) -> Path:
    return lab_dir / "storage" / manifest.sd_uuid / "images" / "engine-disk"


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
    """Lay out a fresh lab; refuses a non-empty directory that is not a lab.

    The engine VM's definition starts as the archive's vm.conf and, unless ``ovf_store``
    is False (a domain from before the OVF_STORE), is converted into the OVF_STORE as the
    upgrade path does, so the lab runs the engine VM from its OVF.
    """
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
    storage = lab_dir / "storage"
    storage.mkdir()
    ha_dir = create_domain(storage, manifest.sd_uuid)
    vm_conf = {
        "vmId": manifest.vm_id,
        "vmName": "HostedEngine",
        "memSize": "256",
        "sockets": "1",
        "nic1.macAddr": "00:16:3e:00:00:01",
        "nic1.network": "ovirtmgmt",
        "nic1.model": "virtio",
        "nic1.linkActive": "true",
    }
    shared_conf = {
        k: v for k, v in _host_values(lab_dir, manifest, 1).items() if k not in _PER_HOST_KEYS
    }
    ConfigArchive.in_domain(ha_dir).create(
        {
            "version": __version__.encode(),
            "fhanswers.conf": b"",
            "hosted-engine.conf": _key_values(
                "# The shared copy of hosted-engine.conf, for hosts deployed later.", shared_conf
            ).encode(),
            "broker.conf": load_template("broker.conf").encode(),
            "vm.conf": _key_values("# The engine VM of the lab.", vm_conf).encode(),
        }
    )
    if ovf_store:
        from hosted_engine.vm.ovf import ovf_from_definition

        ovf = ovf_from_definition(from_values(vm_conf))
        OvfStore(ha_dir).put_vm_ovf(manifest.vm_id, ovf, "lab", overwrite=False)
    for host_id in range(1, hosts + 1):
        write_host_config(lab_dir, manifest, host_id)
    _create_pki(lab_dir, manifest)
    (lab_dir / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest


ENGINES = ("manager", "stand-in")


def _create_pki(lab_dir: Path, manifest: LabManifest) -> None:
    """The cluster CA, a certificate per host API, and the manager's client certificate
    with its host registry on the engine VM's disk."""
    from hosted_engine.pki import CertificateAuthority, write_key_pair

    ca = CertificateAuthority.create(lab_dir / "pki")
    ca_pem = ca.cert_path.read_bytes()
    hosts = []
    for host_id in range(1, manifest.hosts + 1):
        ca_path, cert, key = host_pki(lab_dir, host_id)
        write_key_pair(ca.issue_host("127.0.0.1"), cert, key)
        ca_path.write_bytes(ca_pem)
        hosts.append(
            {
                "host_id": host_id,
                "name": f"host{host_id}.lab",
                "address": "127.0.0.1",
                "port": manifest.hostd_port(host_id),
            }
        )
    disk = engine_disk(lab_dir, manifest)
    (disk / "pki").mkdir(parents=True, exist_ok=True)
    write_key_pair(
        ca.issue_client("manager"), disk / "pki" / "manager.pem", disk / "pki" / "manager.key"
    )
    (disk / "pki" / "ca.pem").write_bytes(ca_pem)
    (disk / "hosts.json").write_text(json.dumps(hosts, indent=2) + "\n")


def _engine_command(lab_dir: Path, manifest: LabManifest) -> list[str]:
    listen = f"127.0.0.1:{manifest.engine_port}"
    if manifest.engine == "stand-in":
        return [sys.executable, "-m", "hosted_engine.lab.engine_service", "--listen", listen]
    pki = engine_disk(lab_dir, manifest) / "pki"
    return [
        sys.executable,
        "-m",
        "hosted_engine.manager.main",
        "--listen",
        listen,
        "--hosts-file",
        str(engine_disk(lab_dir, manifest) / "hosts.json"),
        "--ca",
        str(pki / "ca.pem"),
        "--cert",
        str(pki / "manager.pem"),
        "--key",
        str(pki / "manager.key"),
    ]


_PER_HOST_KEYS = frozenset(
    {"hostname", "run_dir", "state_dir", "log_dir", "sanlock_run_dir", "metrics_listen"}
)


def _key_values(header: str, values: dict[str, str]) -> str:
    return header + "\n" + "".join(f"{k}={v}\n" for k, v in values.items())


def _host_values(lab_dir: Path, manifest: LabManifest, host_id: int) -> dict[str, str]:
    """This host's hosted-engine.conf; the engine VM is the manager (or the stand-in), run
    by the process backend with the domain's ``images/engine-disk`` as its disk."""
    hdir = host_dir(lab_dir, host_id)
    engine = _engine_command(lab_dir, manifest)
    metrics = {}
    if host_id <= len(manifest.metrics_ports):
        metrics["metrics_listen"] = f"127.0.0.1:{manifest.metrics_ports[host_id - 1]}"
    leases = {"lease_backend": manifest.leases}
    if manifest.leases == "sanlock":
        leases |= {
            "sanlock_run_dir": str(sanlock_run_dir(lab_dir, host_id)),
            "sanlock_io_timeout": str(sanlock_daemons.IO_TIMEOUT),
        }
    return {
        "host_id": str(host_id),
        "sdUUID": manifest.sd_uuid,
        "storage": str(lab_dir / "storage"),
        "domainType": "localfs",
        "vmid": manifest.vm_id,
        "hostname": f"host{host_id}.lab",
        "fqdn": "127.0.0.1",
        "engine_health_url": manifest.engine_url,
        "network_test": "none",
        "bridge": "lo",
        "run_dir": str(hdir / "run"),
        "state_dir": str(hdir / "state"),
        "log_dir": str(hdir / "log"),
        "timing_profile": manifest.profile,
        "process_command": shlex.join(engine),
        "process_data_dir": str(engine_disk(lab_dir, manifest)),
        "watchdog": f"unix:{watchdog_socket(lab_dir, host_id)}",
        "fault_file": str(fault_file(lab_dir, host_id)),
        **leases,
        **metrics,
    }


def write_host_config(lab_dir: Path, manifest: LabManifest, host_id: int) -> Path:
    for sub in ("run", "state", "log", "pki"):
        (host_dir(lab_dir, host_id) / sub).mkdir(parents=True, exist_ok=True)
    path = host_config_path(lab_dir, host_id)
    text = _key_values(
        f"# hosted-engine.conf of lab host {host_id}", _host_values(lab_dir, manifest, host_id)
    )
    keyvalue.atomic_write(path, text)
    return path
