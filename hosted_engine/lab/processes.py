"""Starting, finding and killing the lab's processes.

A lab host is its broker, its agent, its host API, its sanlock daemon when it has one
and, while it runs the engine VM, the VM supervisor and payload. They are found by the
host directory on their command line (the payload by being the supervisor's child; the
sanlock daemon by the run directory in its environment), so the lab needs no pid files
that could go stale. The directory is matched as a path, never as a substring: host1's
is a prefix of host10's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import psutil

from hosted_engine.lab import sanlock_daemons
from hosted_engine.lab.layout import host_config_path, host_dir, host_log_dir, sanlock_run_dir
from hosted_engine.lab.spawn import spawn

DAEMONS = {
    "broker": "hosted_engine.broker.daemon",
    "agent": "hosted_engine.agent.daemon",
    "hostd": "hosted_engine.hostd.server",
}


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _reap(pid: int) -> None:
    """Collect our own dead children so they don't linger as zombies."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def start_daemon(lab_dir: Path, host_id: int, kind: str, *extra: str) -> int:
    config = str(host_config_path(lab_dir, host_id))
    command = [sys.executable, "-m", DAEMONS[kind], "--config", config, *extra]
    return spawn(command, host_log_dir(lab_dir, host_id) / f"{kind}.out").pid


def _in_dir(arg: str, directory: PurePosixPath) -> bool:
    """Whether a command-line argument names ``directory`` or a path under it, compared
    path component by component: ``.../host1`` is not a prefix of ``.../host10/...``. An
    option's value counts too (``--run-dir=<path>``)."""
    candidates = [arg]
    if arg.startswith("-") and "=" in arg:
        candidates.append(arg.partition("=")[2])
    for candidate in candidates:
        if not candidate.startswith("/"):
            continue  # the lab starts everything with absolute paths
        path = PurePosixPath(candidate)
        if path == directory or directory in path.parents:
            return True
    return False


def host_processes(lab_dir: Path, host_id: int) -> dict[str, list[psutil.Process]]:
    """``{"broker": [...], "agent": [...], "hostd": [...], "vm": [...], "sanlock": [...]}``
    of one host, alive ones only."""
    marker = PurePosixPath(host_dir(lab_dir, host_id).resolve())
    found: dict[str, list[psutil.Process]] = {kind: [] for kind in (*DAEMONS, "vm")}
    found["sanlock"] = sanlock_daemons.daemon_processes(sanlock_run_dir(lab_dir, host_id).resolve())
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if not any(_in_dir(arg, marker) for arg in cmdline) or not _alive(proc):
            continue
        kind = next((kind for kind, module in DAEMONS.items() if module in cmdline), None)
        if kind is not None:
            found[kind].append(proc)
        else:
            found["vm"].append(proc)
            with contextlib.suppress(psutil.Error):
                found["vm"].extend(c for c in proc.children(recursive=True) if _alive(c))
    return found


def every_process(lab_dir: Path, host_id: int) -> list[psutil.Process]:
    """All of one host's live processes, whatever their kind (a reset or a freeze)."""
    return [proc for procs in host_processes(lab_dir, host_id).values() for proc in procs]


WATCHDOG_MODULE = "hosted_engine.lab.watchdog"


def start_watchdog(lab_dir: Path, host_id: int) -> int:
    """The host's watchdog, in a session of its own (lab/watchdog.py)."""
    command = [
        sys.executable,
        "-m",
        WATCHDOG_MODULE,
        f"--lab-dir={lab_dir}",
        f"--host-id={host_id}",
    ]
    return spawn(command, lab_dir / "watchdogs" / f"host{host_id}.log").pid


def watchdog_processes(lab_dir: Path) -> dict[int, psutil.Process]:
    """``{host_id: process}`` of the lab's live watchdogs."""
    wanted = f"--lab-dir={lab_dir.resolve()}"
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if WATCHDOG_MODULE not in cmdline or wanted not in cmdline or not _alive(proc):
            continue
        for arg in cmdline:
            if arg.startswith("--host-id="):
                found[int(arg.partition("=")[2])] = proc
    return found


def signal_all(procs: Iterable[psutil.Process], sig: int) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)


def wait_gone(procs: Iterable[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every process is gone; returns those still alive at the deadline."""
    procs = list(procs)
    deadline = time.monotonic() + timeout
    while True:
        for proc in procs:
            _reap(proc.pid)
        left = [p for p in procs if _alive(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def kill_now(procs: Iterable[psutil.Process]) -> None:
    """SIGKILL all at once (a power loss) and wait for them to be gone."""
    procs = list(procs)
    signal_all(procs, signal.SIGKILL)
    wait_gone(procs, 10.0)


def stop_gracefully(procs: Iterable[psutil.Process], timeout: float) -> None:
    """SIGTERM, then SIGKILL whatever is still there after ``timeout``."""
    procs = list(procs)
    signal_all(procs, signal.SIGTERM)
    left = wait_gone(procs, timeout)
    if left:
        kill_now(left)


def engine_vm_processes(vm_id: str) -> list[psutil.Process]:
    """Every process that carries the VM id: the payloads and whatever they started,
    which inherits their environment."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("HOSTED_ENGINE_VM_ID") == vm_id and _alive(proc):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def one_per_vm(procs: Iterable[psutil.Process]) -> list[psutil.Process]:
    """One process per running VM: each payload leads its own process group (the
    supervisor starts it so), and a child it runs (a compiler ``ctypes.util`` calls
    while a library loads, say) stays in that group. Counting processes instead would
    see two engine VMs where one VM runs a short-lived command. A group whose leader
    is already gone is still a VM until its last member is."""
    groups: dict[int, psutil.Process] = {}
    for proc in procs:
        try:
            group = os.getpgid(proc.pid)
        except OSError:
            continue
        kept = groups.get(group)
        if kept is None or proc.pid == group or (kept.pid != group and proc.pid < kept.pid):
            groups[group] = proc
    return sorted(groups.values(), key=lambda p: p.pid)
