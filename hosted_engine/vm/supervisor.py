"""The process that runs the engine VM on this host: ``python -m hosted_engine.vm.supervisor``.

The VM lease must be held by whatever runs the VM, for the VM's whole life: it has to
survive an agent restart and be freed the moment the VM dies, because invariant #1 (never
two engine VMs) rests on the lease, not on agents agreeing. So the agent does not run the
VM itself. It starts this supervisor, which detaches into its own session, takes the lease,
hands the lease descriptor to the payload (an OFD lock lives while either process keeps
it open), and stays the payload's parent so that it can tell how the VM ended.

The run-dir protocol below is shared with :mod:`hosted_engine.vm.process`, the agent side.
One run dir per host:

``status.json``
    :class:`StatusRecord`, atomically replaced on every change; ``down`` is written only
    after the lease is released, so a reader seeing ``down`` knows the lease is free.
``supervisor.lock``
    a classic POSIX record lock held by the live supervisor. The kernel drops it when the
    supervisor dies, and ``F_GETLK`` names the holder's pid, so liveness needs no pid
    file and cannot be fooled by pid reuse. The lock is not inherited by the payload.
``shutdown.request``
    ``{"grace": seconds}``, written before SIGTERM to choose the grace period.
``definition.json``
    the definition the payload was started with, in the JSON shape of
    ``hosted-engine --show-vm-definition --json`` (``VmDefinition.to_dict``).
``supervisor.log``, ``payload.log``

Requests are signals to the supervisor: SIGTERM = graceful shutdown (SIGTERM and SIGCONT
to the payload's process group, SIGKILL once the grace period is over); SIGUSR1 = power
off now (SIGKILL to the group).

The start outcome goes to the starting process as one JSON line on ``--report-fd``:
``{"outcome": "started", "pid": N}``, ``{"outcome": "lease_held", "holder": ...}``,
``{"outcome": "already_running"}`` or ``{"outcome": "failed", "reason": ...}``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from hosted_engine.errors import ConfigError, LeaseError, LeaseHeldError, VmError, WatchdogError
from hosted_engine.files import faults
from hosted_engine.files.atomic import write_atomically
from hosted_engine.locking import LEASE_BACKENDS, Lease, open_lease_manager, ranges
from hosted_engine.locking.base import LeaseState
from hosted_engine.locking.watchdog import check_spec, open_watchdog
from hosted_engine.vm.base import ExitReason, VmState, VmStatus
from hosted_engine.vm.definition import from_values
from hosted_engine.vm.fencing import LeaseKeeper

log = logging.getLogger("hosted_engine.vm.supervisor")

ENV_PREFIX = "HOSTED_ENGINE_"
VM_ID_ENV = "HOSTED_ENGINE_VM_ID"

_WATCHED = {signal.SIGTERM, signal.SIGUSR1, signal.SIGCHLD}
_TICK = 0.5  # how often a running payload is looked at even when no signal comes
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


# --- the run dir ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusRecord:
    state: VmState
    exit_reason: ExitReason | None = None
    message: str = ""
    pid: int | None = None  # the payload
    supervisor_pid: int | None = None
    vm_id: str = ""
    lease: LeaseState = LeaseState.NONE
    lease_renewed: float | None = None  # epoch of the last good renewal
    updated: float = 0.0  # epoch, for humans reading the file

    def vm_status(self) -> VmStatus:
        return VmStatus(
            self.state, self.exit_reason, self.message, self.pid, self.lease, self.lease_renewed
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self) | {"updated": time.time()})

    @classmethod
    def from_json(cls, text: str) -> StatusRecord:
        """Raises ValueError (JSONDecodeError included) when the text is not a record."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        reason = data.get("exit_reason")
        return cls(
            state=VmState(data["state"]),
            exit_reason=None if reason is None else ExitReason(reason),
            message=str(data.get("message", "")),
            pid=_optional_int(data.get("pid")),
            supervisor_pid=_optional_int(data.get("supervisor_pid")),
            vm_id=str(data.get("vm_id", "")),
            lease=LeaseState(data.get("lease", LeaseState.NONE)),
            lease_renewed=_optional_float(data.get("lease_renewed")),
            updated=float(data.get("updated", 0.0)),
        )


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


class RunDir:
    """The files through which the supervisor and the agent side talk (see module doc)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.status_file = self.path / "status.json"
        self.lock_file = self.path / "supervisor.lock"
        self.request_file = self.path / "shutdown.request"
        self.definition_file = self.path / "definition.json"
        self.supervisor_log = self.path / "supervisor.log"
        self.payload_log = self.path / "payload.log"

    def read_status(self, attempts: int = 3) -> StatusRecord | None:
        """None when there is no status file; VmError when it stays unreadable."""
        problem = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(0.02)
            try:
                return StatusRecord.from_json(self.status_file.read_text())
            except FileNotFoundError:
                return None
            except (OSError, ValueError, KeyError, TypeError) as e:
                problem = str(e)
        raise VmError(f"status file {self.status_file} is unreadable: {problem}")

    def write_status(self, record: StatusRecord) -> None:
        write_atomically(self.status_file, record.to_json())

    def supervisor_pid(self) -> int | None:
        """The pid of the live supervisor of this run dir, None when there is none.

        Never call this from the supervisor itself: closing any descriptor of the lock
        file drops a classic POSIX lock held by the calling process.
        """
        try:
            fd = os.open(self.lock_file, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            return ranges.posix_lock_holder(fd)
        finally:
            os.close(fd)

    def lock_supervisor(self) -> int | None:
        """Become this run dir's supervisor: the lock's fd, or None if another one lives."""
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES):
                return None
            raise
        return fd

    def write_request(self, grace: float) -> None:
        write_atomically(self.request_file, json.dumps({"grace": grace}))

    def take_request(self) -> float | None:
        """The grace period of a pending shutdown request, consuming it."""
        try:
            text = self.request_file.read_text()
            self.request_file.unlink()
            return float(json.loads(text)["grace"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def clear_request(self) -> None:
        self.request_file.unlink(missing_ok=True)


# --- what the payload gets ------------------------------------------------------------------


def scrubbed_environment(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` without HOSTED_ENGINE_VM_ID: only the payload may carry it, so that it
    names the engine VM's processes and nothing else."""
    return {k: v for k, v in base.items() if k != VM_ID_ENV}


def payload_environment(
    base: Mapping[str, str],
    vm_id: str,
    host_id: int,
    definition_file: Path,
    data_dir: Path | None,
) -> dict[str, str]:
    env = {k: v for k, v in base.items() if not k.startswith(ENV_PREFIX)}
    env[VM_ID_ENV] = vm_id
    env["HOSTED_ENGINE_HOST_ID"] = str(host_id)
    env["HOSTED_ENGINE_VM_DEFINITION"] = str(definition_file)
    if data_dir is not None:
        env["HOSTED_ENGINE_DATA_DIR"] = str(data_dir)
    return env


def describe_exit(returncode: int) -> str:
    if returncode >= 0:
        return f"exited with status {returncode}"
    return f"killed by signal {-returncode}"


def _dies_with_parent() -> Callable[[], None]:
    """A preexec_fn: the payload gets SIGKILL when the supervisor dies, however it dies."""
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before the fork, not in the child
    parent = os.getpid()

    def in_child() -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _WATCHED)
        libc.prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL))
        if os.getppid() != parent:  # the supervisor died before prctl took effect
            os._exit(1)

    return in_child


def _spawn_payload(
    args: argparse.Namespace, vm_id: str, run_dir: RunDir, lease_fds: tuple[int, ...]
) -> subprocess.Popen[bytes]:
    env = payload_environment(
        os.environ, vm_id, args.host_id, run_dir.definition_file, args.data_dir
    )
    with open(run_dir.payload_log, "ab") as output:
        return subprocess.Popen(
            args.command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            env=env,
            pass_fds=lease_fds,
            process_group=0,
            preexec_fn=_dies_with_parent(),
        )


# --- the supervisor -------------------------------------------------------------------------


class _Reporter:
    """The one-line answer to the process waiting in ``start()``."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    def send(self, **outcome: Any) -> None:
        """Only the first outcome is sent; later calls do nothing."""
        if self._fd is None:
            return
        try:
            os.write(self._fd, (json.dumps(outcome) + "\n").encode())
        except OSError as e:  # the starter gave up waiting; the status file still tells
            log.warning("cannot report the start outcome: %s", e)
        os.close(self._fd)
        self._fd = None


class _PayloadRun:
    """The payload from spawn to exit, and what was asked of it meanwhile."""

    def __init__(
        self,
        payload: subprocess.Popen[bytes],
        run_dir: RunDir,
        record: Callable[..., StatusRecord],
        reporter: _Reporter,
        default_grace: float,
        start_check: float,
        keeper: LeaseKeeper,
    ) -> None:
        self.payload = payload
        self.keeper = keeper
        self.fenced_why: str | None = None
        self.run_dir = run_dir
        self.record = record
        self.reporter = reporter
        self.default_grace = default_grace
        self.report_at: float | None = time.monotonic() + start_check
        self.requested: ExitReason | None = None
        self.grace = 0.0
        self.kill_at: float | None = None
        self.powered_off = False
        self.state = VmState.UP
        self._process = psutil.Process(payload.pid)

    def kill_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.payload.pid, sig)

    def wait(self) -> int:
        """Serve requests until the payload is gone; its return code."""
        while True:
            info = signal.sigtimedwait(_WATCHED, self._next_wakeup())
            if info is not None:
                self._on_signal(info.si_signo)
            returncode = self.payload.poll()
            if returncode is not None:
                return returncode
            now = time.monotonic()
            if self.kill_at is not None and now >= self.kill_at:
                log.info("the payload outlived the %.1f s grace period: powering off", self.grace)
                self.kill_at = None
                self.powered_off = True
                self.kill_group(signal.SIGKILL)
            if self.report_at is not None and now >= self.report_at:
                self.report_at = None
                self.reporter.send(outcome="started", pid=self.payload.pid)
            self._keep_lease()
            self._publish_pause_state()

    def _next_wakeup(self) -> float:
        now = time.monotonic()
        deadlines = [d - now for d in (self.kill_at, self.report_at) if d is not None]
        tick = min(_TICK, self.keeper.renewal, self.keeper.watchdog_timeout / 4)
        return max(0.0, min([tick, *deadlines]))

    def _keep_lease(self) -> None:
        """Pet the watchdog while the lease is fresh; kill the VM once it is not."""
        before = self.keeper.state
        lease = self.keeper.tick()
        if lease is LeaseState.EXPIRED and self.fenced_why is None:
            self.fenced_why = self.keeper.why()
            log.error(
                "self-fencing: %s; killing the VM before the lease can be taken elsewhere",
                self.fenced_why,
            )
            self.kill_at = None
            self.kill_group(signal.SIGKILL)
        if lease is not before:
            why = "" if lease is LeaseState.HELD else self.keeper.why()
            log.info("the VM lease is now %s%s", lease.value, f": {why}" if why else "")
            _publish(self.run_dir, self.record(self.state, pid=self.payload.pid, message=why))

    def _on_signal(self, signo: int) -> None:
        if signo == signal.SIGTERM and self.requested is None:
            taken = self.run_dir.take_request()
            self.grace = self.default_grace if taken is None else taken
            log.info("shutdown requested, grace %.1f s", self.grace)
            self.requested = ExitReason.SHUTDOWN
            self.kill_at = time.monotonic() + self.grace
            self.kill_group(signal.SIGTERM)
            self.kill_group(signal.SIGCONT)  # a paused VM must be able to act on it
        elif signo == signal.SIGUSR1:
            log.info("poweroff requested")
            self.requested = ExitReason.POWEROFF
            self.powered_off = True
            self.kill_at = None
            self.kill_group(signal.SIGKILL)

    def _publish_pause_state(self) -> None:
        try:
            stopped = self._process.status() == psutil.STATUS_STOPPED
        except psutil.Error:
            return
        state = VmState.PAUSED if stopped else VmState.UP
        if state is not self.state:
            self.state = state
            log.info("the payload is now %s", state.value)
            _publish(self.run_dir, self.record(state, pid=self.payload.pid))

    def outcome(self, returncode: int) -> tuple[ExitReason, str]:
        how = describe_exit(returncode)
        if self.fenced_why is not None:
            return ExitReason.FENCED, f"fenced: {self.fenced_why}"
        if self.powered_off:
            if self.requested is ExitReason.SHUTDOWN:
                return ExitReason.POWEROFF, f"not down after {self.grace:g} s grace; powered off"
            return ExitReason.POWEROFF, f"powered off: {how}"
        if self.requested is ExitReason.SHUTDOWN:
            return ExitReason.SHUTDOWN, f"shut down: {how}"
        if self.report_at is not None:
            return ExitReason.START_FAILED, f"the payload {how} at once"
        return (ExitReason.EXITED if returncode == 0 else ExitReason.CRASHED), how


def _publish(run_dir: RunDir, record: StatusRecord) -> None:
    """A status file that cannot be written must not take the VM down with it."""
    try:
        run_dir.write_status(record)
    except OSError as e:
        log.error("cannot write %s: %s", run_dir.status_file, e)


def _become_subreaper() -> None:
    """Make the payload's orphans our children rather than init's.

    A process the payload started and left behind is, once killed, a zombie until its
    parent reaps it. As init's it lingers for as long as init takes (1.7 s under the init
    of the machine this was written on, more under load, forever under one that never
    reaps), and a lingering zombie is a group that is not gone: the watchdog stays armed
    and the host is reset for nothing. As ours, :func:`_group_gone` reaps it at once.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, ctypes.c_ulong(1))


def _reap_group(pgid: int) -> None:
    """Collect the group's dead processes that are our children (see above). Only once
    the payload itself was waited for: this must not take its exit status."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-pgid, os.WNOHANG)[0] > 0:
            pass


def _group_gone(pgid: int, timeout: float = 2.0) -> bool:
    """Whether no process of the payload's group is left (so none holds the lease)."""
    deadline = time.monotonic() + timeout
    while True:
        _reap_group(pgid)
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _keeper(args: argparse.Namespace, lease: Lease) -> LeaseKeeper:
    return LeaseKeeper(
        lease,
        open_watchdog(args.watchdog),
        renewal=args.lease_renewal,
        fence_after=args.fence_after,
        watchdog_timeout=args.watchdog_timeout,
    )


def supervise(args: argparse.Namespace, run_dir: RunDir, reporter: _Reporter) -> int:
    if run_dir.lock_supervisor() is None:  # the lock is kept until this process ends
        reporter.send(outcome="already_running")
        return 0
    definition = from_values(json.loads(args.definition), "definition")
    keeper: LeaseKeeper | None = None

    def record(state: VmState, **fields: Any) -> StatusRecord:
        if keeper is not None and "lease" not in fields:
            fields |= {"lease": keeper.state, "lease_renewed": keeper.renewed_at}
        return StatusRecord(state, supervisor_pid=os.getpid(), vm_id=definition.vm_id, **fields)

    def down(reason: ExitReason, message: str) -> None:
        log.info("down (%s): %s", reason.value, message)
        lease = LeaseState.FENCED if reason is ExitReason.FENCED else LeaseState.NONE
        _publish(run_dir, record(VmState.DOWN, exit_reason=reason, message=message, lease=lease))

    _publish(run_dir, record(VmState.POWERING_UP))
    lease: Lease
    try:
        leases = open_lease_manager(
            args.lease_backend, args.lockspace, sanlock_run_dir=args.sanlock_run_dir
        )
        lease = leases.acquire_vm_lease(definition.vm_id, args.host_id, args.hostname)
    except LeaseHeldError as e:
        down(ExitReason.LEASE_HELD, str(e))
        reporter.send(outcome="lease_held", holder=e.holder)
        return 0
    except (LeaseError, ConfigError) as e:
        down(ExitReason.START_FAILED, str(e))
        reporter.send(outcome="failed", reason=str(e))
        return 1
    log.info("holding the VM lease for %s", definition.vm_id)
    try:
        keeper = _keeper(args, lease)
        keeper.start()
    except WatchdogError as e:
        lease.release()
        reason = f"not starting the VM without its watchdog: {e}"
        down(ExitReason.START_FAILED, reason)
        reporter.send(outcome="failed", reason=reason)
        return 1
    try:
        write_atomically(run_dir.definition_file, json.dumps(definition.to_dict(), indent=2))
        payload = _spawn_payload(args, definition.vm_id, run_dir, lease.inheritable_fds())
    except (OSError, subprocess.SubprocessError) as e:
        keeper.stop(disarm=True)
        lease.release()
        reason = f"cannot run {args.command[0]!r}: {getattr(e, 'strerror', None) or e}"
        down(ExitReason.START_FAILED, reason)
        reporter.send(outcome="failed", reason=reason)
        return 1
    log.info("payload pid %d: %s", payload.pid, " ".join(args.command))
    run = _PayloadRun(payload, run_dir, record, reporter, args.grace, args.start_check, keeper)
    _publish(run_dir, record(VmState.UP, pid=payload.pid))
    returncode = run.wait()
    run.kill_group(signal.SIGKILL)  # whatever the payload left behind holds the lease too
    gone = _group_gone(payload.pid)
    lease.release()
    keeper.stop(disarm=gone)
    reason, message = run.outcome(returncode)
    down(reason, message)
    reporter.send(outcome="failed", reason=message)  # unless "started" was sent already
    return 0


def _detach() -> None:
    """Leave the starter's session, and stop being its child, so that no agent restart
    or death reaches the VM, and the starter has no supervisor to reap."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()


def _command(text: str) -> list[str]:
    command = json.loads(text)
    if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
        raise ValueError("the command must be a non-empty JSON list of strings")
    return list(command)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m hosted_engine.vm.supervisor")
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--lease-backend", choices=LEASE_BACKENDS, default="fcntl")
    p.add_argument("--sanlock-run-dir", type=Path, default=None)
    p.add_argument("--lockspace", type=Path, required=True)
    p.add_argument("--host-id", type=int, required=True)
    p.add_argument("--hostname", required=True)
    p.add_argument("--definition", required=True, help="the VM definition, vm.conf keys as JSON")
    p.add_argument("--command", type=_command, required=True, help="the payload, a JSON list")
    p.add_argument("--data-dir", type=Path, help="the payload's data directory")
    p.add_argument("--grace", type=float, default=120.0, help="shutdown grace without a request")
    p.add_argument("--start-check", type=float, default=0.5, help="a payload exiting sooner failed")
    p.add_argument("--report-fd", type=int, help="where the start outcome is written")
    # always given by ProcessVmBackend (FencingSettings), which holds the defaults
    p.add_argument("--lease-renewal", type=float, required=True, help="seconds between renewals")
    p.add_argument("--fence-after", type=float, required=True, help="unrenewed this long: fence")
    p.add_argument("--watchdog-timeout", type=float, required=True)
    p.add_argument("--watchdog", type=check_spec, required=True, help="none, a device, unix:PATH")
    p.add_argument("--fault-file", type=Path, help="injected storage faults (tests, the lab)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    _detach()
    signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)  # taken by sigtimedwait, not handlers
    _become_subreaper()
    run_dir = RunDir(args.run_dir)
    logging.basicConfig(
        filename=run_dir.supervisor_log,
        level=logging.INFO,
        format="%(asctime)s supervisor[%(process)d] %(levelname)s %(message)s",
    )
    reporter = _Reporter(args.report_fd)
    faults.use_file(args.fault_file)
    try:
        return supervise(args, run_dir, reporter)
    except Exception as e:  # the VM dies with us (PR_SET_PDEATHSIG); say why
        log.exception("supervisor failed")
        reporter.send(outcome="failed", reason=f"supervisor error: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
