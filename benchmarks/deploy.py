"""Wall time of ``hosted-engine --deploy``: a first host to a healthy engine, then an
additional host, each into a throw-away root on one throw-away storage directory.

Median of 3 rounds (a fresh cluster each), printed against the targets (first host
<= 30 s, additional host <= 15 s). The engine VM is the lab's stand-in and the timing
profile the fast one, as in tests/deploy/setup; daemons run as plain processes
(hosted_engine.deploy.process_services) and are stopped after each round.

    .venv/bin/python benchmarks/deploy.py [--rounds N]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hosted_engine.deploy.process_services import stop_all

TARGETS = {"first host": 30.0, "additional host": 15.0}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _services(root: Path, port: int) -> list[str]:
    command = (
        f"{sys.executable} -m hosted_engine.deploy.process_services --root {root} "
        f"--hostd-listen 127.0.0.1:{port}"
    )
    return [
        "SYSTEM/servicesProvider=str:command",
        f"SYSTEM/servicesCommand=str:{command}",
        "HOST_DEPLOY/checkHostname=bool:False",
        "HOST_DEPLOY/minMemoryMB=int:1",
        "SYSTEM/commandPath=str:/usr/bin",
    ]


def _deploy(tmp: Path, n: int, storage: Path, first: dict[str, str]) -> float:
    root = tmp / f"host{n}"
    root.mkdir()
    # the host-deploy group sees the root as the host's whole file system: its commands
    # must be found under it (the shared storage stays outside)
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/openssl").symlink_to(shutil.which("openssl") or "/usr/bin/openssl")
    (root / "usr/bin/hosted-engine").symlink_to(Path(sys.executable).parent / "hosted-engine")
    port = _port()
    answers = {
        "OVEHOSTED_STORAGE/storageDomainConnection": f"str:{storage}",
        "OVEHOSTED_NETWORK/hostName": f"str:host{n}.bench",
        "OVEHOSTED_NETWORK/hostAddress": "str:127.0.0.1",
        "OVEHOSTED_NETWORK/hostdPort": f"int:{port}",
        "OVEHOSTED_HA/watchdog": "str:none",
        "DIALOG/autoAcceptDefault": "bool:True",
        **first,
    }
    path = tmp / f"answers{n}.conf"
    path.write_text("[environment:default]\n" + "".join(f"{k}={v}\n" for k, v in answers.items()))
    command = [
        sys.executable,
        "-c",
        "import sys; from hosted_engine.cli.main import main; sys.exit(main())",
        "--deploy",
        f"--root={root}",
        f"--config-append={path}",
        *(f"--otopi-environment={a}" for a in _services(root, port)),
    ]
    started = time.monotonic()
    result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"host {n} failed to deploy: {result.stderr.strip()}")
    return elapsed


def one_round() -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="he-deploy-bench-") as name:
        tmp = Path(name)
        storage = tmp / "storage"
        storage.mkdir()
        engine = f"{sys.executable} -m hosted_engine.lab.engine_service --listen {{listen}}"
        first = {
            "OVEHOSTED_STORAGE/domainType": "str:localfs",
            "OVEHOSTED_NETWORK/fqdn": "str:127.0.0.1",
            "OVEHOSTED_NETWORK/bridgeName": "str:lo",
            "OVEHOSTED_NETWORK/gateway": "str:127.0.0.1",
            "OVEHOSTED_NETWORK/networkTest": "str:none",
            "OVEHOSTED_VM/vmMemSizeMB": "int:256",
            "OVEHOSTED_ENGINE/enginePort": f"int:{_port()}",
            "OVEHOSTED_ENGINE/engineCommand": f"str:{engine}",
            "OVEHOSTED_ENGINE/healthTimeout": "int:60",
            "OVEHOSTED_HA/timingProfile": "str:fast",
        }
        try:
            return _deploy(tmp, 1, storage, first), _deploy(tmp, 2, storage, {})
        finally:
            stop_all(tmp / "host1", tmp / "host2")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = [one_round() for _ in range(args.rounds)]
    ok = True
    for index, what in enumerate(TARGETS):
        median = statistics.median(r[index] for r in rounds)
        target = TARGETS[what]
        verdict = "ok" if median <= target else "OVER TARGET"
        ok &= median <= target
        print(f"{what:16} median {median:6.2f} s  (target <= {target:.0f} s)  {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
