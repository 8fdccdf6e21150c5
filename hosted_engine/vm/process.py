"""The ``process`` VM backend: the engine VM is a supervised local process.

The agent never runs the VM itself; it starts :mod:`hosted_engine.vm.supervisor`, which
holds the VM lease for the VM's whole life, and from then on only reads the run dir and
sends signals. So this object holds no state worth keeping: an agent that restarts builds
a new backend on the same run dir and finds the VM where it left it.

What runs as the payload is this backend's own configuration (:class:`PayloadSettings`,
from ``process_command`` and ``process_data_dir`` in hosted-engine.conf), not part of the
hypervisor-neutral VM definition. The payload is told what it runs with: the definition
as JSON in the file ``$HOSTED_ENGINE_VM_DEFINITION`` names.
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil

from hosted_engine.errors import ConfigError, HostedEngineError, VmError
from hosted_engine.locking import LEASE_BACKENDS
from hosted_engine.vm.base import (
    AlreadyRunning,
    ExitReason,
    LeaseHeld,
    Started,
    StartFailed,
    StartResult,
    StopResult,
    VmState,
    VmStats,
    VmStatus,
)
from hosted_engine.vm.definition import LEGACY_DATA_DIR, VmDefinition, legacy_command
from hosted_engine.vm.supervisor import (
    RunDir,
    StatusRecord,
    scrubbed_environment,
)

T = TypeVar("T")


def _poll(probe: Callable[[], T | None], timeout: float, interval: float = 0.02) -> T | None:
    """The first non-None answer of ``probe`` within ``timeout``, else None."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer is not None or time.monotonic() >= deadline:
            return answer
        time.sleep(interval)


def _read_line(fd: int, timeout: float) -> str | None:
    """One line from ``fd``; None on EOF or timeout without a complete line."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return None
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        data += chunk
    return data.split(b"\n", 1)[0].decode(errors="replace")


def _payload_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _payload_stopped(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_STOPPED
    except psutil.Error:
        return False


@dataclass(frozen=True)
class PayloadSettings:
    """What the backend runs as the engine VM, and the directory that plays its disk.

    ``command`` and ``data_dir`` are this host's configuration. Without them the backend
    takes what the definition offers: the boot disk's image directory on the domain
    (``images_dir/<bootImageId>``, for a definition from an OVF), then the ``command`` and
    ``dataDir`` of a legacy vm.conf, so domains set up before the OVF_STORE keep running.
    """

    command: tuple[str, ...] = ()
    data_dir: Path | None = None
    images_dir: Path | None = None

    def for_definition(self, definition: VmDefinition) -> tuple[tuple[str, ...], Path | None]:
        """``(command, data dir)``; the command is () when nobody configured one."""
        command = self.command or legacy_command(definition.extra, "the VM definition")
        data_dir = self.data_dir
        if data_dir is None and definition.boot_image_id and self.images_dir is not None:
            data_dir = self.images_dir / definition.boot_image_id
        if data_dir is None and definition.extra.get(LEGACY_DATA_DIR):
            data_dir = Path(definition.extra[LEGACY_DATA_DIR])
        return command, data_dir


@dataclass(frozen=True)
class FencingSettings:
    """How the supervisor keeps its lease (see vm/fencing.py and config/timing.py)."""

    lease_renewal: float = 10.0
    fence_after: float = 30.0
    watchdog_timeout: float = 30.0
    watchdog: str = "none"  # locking/watchdog.py: none, a device path, unix:PATH
    fault_file: Path | None = None

    def arguments(self) -> list[str]:
        optional = [] if self.fault_file is None else [f"--fault-file={self.fault_file}"]
        return [
            f"--lease-renewal={self.lease_renewal}",
            f"--fence-after={self.fence_after}",
            f"--watchdog-timeout={self.watchdog_timeout}",
            f"--watchdog={self.watchdog}",
            *optional,
        ]


class ProcessVmBackend:
    def __init__(
        self,
        run_dir: Path,
        lockspace: Path,
        host_id: int,
        hostname: str,
        lease_backend: str = "fcntl",
        *,
        sanlock_run_dir: Path | None = None,
        payload: PayloadSettings | None = None,
        fencing: FencingSettings | None = None,
        shutdown_grace: float = 120.0,
        start_check: float = 0.5,
        start_timeout: float = 15.0,
        poweroff_timeout: float = 10.0,
    ) -> None:
        """``shutdown_grace`` applies when the supervisor gets SIGTERM from anyone but
        :meth:`shutdown`; a payload that exits within ``start_check`` seconds of its
        launch is a failed start."""
        if lease_backend not in LEASE_BACKENDS:
            raise ConfigError(
                f"unknown lease backend {lease_backend!r} (known: {', '.join(LEASE_BACKENDS)})"
            )
        self.run_dir = RunDir(run_dir)
        self.lockspace = Path(lockspace)  # the lease backend's; VM leases sit beside it
        self.host_id = host_id
        self.hostname = hostname
        self.lease_backend = lease_backend
        self.sanlock_run_dir = sanlock_run_dir
        self.payload = payload or PayloadSettings()
        self.fencing = fencing or FencingSettings()
        self.shutdown_grace = shutdown_grace
        self.start_check = start_check
        self.start_timeout = start_timeout
        self.poweroff_timeout = poweroff_timeout
        self._start_lock = threading.Lock()
        self._sampled: dict[int, psutil.Process] = {}  # cpu_percent measures between calls

    # --- start -----------------------------------------------------------------------------
    def start(self, definition: VmDefinition) -> StartResult:
        try:
            command, data_dir = self.payload.for_definition(definition)
        except HostedEngineError as e:
            return StartFailed(str(e))
        if not command:
            return StartFailed(
                "no command to run as the engine VM: set process_command in hosted-engine.conf"
            )
        with self._start_lock:
            current = self.status()
            if current.state is not VmState.DOWN:
                return AlreadyRunning(current)
            # A supervisor that has recorded "down" (lease already free) may still be exiting.
            self._supervisor_gone(2.0)
            return self._run_supervisor(definition, command, data_dir)

    def _run_supervisor(
        self, definition: VmDefinition, command: tuple[str, ...], data_dir: Path | None
    ) -> StartResult:
        self.run_dir.path.mkdir(parents=True, exist_ok=True)
        self.run_dir.clear_request()
        read_fd, write_fd = os.pipe()
        try:
            with open(self.run_dir.supervisor_log, "ab") as log:
                starter = subprocess.Popen(
                    self._supervisor_command(definition, command, data_dir, write_fd),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    pass_fds=(write_fd,),
                    env=scrubbed_environment(os.environ),
                )
        except OSError as e:
            os.close(read_fd)
            return StartFailed(f"cannot start the VM supervisor: {e}")
        finally:
            os.close(write_fd)
        try:
            line = _read_line(read_fd, self.start_timeout)
        finally:
            os.close(read_fd)
        try:
            starter.wait(timeout=5.0)  # it only forks the supervisor off and exits
        except subprocess.TimeoutExpired:
            starter.kill()
            starter.wait()
        return self._start_result(line)

    def _supervisor_command(
        self,
        definition: VmDefinition,
        command: tuple[str, ...],
        data_dir: Path | None,
        report_fd: int,
    ) -> list[str]:
        optional = [] if data_dir is None else [f"--data-dir={data_dir}"]
        if self.sanlock_run_dir is not None:
            optional.append(f"--sanlock-run-dir={self.sanlock_run_dir}")
        return [
            sys.executable,
            "-m",
            "hosted_engine.vm.supervisor",
            f"--run-dir={self.run_dir.path}",
            f"--lease-backend={self.lease_backend}",
            f"--lockspace={self.lockspace}",
            f"--host-id={self.host_id}",
            f"--hostname={self.hostname}",
            f"--definition={json.dumps(definition.to_values())}",
            f"--command={json.dumps(command)}",
            *optional,
            f"--grace={self.shutdown_grace}",
            f"--start-check={self.start_check}",
            f"--report-fd={report_fd}",
            *self.fencing.arguments(),
        ]

    def _start_result(self, line: str | None) -> StartResult:
        if line is None:
            pid = self.run_dir.supervisor_pid()
            if pid is not None:  # silent but alive: take it down, its VM with it
                os.kill(pid, signal.SIGKILL)
            return StartFailed(
                f"the VM supervisor gave no answer within {self.start_timeout:g} s; "
                f"see {self.run_dir.supervisor_log}"
            )
        try:
            report: dict[str, Any] = json.loads(line)
            outcome = report["outcome"]
            if outcome == "started":
                return Started(int(report["pid"]))
            if outcome == "lease_held":
                holder = report.get("holder")
                return LeaseHeld(None if holder is None else str(holder))
            if outcome == "already_running":
                return AlreadyRunning(self.status())
            return StartFailed(str(report["reason"]))
        except (ValueError, KeyError, TypeError):
            return StartFailed(f"the VM supervisor answered nonsense: {line!r}")

    # --- observe ---------------------------------------------------------------------------
    def status(self) -> VmStatus:
        supervisor = self.run_dir.supervisor_pid()
        try:
            record = self.run_dir.read_status()
        except VmError as e:
            if supervisor is None:
                return VmStatus(VmState.DOWN, ExitReason.SUPERVISOR_LOST, str(e))
            return VmStatus(VmState.POWERING_UP, message=str(e))  # alive, state unknown
        if record is None:
            if supervisor is None:
                return VmStatus(VmState.DOWN, ExitReason.NOT_STARTED)
            return VmStatus(VmState.POWERING_UP)
        if record.state is VmState.DOWN:
            return record.vm_status()
        if supervisor is None:
            return VmStatus(
                VmState.DOWN,
                ExitReason.SUPERVISOR_LOST,
                f"the supervisor (pid {record.supervisor_pid}) is gone",
            )
        if record.pid is None:
            return record.vm_status()
        if _payload_gone(record.pid):
            return self._final_status(record.pid)
        state = VmState.PAUSED if _payload_stopped(record.pid) else VmState.UP
        return dataclasses.replace(record.vm_status(), state=state)

    def _final_status(self, pid: int) -> VmStatus:
        """The payload is gone; the supervisor records why within moments."""

        def recorded_down() -> VmStatus | None:
            try:
                record = self.run_dir.read_status()
            except VmError:
                return None
            if record is not None and record.state is VmState.DOWN:
                return record.vm_status()
            return None

        final = _poll(recorded_down, 1.0)
        if final is not None:
            return final
        return VmStatus(VmState.DOWN, ExitReason.CRASHED, f"payload pid {pid} is gone, unrecorded")

    def stats(self) -> VmStats | None:
        status = self.status()
        if status.state is VmState.DOWN or status.pid is None:
            self._sampled.clear()
            return None
        try:
            root = psutil.Process(status.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return None
        sampled: dict[int, psutil.Process] = {}
        cpu, rss = 0.0, 0
        for fresh in tree:
            known = self._sampled.get(fresh.pid)
            process = known if known is not None and known == fresh else fresh
            try:
                with process.oneshot():
                    cpu += process.cpu_percent(None)
                    rss += process.memory_info().rss
            except psutil.Error:
                continue
            sampled[process.pid] = process
        self._sampled = sampled
        return VmStats(cpu_percent=cpu, rss_bytes=rss)

    # --- stop ------------------------------------------------------------------------------
    def _running_supervisor(self) -> int | None:
        pid = self.run_dir.supervisor_pid()
        if pid is None or self.status().state is VmState.DOWN:
            return None
        return pid

    def shutdown(self, grace: float) -> StopResult:
        pid = self._running_supervisor()
        if pid is None:
            return StopResult.NOT_RUNNING
        self.run_dir.write_request(grace)
        return self._signal(pid, signal.SIGTERM)

    def poweroff(self) -> StopResult:
        pid = self._running_supervisor()
        if pid is None:
            return StopResult.NOT_RUNNING
        result = self._signal(pid, signal.SIGUSR1)
        if result is not StopResult.DONE or self._supervisor_gone(self.poweroff_timeout):
            return result
        # A supervisor that does not answer (stopped, wedged) is killed; the payload
        # follows it through PR_SET_PDEATHSIG, and the lease with both.
        self._signal(pid, signal.SIGKILL)
        if not self._supervisor_gone(self.poweroff_timeout):
            return StopResult.FAILED
        message = "the supervisor did not answer a poweroff; killed"
        self.run_dir.write_status(StatusRecord(VmState.DOWN, ExitReason.POWEROFF, message))
        return StopResult.DONE

    def _supervisor_gone(self, timeout: float) -> bool:
        gone = _poll(lambda: True if self.run_dir.supervisor_pid() is None else None, timeout)
        return gone is not None

    @staticmethod
    def _signal(pid: int, sig: int) -> StopResult:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return StopResult.NOT_RUNNING
        except OSError:
            return StopResult.FAILED
        return StopResult.DONE
