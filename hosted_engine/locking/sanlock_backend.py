"""Leases from sanlock, the daemon oVirt hosts run (Debian's ``sanlock`` and
``python3-sanlock``).

* The **host id** is a delta lease in ``hosted-engine.lockspace`` (lockspace
  ``hosted-engine``), joined by this host's sanlock daemon (``add_lockspace``). sanlock
  will not give one id to two live hosts, and it is the daemon's, not a process's: a
  broker that restarts finds its id still held (EEXIST is "ours").
* The **VM lease** is a resource lease in ``<vm_id>.lease`` beside it, acquired through a
  connection registered with the daemon (``register`` + ``acquire``). The daemon releases
  it when the last copy of that connection closes, so the VM supervisor hands the
  descriptor to the payload exactly as it does the fcntl lock.

A host that dies keeps its resource on disk until its delta lease is dead
(``8 * io_timeout + 60`` s, 68 s at ``io_timeout`` 1), or until it rejoins with a new
generation: sanlock's fixed timings, which is why the lab's takeover after a host death
takes about 70 s with this backend and a few seconds with fcntl. While the owner is in
doubt, sanlock's acquire would block until it decides; so an acquire first asks who
owns the lease, and a live owner is LeaseHeld at once.

libsanlock finds its daemon through ``SANLOCK_RUN_DIR`` once per process, so a process
talks to one daemon: the lab gives each simulated host its own (``lab/sanlock_daemons``),
and a second manager with another run dir in the same process is refused.

sanlock's errors are told apart by their numbers, never by their text.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import importlib
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from hosted_engine.errors import ConfigError, LeaseError, LeaseHeldError
from hosted_engine.files import faults
from hosted_engine.files.faults import FaultPoint
from hosted_engine.files.paths import child
from hosted_engine.locking import SANLOCK_SOCKET
from hosted_engine.locking.base import LeaseHolder

log = logging.getLogger(__name__)

LOCKSPACE = b"hosted-engine"
SYSTEM_RUN_DIR = Path("/run/sanlock")
MAX_HOST_ID = 2000
RESOURCE_BYTES = 1 << 20  # one resource lease at 512-byte sectors, sanlock's alignment

# sanlock's own codes (sanlock_rv.h); the daemon reports them negated
ACQUIRE_HELD = -243  # "Lease is held by another host"
HOST_ID_BUSY = -262  # "Lease host ID is being used by another host"
NOT_A_LEASE = -223  # "Lease does not exist on storage": the file holds no sanlock lease
_TRANSIENT = frozenset({errno.EINTR, errno.EINPROGRESS, errno.EAGAIN, errno.EBUSY, errno.ENOENT})

_LIVE_FLAGS = ("HOST_LIVE", "HOST_FAIL", "HOST_UNKNOWN")  # not yet free for others
_LIVE_SEEN_FOR = 30.0  # seconds one look at the disk answers for (a CLI asks 2000 ids)

_process_run_dir: str | None = None
_process_lock = threading.Lock()

T = TypeVar("T")


def load_module() -> ModuleType:
    """The Debian binding, imported only when the backend is used."""
    try:
        return importlib.import_module("sanlock")
    except ModuleNotFoundError:
        raise ConfigError(
            "lease_backend sanlock needs the sanlock Python module: install the Debian "
            "package python3-sanlock (and run `make` so the venv sees it)"
        ) from None


def use_run_dir(run_dir: Path | None) -> None:
    """Point this process's libsanlock at a daemon (None: the system one)."""
    global _process_run_dir
    want = str(run_dir) if run_dir is not None else os.environ.get("SANLOCK_RUN_DIR", "")
    with _process_lock:
        if _process_run_dir is not None and _process_run_dir != want:
            raise ConfigError(
                f"this process already talks to the sanlock daemon in "
                f"{_process_run_dir or SYSTEM_RUN_DIR}; it cannot use {want or SYSTEM_RUN_DIR} too"
            )
        _process_run_dir = want
        if want:
            os.environ["SANLOCK_RUN_DIR"] = want


def _code(e: BaseException) -> int:
    value = getattr(e, "errno", None)
    return value if isinstance(value, int) else 0


def _is(e: BaseException, *codes: int) -> bool:
    code = _code(e)
    return code in codes or -code in codes


def _explain(e: BaseException) -> str:
    args = getattr(e, "args", ())
    text = args[-1] if args and isinstance(args[-1], str) else str(e)
    return f"{text} (sanlock {_code(e)})"


class SanlockHostIdLease:
    """This host's delta lease. Releasing leaves the lockspace joined while the VM lease
    needs it (sanlock would otherwise kill the VM's process)."""

    def __init__(self, manager: SanlockLeaseManager, host_id: int) -> None:
        self._manager = manager
        self._host_id = host_id
        self._released = False

    @property
    def name(self) -> str:
        return f"host-id {self._host_id}"

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        self._manager.leave_lockspace(self._host_id)

    def is_held(self) -> bool:
        return not self._released and self._manager.joined(self._host_id)

    def inheritable_fds(self) -> tuple[int, ...]:
        return ()

    def renew(self) -> None:
        if not self.is_held():
            raise LeaseError(f"host id {self._host_id} is no longer held in the lockspace")


class CheckedHostId:
    """Another host's id, judged free by its delta lease (sanlock gives a daemon one id
    per lockspace, so this host cannot join with a second one); nothing is held."""

    def __init__(self, host_id: int) -> None:
        self._host_id = host_id
        self._released = False

    @property
    def name(self) -> str:
        return f"host-id {self._host_id} (checked free)"

    def release(self) -> None:
        self._released = True

    def is_held(self) -> bool:
        return not self._released

    def inheritable_fds(self) -> tuple[int, ...]:
        return ()

    def renew(self) -> None:
        if self._released:
            raise LeaseError(f"{self.name} is released")


class SanlockVmLease:
    """The connection registered with the daemon is the lease: it is used under a lock,
    so a renewal on another thread never writes to a descriptor number that release
    closed and the process reused."""

    def __init__(self, manager: SanlockLeaseManager, vm_id: str, fd: int) -> None:
        self._manager = manager
        self._vm_id = vm_id
        self._fd: int | None = fd
        self._guard = threading.Lock()

    @property
    def name(self) -> str:
        return f"vm {self._vm_id}"

    def release(self) -> None:
        with self._guard:
            fd, self._fd = self._fd, None
            if fd is None:
                return
            with contextlib.suppress(Exception):  # closing the connection releases it too
                self._manager.call(
                    "release",
                    LOCKSPACE,
                    self._vm_id.encode(),
                    self._manager.disks(self._vm_id),
                    slkfd=fd,
                )
            os.close(fd)

    def _held(self) -> bool:
        with self._guard:
            if self._fd is None:
                raise LeaseError(f"lease {self.name} is released")
            return self._vm_id.encode() in self._manager.held_resources(self._fd)

    def is_held(self) -> bool:
        try:
            return self._held()
        except LeaseError:
            return False

    def inheritable_fds(self) -> tuple[int, ...]:
        return () if self._fd is None else (self._fd,)

    def renew(self) -> None:
        """The daemon renews the delta lease itself; we check that it still holds our
        resource (the storage fault point stands for the daemon's I/O)."""
        try:
            faults.check(FaultPoint.LEASE_RENEWAL)
        except OSError as e:
            raise LeaseError(f"cannot renew lease {self.name}: {e.strerror or e}") from None
        if not self._held():
            raise LeaseError(f"sanlock no longer holds lease {self.name}")


class SanlockLeaseManager:
    def __init__(
        self,
        lockspace: str | Path,
        *,
        io_timeout: int = 10,
        run_dir: Path | None = None,
        attempts: int = 5,
        retry_delay: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.lockspace = Path(lockspace)
        self.ha_dir = self.lockspace.parent
        self.io_timeout = io_timeout
        self.run_dir = run_dir
        self.attempts = attempts
        self.retry_delay = retry_delay
        self._sleep = sleep
        self._live_seen: tuple[float, set[int]] | None = None  # (when, live ids on disk)
        self._sanlock = load_module()
        use_run_dir(run_dir)

    # --- talking to the daemon --------------------------------------------------------
    @property
    def socket_path(self) -> Path:
        run_dir = os.environ.get("SANLOCK_RUN_DIR") or str(SYSTEM_RUN_DIR)
        return Path(run_dir) / SANLOCK_SOCKET

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """One binding call; the daemon's absence is a LeaseError naming the socket, other
        failures propagate as SanlockException for the caller to tell apart."""
        absent = LeaseError(
            f"no sanlock daemon answers at {self.socket_path} (start it: systemctl start sanlock)"
        )
        if not self.socket_path.exists():
            raise absent
        try:
            return getattr(self._sanlock, name)(*args, **kwargs)
        except self._sanlock.SanlockException as e:
            if _is(e, errno.ECONNREFUSED):
                raise absent from None
            raise

    def _retrying(self, what: str, action: Callable[[], T]) -> T:
        """oVirt's rule: transient errors are retried a few times, five seconds apart."""
        for attempt in range(1, self.attempts + 1):
            try:
                return action()
            except self._sanlock.SanlockException as e:
                if not _is(e, *_TRANSIENT) or attempt == self.attempts:
                    raise
                log.warning("%s: %s; retrying (%d/%d)", what, _explain(e), attempt, self.attempts)
                self._sleep(self.retry_delay)
        raise AssertionError("unreachable")

    # --- initialising ------------------------------------------------------------------
    @contextlib.contextmanager
    def _init_lock(self) -> Iterator[None]:
        """Two hosts formatting a fresh domain at once must not wipe each other's lease."""
        self.ha_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.ha_dir / ".sanlock-init", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o660)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @staticmethod
    def _blank(path: Path) -> bool:
        try:
            return path.stat().st_size == 0
        except FileNotFoundError:
            return True

    def _format_lockspace(self) -> None:
        self._format_if_blank(self.lockspace, self._write_lockspace)

    def _write_lockspace(self) -> None:
        self.call("write_lockspace", LOCKSPACE, str(self.lockspace), iotimeout=self.io_timeout)

    def _format_if_blank(self, path: Path, write: Callable[[], None]) -> None:
        """A half-formatted file is removed again, so that the next try formats it."""
        with self._init_lock():
            if not self._blank(path):
                return
            with path.open("ab") as f:
                f.truncate(RESOURCE_BYTES)
            try:
                write()
            except self._sanlock.SanlockException as e:
                path.unlink(missing_ok=True)
                raise LeaseError(f"cannot format {path}: {_explain(e)}") from None
            except LeaseError:
                path.unlink(missing_ok=True)
                raise

    def vm_path(self, vm_id: str) -> Path:
        if not vm_id or "/" in vm_id or vm_id.startswith(".") or len(vm_id) > 48:
            raise LeaseError(f"invalid VM id for a lease: {vm_id!r}")
        return vm_lease_file(self.ha_dir, vm_id)

    def disks(self, vm_id: str) -> list[tuple[str, int]]:
        return [(str(self.vm_path(vm_id)), 0)]

    def _format_resource(self, vm_id: str) -> None:
        def write() -> None:
            self.call("write_resource", LOCKSPACE, vm_id.encode(), self.disks(vm_id))

        self._format_if_blank(self.vm_path(vm_id), write)

    # --- host id -----------------------------------------------------------------------
    @staticmethod
    def _check_host_id(host_id: int) -> None:
        if not 1 <= host_id <= MAX_HOST_ID:
            raise LeaseError(f"host id must be between 1 and {MAX_HOST_ID} (got {host_id})")

    def joined_id(self) -> int | None:
        """The host id this host's daemon holds in the lockspace, if any."""
        for entry in self.call("get_lockspaces"):
            same = Path(entry.get("path", "")) == self.lockspace
            if entry.get("lockspace") == LOCKSPACE and same:
                return int(entry["host_id"])
        return None

    def joined(self, host_id: int) -> bool:
        try:
            return bool(self.call("inq_lockspace", LOCKSPACE, host_id, str(self.lockspace)))
        except (LeaseError, self._sanlock.SanlockException):
            return False

    def acquire_host_id(
        self, host_id: int, hostname: str | None = None
    ) -> SanlockHostIdLease | CheckedHostId:
        self._check_host_id(host_id)
        self._format_lockspace()
        ours = self.joined_id()
        if ours is not None and ours != host_id:
            if self.host_id_holder(host_id) is not None:
                raise LeaseHeldError(f"host id {host_id} is held by a live host", f"host {host_id}")
            return CheckedHostId(host_id)
        if ours is None and (other := self._renewed_elsewhere(host_id)) is not None:
            raise LeaseHeldError(
                f"host id {host_id} is already held by a live host ({other}): another host "
                "is configured with the same host_id",
                holder=f"host {host_id}",
            )

        def add() -> None:
            try:
                self.call(
                    "add_lockspace",
                    LOCKSPACE,
                    host_id,
                    str(self.lockspace),
                    iotimeout=self.io_timeout,
                )
            except self._sanlock.SanlockException as e:
                if not _is(e, errno.EEXIST):  # EEXIST: our daemon holds it already
                    raise

        try:
            self._retrying(f"joining the lockspace as host {host_id}", add)
        except self._sanlock.SanlockException as e:
            if _is(e, HOST_ID_BUSY):
                raise LeaseHeldError(
                    f"host id {host_id} is already held by a live host (another host is "
                    "configured with the same host_id)",
                    holder=f"host {host_id}",
                ) from None
            if _is(e, errno.EINVAL):
                raise LeaseError(
                    f"this host's sanlock daemon holds another host id in {self.lockspace}"
                ) from None
            if _is(e, NOT_A_LEASE):
                raise LeaseError(
                    f"{self.lockspace} is not a sanlock lockspace: run "
                    "`hosted-engine --reinitialize-lockspace`"
                ) from None
            raise LeaseError(
                f"cannot join the lockspace as host {host_id}: {_explain(e)}"
            ) from None
        return SanlockHostIdLease(self, host_id)

    def _renewed_elsewhere(self, host_id: int) -> str | None:
        """The name of another host renewing ``host_id``'s delta lease, if one does.

        sanlock finds that out itself, but only after 8 io timeouts + 60 s (68 s at
        io_timeout 1, 140 s at 10) inside ``add_lockspace``. Watching the lease on disk
        over one renewal interval says it sooner, and is only needed when the lease was
        last written by a daemon other than ours: a restarted daemon of the same name
        takes its own lease back at once.
        """
        first = self._disk_leases().get(host_id)
        if first is None or first[0] == self._daemon_name():
            return None
        return first[0] if host_id in self._renewed_on_disk(first_dump={host_id: first}) else None

    def _disk_leases(self) -> dict[int, tuple[str, int]]:
        """``{host id: (owner name, timestamp)}`` of the delta leases written on disk
        (``sanlock direct dump``: no daemon needed)."""
        try:
            done = subprocess.run(
                ["sanlock", "direct", "dump", f"{self.lockspace}:0"],
                capture_output=True,
                text=True,
                timeout=10,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise LeaseError(f"cannot read the delta leases of {self.lockspace}: {e}") from None
        leases: dict[int, tuple[str, int]] = {}
        for line in done.stdout.splitlines():
            fields = line.split()
            if len(fields) >= 6 and fields[1] == LOCKSPACE.decode() and fields[3].isdigit():
                timestamp, host_id = int(fields[3]), int(fields[4])
                if timestamp:
                    leases[host_id] = (fields[2], timestamp)
        return leases

    def _renewed_on_disk(self, first_dump: dict[int, tuple[str, int]] | None = None) -> set[int]:
        """The host ids whose delta lease is renewed within one renewal interval (2 io
        timeouts): live hosts, judged from the disk alone."""
        first = self._disk_leases() if first_dump is None else first_dump
        if not first:
            return set()
        self._sleep(2 * self.io_timeout + 1)
        second = self._disk_leases()
        return {h for h, (name, ts) in first.items() if h in second and second[h] != (name, ts)}

    def _daemon_name(self) -> str | None:
        """The name our daemon writes into the delta leases it holds."""
        fields = _sanlock_cli("client", "status", "-D")
        return None if fields is None else fields.get("daemon")

    def leave_lockspace(self, host_id: int) -> None:
        """``rem_lockspace`` only while no resource of ours needs the id."""
        try:
            self.call("rem_lockspace", LOCKSPACE, host_id, str(self.lockspace), unused=True)
        except LeaseError as e:
            log.warning("host id %d not released: %s", host_id, e)
        except self._sanlock.SanlockException as e:
            if _is(e, errno.EBUSY):
                log.info("host id %d kept in the lockspace: the engine VM lease needs it", host_id)
            elif not _is(e, errno.ENOENT):
                log.warning("host id %d not released: %s", host_id, _explain(e))

    def _host_status(self, host_id: int) -> dict[str, Any] | None:
        """sanlock's view of a host id (None: this daemon cannot tell). Just after a
        join the daemon answers EAGAIN until it has read the lockspace once."""
        deadline = time.monotonic() + 2 * self.io_timeout + 1
        while True:
            try:
                hosts = self.call("get_hosts", LOCKSPACE, host_id)
                break
            except self._sanlock.SanlockException as e:
                if _is(e, errno.EAGAIN) and time.monotonic() < deadline:
                    self._sleep(0.1)
                    continue
                if _is(e, errno.EAGAIN, errno.ENOENT):
                    return None
                raise LeaseError(f"cannot read the hosts of the lockspace: {_explain(e)}") from None
        return next((h for h in hosts if int(h.get("host_id", 0)) == host_id), None)

    def _alive(self, status: dict[str, Any] | None) -> bool:
        if status is None:
            return True  # unknown is never free
        live = {getattr(self._sanlock, name) for name in _LIVE_FLAGS}
        return int(status.get("flags", 0)) in live

    def host_id_holder(self, host_id: int) -> LeaseHolder | None:
        """From our daemon's view when it has joined the lockspace; otherwise from the
        delta leases on disk, watched once per renewal interval (and remembered that
        long, since ``--reinitialize-lockspace`` asks about every id in turn)."""
        self._check_host_id(host_id)
        if self.joined_id() is not None:
            alive = self._alive(self._host_status(host_id))
        else:
            now = time.monotonic()
            if self._live_seen is None or now - self._live_seen[0] > _LIVE_SEEN_FOR:
                self._live_seen = (now, self._renewed_on_disk())
            alive = host_id in self._live_seen[1]
        return LeaseHolder(host_id=host_id) if alive else None

    # --- VM ---------------------------------------------------------------------------
    def held_resources(self, fd: int) -> set[bytes]:
        try:
            return {r["resource"] for r in self.call("inquire", slkfd=fd)}
        except self._sanlock.SanlockException as e:
            raise LeaseError(f"cannot ask sanlock what it holds: {_explain(e)}") from None

    def acquire_vm_lease(
        self, vm_id: str, host_id: int, hostname: str | None = None
    ) -> SanlockVmLease:
        self._format_resource(vm_id)
        owner = self.vm_lease_holder(vm_id)
        if owner is not None:  # never wait inside acquire while sanlock judges the owner
            raise LeaseHeldError(
                f"the engine VM lease is held by {owner.describe()}", holder=owner.describe()
            )
        try:
            fd = self.call("register")
        except self._sanlock.SanlockException as e:
            raise LeaseError(f"cannot register with sanlock: {_explain(e)}") from None
        try:
            self.call("acquire", LOCKSPACE, vm_id.encode(), self.disks(vm_id), slkfd=fd)
        except BaseException as e:
            os.close(fd)
            if _is(e, ACQUIRE_HELD, errno.EBUSY):  # EBUSY: another acquire still waits
                holder = self.vm_lease_holder(vm_id)
                who = holder.describe() if holder else None
                raise LeaseHeldError(
                    f"the engine VM lease is held by {who or 'another host'}", holder=who
                ) from None
            if _is(e, errno.ENOSPC):  # what sanlock says when the lockspace is not joined
                raise LeaseError(
                    f"host {host_id} has not joined the lockspace (is its broker running?)"
                ) from None
            if _is(e, NOT_A_LEASE):
                raise LeaseError(
                    f"{self.vm_path(vm_id)} holds no sanlock lease: remove it so that it "
                    "is formatted again"
                ) from None
            if isinstance(e, self._sanlock.SanlockException):
                raise LeaseError(f"cannot acquire the engine VM lease: {_explain(e)}") from None
            raise
        return SanlockVmLease(self, vm_id, fd)

    def vm_lease_holder(self, vm_id: str) -> LeaseHolder | None:
        """The resource's owner on disk, unless sanlock says that owner is gone: its delta
        lease dead, or it rejoined since (a newer generation frees the old one's leases)."""
        if self._blank(self.vm_path(vm_id)):
            return None
        try:
            owners = self.call("read_resource_owners", LOCKSPACE, vm_id.encode(), self.disks(vm_id))
        except self._sanlock.SanlockException as e:
            raise LeaseError(f"cannot read the owner of the VM lease: {_explain(e)}") from None
        for owner in owners:
            host_id = int(owner["host_id"])
            status = self._host_status(host_id)
            if not self._alive(status):
                continue
            if status is not None and int(status["generation"]) > int(owner["generation"]):
                continue
            return LeaseHolder(host_id=host_id)
        return None

    def reinitialize(self) -> None:
        """sanlock's init of the lockspace: every delta lease is wiped."""
        with self._init_lock():
            self.ha_dir.mkdir(parents=True, exist_ok=True)
            with self.lockspace.open("ab") as f:
                if f.tell() < RESOURCE_BYTES:
                    f.truncate(RESOURCE_BYTES)
            try:
                self._write_lockspace()
            except self._sanlock.SanlockException as e:
                raise LeaseError(f"cannot format {self.lockspace}: {_explain(e)}") from None


def vm_lease_file(ha_dir: Path, vm_id: str) -> Path:
    """The VM's resource lease file beside the lockspace, for the hosts and the lab alike."""
    return child(ha_dir, f"{vm_id}.lease")


def _sanlock_cli(*args: str) -> dict[str, str] | None:
    """``sanlock ARGS`` as ``{first word: rest}`` per line of its output (None: it
    failed). For what the binding cannot do without a daemon, or at all."""
    try:
        done = subprocess.run(["sanlock", *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    fields: dict[str, str] = {}
    for line in done.stdout.splitlines():
        key, _, value = line.strip().partition(" ")
        fields.setdefault(key, value)
    return fields


def read_leader(spec: str) -> tuple[int, int] | None:
    """``(owner id, timestamp)`` of the resource lease ``LOCKSPACE:NAME:PATH:0`` on disk."""
    fields = _sanlock_cli("direct", "read_leader", "-r", spec)
    if fields is None:
        return None
    try:
        return int(fields["owner_id"]), int(fields["timestamp"])
    except (KeyError, ValueError):
        return None


def resource_owner(lockspace: Path, vm_id: str) -> int | None:
    """The host id that owns the VM lease on disk, read without any daemon: what an
    observer outside every host, such as the lab, can know. A dead owner stays the
    owner until another host takes the lease over."""
    path = vm_lease_file(lockspace.parent, vm_id)
    if SanlockLeaseManager._blank(path):
        return None
    leader = read_leader(f"{LOCKSPACE.decode()}:{vm_id}:{path}:0")
    if leader is None:
        return None
    owner, timestamp = leader
    return owner if owner and timestamp else None
