"""A services command for hosts without systemd: the HA daemons as plain processes.

``python -m hosted_engine.deploy.process_services --root DIR [--hostd-listen H:P] ACTION
UNIT`` is what ``SYSTEM/servicesCommand`` names for a deploy under ``--root`` (tests,
benchmarks): ACTION is exists|status|enable|disable|start|stop|restart, ``status`` exits
3 when the unit is not running, as systemctl does. A daemon is found by its module and
its ``--config`` path (the root's hosted-engine.conf) on its command line, so no pid
file can go stale and two roots on one machine never see each other's daemons.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import psutil

from hosted_engine.deploy import keys

MODULES = {
    "hosted-engine-broker": "hosted_engine.broker.daemon",
    "hosted-engine-agent": "hosted_engine.agent.daemon",
    "hosted-engine-hostd": "hosted_engine.hostd.server",
}
NOT_RUNNING = 3
LOG_DIR = "var/log/hosted-engine"
RUN_DIR = "run/hosted-engine"


def _under(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


def find(root: Path, unit: str) -> list[psutil.Process]:
    module, config = MODULES[unit], str(_under(root, keys.CONFIG_FILE))
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if module in cmdline and config in cmdline:
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except psutil.Error:
                continue
    return found


def start(root: Path, unit: str, hostd_listen: str) -> None:
    if find(root, unit):
        return
    command = [sys.executable, "-m", MODULES[unit], "--config", str(_under(root, keys.CONFIG_FILE))]
    if unit == "hosted-engine-hostd":
        command += [
            "--listen",
            hostd_listen,
            "--ca",
            str(_under(root, keys.CA_FILE)),
            "--cert",
            str(_under(root, keys.CERT_FILE)),
            "--key",
            str(_under(root, keys.KEY_FILE)),
        ]
    log = _under(root, LOG_DIR)
    log.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTED_ENGINE_")}
    with (log / f"{unit}.out").open("ab") as out:
        subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the deploy, as a unit would
            env=env,
            close_fds=True,
        )


def _terminate(procs: list[psutil.Process], timeout: float) -> None:
    """SIGTERM, then SIGKILL whatever is still there after ``timeout``."""
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=timeout)


def stop(root: Path, unit: str, timeout: float = 10.0) -> None:
    _terminate(find(root, unit), timeout)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="process_services", description=__doc__)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--hostd-listen", default=f"127.0.0.1:{keys.HOSTD_PORT}")
    parser.add_argument(
        "action", choices=("exists", "status", "enable", "disable", "start", "stop", "restart")
    )
    parser.add_argument("unit")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if args.unit not in MODULES:
        if args.action == "exists":
            return 1
        print(f"process_services: unknown unit {args.unit}", file=sys.stderr)
        return 5
    try:
        if args.action == "status":
            return 0 if find(root, args.unit) else NOT_RUNNING
        if args.action in ("stop", "restart"):
            stop(root, args.unit)
        if args.action in ("start", "restart"):
            start(root, args.unit, args.hostd_listen)
    except (OSError, psutil.Error) as e:
        print(f"process_services: {args.action} {args.unit}: {e}", file=sys.stderr)
        return 1
    return 0


def vm_processes(root: Path) -> list[psutil.Process]:
    """The engine VM's supervisor of this root (by its run directory) and its payload."""
    marker = f"--run-dir={_under(root, RUN_DIR)}"
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        args = proc.info.get("cmdline") or []
        if any(a == marker or a.startswith(marker + "/") for a in args):
            try:
                found += [proc, *proc.children(recursive=True)]
            except psutil.Error:
                continue
    return found


def stop_all(*roots: Path, timeout: float = 5.0) -> None:
    """Everything the deploys of ``roots`` started, the engine VMs included (tests,
    benchmarks): all told at once, then killed if still there after ``timeout``."""
    procs = [p for root in roots for unit in MODULES for p in find(root, unit)]
    procs += [p for root in roots for p in vm_processes(root)]
    _terminate(procs, timeout)


if __name__ == "__main__":
    sys.exit(main())
