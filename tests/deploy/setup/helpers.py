"""Running ``hosted-engine --deploy`` for a test host: answer files, a run, a teardown."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from hosted_engine.deploy.process_services import find, stop_all, vm_processes

STUBS = Path(__file__).resolve().parent / "stub_plugins"

UNITS = ("hosted-engine-broker", "hosted-engine-hostd", "hosted-engine-agent")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Host:
    n: int
    root: Path
    answers: Path
    hostd_port: int
    baseline: frozenset[str] = frozenset()

    def files(self) -> list[str]:
        """What is under the root but the setup logs and what the test laid out."""
        return sorted(
            str(p)
            for p in self.root.rglob("*")
            if "hosted-engine-setup" not in p.parts and str(p) not in self.baseline
        )

    def running(self) -> dict[str, bool]:
        return {unit: bool(find(self.root, unit)) for unit in UNITS}

    def stop(self) -> None:
        stop_all(self.root)

    def leftovers(self) -> list[int]:
        procs = [p for unit in UNITS for p in find(self.root, unit)] + vm_processes(self.root)
        return [p.pid for p in procs]


def _host_deploy_answers(root: Path, port: int) -> dict[str, str]:
    """The host-deploy group's: daemons as processes, no hostname or memory demands."""
    command = services_command(root, port)
    return {
        "SYSTEM/servicesProvider": "str:command",
        "SYSTEM/servicesCommand": f"str:{command}",
        "SYSTEM/commandPath": "str:/usr/bin",
        "HOST_DEPLOY/checkHostname": "bool:False",
        "HOST_DEPLOY/minMemoryMB": "int:1",
    }


def services_command(root: Path, hostd_port: int) -> str:
    return (
        f"{sys.executable} -m hosted_engine.deploy.process_services --root {root} "
        f"--hostd-listen 127.0.0.1:{hostd_port}"
    )


def make_host(tmp: Path, n: int, storage: Path, first: dict[str, str] | None = None) -> Host:
    """Host ``n``'s root and answer file; ``first`` adds the first host's answers."""
    root = tmp / f"host{n}"
    root.mkdir()
    # a root is a host's whole file system to the host-deploy group: it looks for its
    # commands (openssl, hosted-engine) under it; the shared storage stays outside
    bin_dir = root / "usr/bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "openssl").symlink_to(shutil.which("openssl") or "/usr/bin/openssl")
    (bin_dir / "hosted-engine").symlink_to(Path(sys.executable).parent / "hosted-engine")
    port = free_port()
    lines = {
        "OVEHOSTED_STORAGE/storageDomainConnection": f"str:{storage}",
        "OVEHOSTED_NETWORK/hostName": f"str:host{n}.test",
        "OVEHOSTED_NETWORK/hostAddress": "str:127.0.0.1",
        "OVEHOSTED_NETWORK/hostdPort": f"int:{port}",
        "OVEHOSTED_HA/watchdog": "str:none",
        "DIALOG/autoAcceptDefault": "bool:True",
        **_host_deploy_answers(root, port),
        **(first or {}),
    }
    answers = tmp / f"answers{n}.conf"
    answers.write_text("[environment:default]\n" + "".join(f"{k}={v}\n" for k, v in lines.items()))
    baseline = frozenset(str(p) for p in root.rglob("*")) | {
        str(root / "var"),
        str(root / "var/log"),
    }
    return Host(n, root, answers, port, baseline)


def first_host_answers(engine_port: int) -> dict[str, str]:
    engine = f"{sys.executable} -m hosted_engine.lab.engine_service --listen {{listen}}"
    return {
        "OVEHOSTED_STORAGE/domainType": "str:localfs",
        "OVEHOSTED_STORAGE/imgSizeGB": "int:1",
        "OVEHOSTED_NETWORK/fqdn": "str:127.0.0.1",
        "OVEHOSTED_NETWORK/bridgeName": "str:lo",
        "OVEHOSTED_NETWORK/gateway": "str:127.0.0.1",
        "OVEHOSTED_NETWORK/networkTest": "str:none",
        "OVEHOSTED_VM/vmMemSizeMB": "int:256",
        "OVEHOSTED_VM/vmVCpus": "int:1",
        "OVEHOSTED_ENGINE/enginePort": f"int:{engine_port}",
        "OVEHOSTED_ENGINE/engineCommand": f"str:{engine}",
        "OVEHOSTED_ENGINE/healthTimeout": "int:30",
        "OVEHOSTED_HA/timingProfile": "str:fast",
    }


def _command(host: Host, extra: tuple[str, ...]) -> list[str]:
    return [
        sys.executable,
        "-c",
        "import sys; from hosted_engine.cli.main import main; sys.exit(main())",
        "--deploy",
        "--root",
        str(host.root),
        f"--config-append={host.answers}",
        *extra,
    ]


def deploy(host: Host, *extra: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(host, extra),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_deploy(host: Host, *extra: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _command(host, extra),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | env,
    )


def snapshot(*dirs: Path) -> dict[str, bytes]:
    """Every file under ``dirs`` but the setup logs (each run writes its own)."""
    found = {}
    for directory in dirs:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "hosted-engine-setup" not in path.parts:
                if path.suffix in (".log", ".out") or path.parent.name in ("run",):
                    continue
                found[str(path)] = path.read_bytes()
    return found
