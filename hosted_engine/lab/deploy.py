"""The lab's hosts, made by ``hosted-engine --deploy``: host 1 first, then the others.

Each host is deployed into its own root (``--root hosts/hostN``) from an answer file the
lab writes (``answers/hostN.conf``): host 1 takes the first-host path (the domain, the
archive with ``fhanswers.conf``, the OVF, the cluster CA, the host registry), hosts
2..N the additional-host path (the shared answers from ``fhanswers.conf``, enrollment
with the CA on the domain, a line in the registry). The answers carry only what is the
lab's own: its ids and ports, the watchdog sockets, fault files and sanlock run dirs it
runs, the timing profile and lease backend, and the stand-in payload when asked for; the
manager's command line is deploy's default (``setup_values.engine_command``).

Deploy runs in this process (no interpreter start or import per host) with
``SYSTEM/servicesProvider=caller``: it writes every file and starts nothing, since the
lab starts the daemons itself under the watchdogs and faults it owns.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import sys
from pathlib import Path

from hosted_engine.deploy import keys as host_keys
from hosted_engine.deploy import setup_keys as K
from hosted_engine.deploy import setup_values
from hosted_engine.errors import LabDeployError
from hosted_engine.installer import keys as core_keys
from hosted_engine.lab import sanlock_daemons
from hosted_engine.lab.layout import (
    LabManifest,
    answers_path,
    fault_file,
    host_dir,
    host_log_dir,
    host_run_dir,
    host_state_dir,
    sanlock_run_dir,
    storage_dir,
    watchdog_socket,
)
from hosted_engine.storage import domain, ovf_store

HOST_ADDRESS = "127.0.0.1"  # every lab host, the engine VM too, is on this machine
VM_MAC = "00:16:3e:00:00:01"
STAND_IN = "{python} -m hosted_engine.lab.engine_service --listen {{listen}}"


def host_name(host_id: int) -> str:
    """Host ``host_id``'s name in the metadata and the manager's registry."""
    return f"host{host_id}.lab"


def _first_host(manifest: LabManifest) -> dict[str, str]:
    """What every host shares, given once: deploy stores it in the domain's fhanswers.conf."""
    answers = {
        K.DOMAIN_TYPE.name: "str:localfs",
        K.SD_UUID.name: f"str:{manifest.sd_uuid}",
        K.IMG_SIZE_GB.name: "int:1",
        K.FQDN.name: f"str:{HOST_ADDRESS}",
        K.BRIDGE.name: "str:lo",
        K.GATEWAY.name: f"str:{HOST_ADDRESS}",
        K.NETWORK_TEST.name: "str:none",
        K.MEM_MB.name: "int:256",
        K.VCPUS.name: "int:1",
        K.MAC.name: f"str:{VM_MAC}",
        K.VM_UUID.name: f"str:{manifest.vm_id}",
        K.ENGINE_PORT.name: f"int:{manifest.engine_port}",
        K.TIMING_PROFILE.name: f"str:{manifest.profile}",
        K.LEASE_BACKEND.name: f"str:{manifest.leases}",
    }
    if manifest.engine == "stand-in":
        answers[K.ENGINE_COMMAND.name] = "str:" + STAND_IN.format(python=sys.executable)
    return answers


def answers(lab_dir: Path, manifest: LabManifest, host_id: int) -> dict[str, str]:
    """Host ``host_id``'s answers (``KEY: type:value``)."""
    own = {
        K.CONNECTION.name: f"str:{storage_dir(lab_dir)}",
        K.HOST_ID.name: f"int:{host_id}",
        K.HOST_NAME.name: f"str:{host_name(host_id)}",
        K.HOST_ADDRESS.name: f"str:{HOST_ADDRESS}",
        K.WATCHDOG.name: f"str:unix:{watchdog_socket(lab_dir, host_id)}",
        K.FAULT_FILE.name: f"str:{fault_file(lab_dir, host_id)}",
        # services are the lab's; the hosts share this machine's name and memory
        core_keys.SERVICES_PROVIDER.name: f"str:{core_keys.SERVICES_CALLER}",
        host_keys.CHECK_HOSTNAME.name: "bool:False",
        host_keys.MIN_MEMORY_MB.name: "int:1",
        core_keys.AUTO_ACCEPT_DEFAULT.name: "bool:True",
    }
    port = manifest.hostd_port(host_id)
    if port is not None:
        own[K.HOSTD_PORT.name] = f"int:{port}"
    if host_id <= len(manifest.metrics_ports):
        own[K.METRICS_LISTEN.name] = f"str:{HOST_ADDRESS}:{manifest.metrics_ports[host_id - 1]}"
    if manifest.leases == "sanlock":
        own[K.SANLOCK_RUN_DIR.name] = f"str:{sanlock_run_dir(lab_dir, host_id)}"
        sanlock_io = host_keys.CONFIG_KEYS["sanlock_io_timeout"].name
        own[sanlock_io] = f"str:{sanlock_daemons.IO_TIMEOUT}"
    return (_first_host(manifest) if host_id == 1 else {}) | own


def write_answers(lab_dir: Path, manifest: LabManifest, host_id: int) -> Path:
    path = answers_path(lab_dir, host_id)
    path.parent.mkdir(exist_ok=True)
    lines = "".join(f"{k}={v}\n" for k, v in answers(lab_dir, manifest, host_id).items())
    header = f"# lab host {host_id}: hosted-engine --deploy answers\n{setup_values.SECTION}\n"
    path.write_text(header + lines)
    return path


def deploy_host(lab_dir: Path, manifest: LabManifest, host_id: int) -> None:
    """``hosted-engine --deploy --root hosts/hostN --config-append=answers/hostN.conf``."""
    from hosted_engine.cli import deploy

    root = host_dir(lab_dir, host_id)
    root.mkdir(parents=True, exist_ok=True)
    path = write_answers(lab_dir, manifest, host_id)
    said, errors = io.StringIO(), io.StringIO()
    # the root is the host's whole file system to host-deploy, which searches its
    # programs under it: openssl is given as this machine's instead
    openssl = shutil.which("openssl") or "/usr/bin/openssl"
    argv = ["--root", str(root), f"--config-append={path}", f"COMMAND/openssl=str:{openssl}"]
    with contextlib.redirect_stderr(errors):
        rc = deploy.main(argv, stdin=io.StringIO(""), stdout=said)
    if rc != 0:
        last = errors.getvalue().strip() or said.getvalue().strip() or f"exit {rc}"
        raise LabDeployError(f"deploying lab host {host_id} failed: {last.splitlines()[-1]}")
    # what the package's units provide on a real host (RuntimeDirectory=, StateDirectory=,
    # LogsDirectory=): the lab starts the daemons, so it makes their directories
    for directory in (host_run_dir, host_state_dir, host_log_dir):
        directory(lab_dir, host_id).mkdir(parents=True, exist_ok=True)


def drop_ovf_store(lab_dir: Path, manifest: LabManifest) -> None:
    """Remove the OVF_STORE deploy wrote: a domain from before the OVF_STORE."""
    ha = domain.ha_dir(storage_dir(lab_dir), manifest.sd_uuid)
    for name in (*ovf_store.COPY_NAMES, ovf_store.LOCK_NAME):
        (ha / name).unlink(missing_ok=True)
