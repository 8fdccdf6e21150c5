"""One sanlock daemon per simulated host, as each real host runs its own.

Debian's daemon runs unprivileged (``SANLOCK_PRIVILEGED=0``: the lab may not raise its
memlock limit), in the host's own run directory (``SANLOCK_RUN_DIR``, which is also how
the host's processes find it), without wdmd (``-w 0``: the lab's watchdog plays that
part), with ``io_timeout`` 1 s (``-o``; the lockspace is formatted with it too, so a join
takes 3 s instead of 21), and with a fixed host name (``-e``), so that a host that comes
back after a reset rejoins with a new generation at once, which frees the VM lease it
held, as a rebooted oVirt host does. Its log goes to the host's log directory, not to
``/var/log/sanlock.log``.

A daemon is found by its run directory in its environment, never by a pid file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import time
from pathlib import Path

import psutil

from hosted_engine.errors import HostedEngineError
from hosted_engine.lab.spawn import spawn
from hosted_engine.locking import SANLOCK_SOCKET

SANLOCK = "sanlock"
IO_TIMEOUT = 1


def available() -> str | None:
    """Why the daemon cannot run here (None: it can)."""
    if shutil.which(SANLOCK) is None and not Path("/usr/sbin/sanlock").exists():
        return "the sanlock daemon is not installed (Debian package sanlock)"
    return None


def host_name(scope: Path, host_id: int) -> str:
    """Stable across restarts, unique per lab (sanlock's limit is 48 bytes)."""
    digest = hashlib.sha256(str(scope.resolve()).encode()).hexdigest()[:16]
    return f"lab-{digest}-host{host_id}"


def _binary() -> str:
    return shutil.which(SANLOCK) or "/usr/sbin/sanlock"


def start(run_dir: Path, name: str, log_path: Path, io_timeout: int = IO_TIMEOUT) -> int:
    """Start a daemon in ``run_dir`` and return once its socket answers."""
    run_dir.mkdir(parents=True, exist_ok=True)
    command = [_binary(), "daemon", "-D", "-w", "0", "-o", str(io_timeout), "-e", name]
    command += ["-L", "-1", "-S", "-1"]  # no /var/log/sanlock.log, no syslog: -D's stderr
    env = {"SANLOCK_PRIVILEGED": "0", "SANLOCK_RUN_DIR": str(run_dir)}
    proc = spawn(command, log_path, env)
    deadline = time.monotonic() + 10.0
    while not _answers(run_dir / SANLOCK_SOCKET):
        if proc.poll() is not None or time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
            raise HostedEngineError(
                f"the sanlock daemon in {run_dir} did not start (see {log_path})"
            )
        time.sleep(0.05)
    return proc.pid


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def is_daemon(proc: psutil.Process) -> bool:
    """Whether ``proc`` is a sanlock daemon (or its helper)."""
    try:
        return proc.name().startswith(SANLOCK)
    except psutil.Error:
        return False


def daemon_processes(run_dir: Path) -> list[psutil.Process]:
    """The live daemon (and its helper) serving ``run_dir``."""
    wanted = str(run_dir)
    found = []
    for proc in psutil.process_iter():
        if not is_daemon(proc):
            continue
        with contextlib.suppress(psutil.Error):
            if proc.environ().get("SANLOCK_RUN_DIR") == wanted and _running(proc):
                found.append(proc)
    return found


def stop(run_dir: Path, timeout: float = 10.0) -> None:
    """SIGKILL: a daemon with a joined lockspace ignores SIGTERM, and the lab's hosts lose
    power rather than shut down sanlock. Returns once the daemon's pid file lock is free,
    which is when every one of its threads is gone (a killed daemon's main thread shows
    as a zombie while its I/O threads still finish) and a new one can start."""
    procs = daemon_processes(run_dir)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while (any(_running(p) for p in procs) or _locked(run_dir)) and time.monotonic() < deadline:
        time.sleep(0.02)


def _locked(run_dir: Path) -> bool:
    try:
        fd = os.open(run_dir / "sanlock.pid", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # drops the lock we may have taken
    return False


def _running(proc: psutil.Process) -> bool:
    """Alive and not a zombie (our own children are reaped here)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(proc.pid, os.WNOHANG)
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
