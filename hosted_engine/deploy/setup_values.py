"""What the answers become: hosted-engine.conf lines, archive members, the engine VM.

Kept apart from the plugins so the mapping from oVirt's answer keys to our files is
plain functions of values (tested without a run) and the same for the first host, which
writes the shared part, and an additional host, which reads it back.
"""

from __future__ import annotations

import secrets
import shlex
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from hosted_engine import __version__
from hosted_engine.broker.notifications import load_template
from hosted_engine.deploy import setup_domain
from hosted_engine.deploy import setup_keys as K
from hosted_engine.deploy.paths import LOG_DIR, REGISTRY, RUN_DIR, STATE_DIR
from hosted_engine.errors import InstallerConfigError, InstallerUsageError
from hosted_engine.installer import Environment, Key
from hosted_engine.installer.values import Assignment, encode

HEALTH_PATH = "/ovirt-engine/services/health"
SECTION = "[environment:default]"


def random_mac() -> str:
    """A locally administered address in the range oVirt gives engine VMs (00:16:3e)."""
    return "00:16:3e:" + ":".join(f"{secrets.randbelow(256):02x}" for _ in range(3))


def answers_text(env: Environment, names: Iterable[Key[object]], header: str) -> str:
    """``[environment:default]`` ``KEY=type:value`` lines of the keys that are set."""
    lines = [f"# {header}", SECTION]
    for declared in names:
        value = env[declared]
        if value is None or declared.secret:
            continue
        lines.append(f"{declared.name}={encode(value)}")
    return "\n".join(lines) + "\n"


def parse_answers(text: str, source: str) -> list[Assignment]:
    """The assignments of an answer text's default section (what fhanswers.conf holds)."""
    found, in_default = [], False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            in_default = line == SECTION
            continue
        if in_default:
            try:
                found.append(Assignment.parse(line, source))
            except InstallerUsageError as e:
                raise InstallerConfigError(f"{source}: {e}") from None
    return found


def engine_listen(env: Environment) -> str:
    return f"{env[K.FQDN]}:{env[K.ENGINE_PORT]}"


def health_url(env: Environment) -> str:
    return f"http://{engine_listen(env)}{HEALTH_PATH}"


def manager_url(env: Environment) -> str:
    return f"http://{engine_listen(env)}/"


def engine_command(env: Environment, disk: Path) -> str:
    """The engine VM's payload: the given command ({listen}, {disk} filled in) or the manager."""
    given = env[K.ENGINE_COMMAND]
    if given:
        return given.replace("{listen}", engine_listen(env)).replace("{disk}", str(disk))
    pki = disk / "pki"
    return shlex.join(
        [
            sys.executable,
            "-m",
            "hosted_engine.manager.main",
            "--listen",
            engine_listen(env),
            "--hosts-file",
            str(disk / REGISTRY),
            "--ca",
            str(pki / "ca.pem"),
            "--cert",
            str(pki / "manager.pem"),
            "--key",
            str(pki / "manager.key"),
        ]
    )


def config_values(env: Environment, resolve: Callable[[str], str]) -> dict[str, str]:
    """This host's hosted-engine.conf lines; ``resolve`` puts a system path under the root."""
    storage = Path(str(env[K.CONNECTION]))
    sd_uuid = str(env[K.SD_UUID])
    disk = setup_domain.engine_disk(storage, sd_uuid)
    values: dict[str, str | None] = {
        "host_id": str(env[K.HOST_ID]),
        "sdUUID": sd_uuid,
        "storage": str(storage),
        "domainType": env[K.DOMAIN_TYPE],
        "vmid": env[K.VM_UUID],
        "hostname": env[K.HOST_NAME],
        "fqdn": env[K.FQDN],
        "engine_health_url": health_url(env),
        "gateway": env[K.GATEWAY],
        "bridge": env[K.BRIDGE],
        "network_test": env[K.NETWORK_TEST],
        "run_dir": resolve(RUN_DIR),
        "state_dir": resolve(STATE_DIR),
        "log_dir": resolve(LOG_DIR),
        "timing_profile": env[K.TIMING_PROFILE],
        "process_command": engine_command(env, disk),
        "process_data_dir": str(disk),
        "watchdog": env[K.WATCHDOG],
        "fault_file": env[K.FAULT_FILE],
        "lease_backend": env[K.LEASE_BACKEND],
        "sanlock_run_dir": env[K.SANLOCK_RUN_DIR],
        "metrics_listen": env[K.METRICS_LISTEN],
    }
    return {k: str(v) for k, v in values.items() if v is not None}


def vm_conf(env: Environment) -> dict[str, str]:
    """The engine VM's initial definition (vm.conf keys), converted into its OVF."""
    return {
        "vmId": str(env[K.VM_UUID]),
        "vmName": "HostedEngine",
        "memSize": str(env[K.MEM_MB]),
        "smp": str(env[K.VCPUS]),
        "sockets": str(env[K.VCPUS]),
        "nic1.macAddr": str(env[K.MAC]),
        "nic1.network": str(env[K.BRIDGE]),
        "nic1.model": "virtio",
        "nic1.linkActive": "true",
    }


def _key_values(header: str, values: Mapping[str, str]) -> bytes:
    return (f"# {header}\n" + "".join(f"{k}={v}\n" for k, v in values.items())).encode()


def broker_conf(env: Environment) -> str:
    """The template with the answers' mail settings filled in."""
    settings = {
        "smtp-server": str(env[K.SMTP_SERVER]),
        "smtp-port": str(env[K.SMTP_PORT]),
        "source-email": str(env[K.SOURCE_EMAIL]),
        "destination-emails": str(env[K.DEST_EMAIL]),
    }
    lines = []
    for line in load_template("broker.conf").splitlines():
        name = line.removeprefix("# ").partition(" = ")[0]
        lines.append(f"{name} = {settings[name]}" if name in settings and " = " in line else line)
    return "\n".join(lines) + "\n"


# Left out of the shared copy in the archive: the lines of this host's own answers
# (setup_keys.PER_HOST) and its own directories. The first host's host_id stays: the
# shared copy must be a complete conf, as the lab's is.
PER_HOST_CONFIG = frozenset(
    {
        "hostname",
        "run_dir",
        "state_dir",
        "log_dir",
        "sanlock_run_dir",
        "metrics_listen",
        "watchdog",
        "fault_file",
    }
)


def archive_members(env: Environment, config: Mapping[str, str]) -> dict[str, bytes]:
    """The configuration archive of a new domain: what every later host needs."""
    shared = {k: v for k, v in config.items() if k not in PER_HOST_CONFIG}
    return {
        "version": __version__.encode(),
        "fhanswers.conf": answers_text(
            env, K.SHARED, "The answers an additional host deploys with (hosted-engine --deploy)"
        ).encode(),
        "hosted-engine.conf": _key_values("The shared copy of hosted-engine.conf", shared),
        "broker.conf": broker_conf(env).encode(),
        "vm.conf": _key_values("The engine VM, as first deployed", vm_conf(env)),
    }
