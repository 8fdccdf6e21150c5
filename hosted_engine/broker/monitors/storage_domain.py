"""Storage-domain check: real reads and writes against the shared domain, with a deadline.

The reference asked VDSM and then tested the *string* it got back, so a failed domain
still passed (D2). Here the check does I/O and a failure is ``False`` with its reason.
The I/O runs on one long-lived daemon thread of its own: on a hung NFS mount it can
block in the kernel indefinitely, and only that thread may hang, never the monitor or the
broker. While it hangs no second one is started; once it returns it takes the next probe.
(A thread per probe, as before, made the broker start and tear down a thread every monitor
period for its whole life: a thread's stack, its interpreter state and, with glibc, a
malloc arena handed to it, all for 16 bytes of I/O.)
"""

from __future__ import annotations

import errno
import mmap
import os
import threading
from collections.abc import Callable
from pathlib import Path

from hosted_engine.broker.monitors.base import Degraded
from hosted_engine.clock import Clock
from hosted_engine.files.paths import child

READ_SIZE = 4096  # one host segment of the metadata volume


def read_direct(path: Path, size: int = READ_SIZE) -> bytes:
    """Read the start of ``path`` bypassing the page cache where the filesystem allows.

    A cached read would succeed from memory after the storage went away.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECT", 0))
    except OSError as e:
        if e.errno != errno.EINVAL:  # filesystems without O_DIRECT refuse it at open
            raise
        fd = os.open(path, os.O_RDONLY)
    try:
        with mmap.mmap(-1, size) as buffer:  # page-aligned, as O_DIRECT requires
            count = os.preadv(fd, [buffer], 0)
            return bytes(buffer[:count])
    finally:
        os.close(fd)


def write_and_read_back(path: Path, data: bytes) -> None:
    """Write ``data`` durably, then check that reading it back gives the same bytes."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if path.read_bytes() != data:
        raise OSError(f"{path}: read back different data than was written")


def check_domain(metadata_path: Path, domain_dir: Path, host_id: int) -> None:
    """The I/O of one check; raises OSError with the failing path."""
    read_direct(metadata_path)
    probe_dir = domain_dir / "dom_md"
    probe_dir.mkdir(exist_ok=True)  # no parents=True: a vanished domain must fail
    write_and_read_back(child(probe_dir, f"he-probe-host-{host_id}"), os.urandom(16).hex().encode())


class _Probe:
    """One probe handed to the worker: done once the I/O returned, with its error."""

    __slots__ = ("done", "error", "started")

    def __init__(self, started: float) -> None:
        self.started = started
        self.done = threading.Event()
        self.error: BaseException | None = None


class ProbeWorker:
    """Runs ``io`` on one daemon thread, one probe at a time, for as long as it lives."""

    def __init__(self, io: Callable[[], None], name: str = "storage-domain-io") -> None:
        self._io = io
        self._name = name
        self._cond = threading.Condition()
        self._waiting: _Probe | None = None  # handed over, not yet taken by the thread
        self._running: _Probe | None = None  # handed over and not finished
        self._thread: threading.Thread | None = None
        self._closed = False

    def busy(self) -> _Probe | None:
        """The probe still running (a hung mount), or None when the worker is free."""
        with self._cond:
            return self._running

    def submit(self, started: float) -> _Probe:
        """Hand a probe to the thread (started on first use); the worker must be free."""
        probe = _Probe(started)
        with self._cond:
            if self._running is not None:
                raise RuntimeError("the storage probe worker is busy")
            self._closed = False  # a monitor runner started again after a stop
            self._running = self._waiting = probe
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify()
        return probe

    def wait_free(self, timeout: float) -> bool:
        """Wait until no probe is running; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._running is None, timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._waiting is not None or self._closed)
                if self._waiting is None:  # closed
                    self._thread = None
                    return
                probe, self._waiting = self._waiting, None
            assert probe is not None
            try:
                self._io()
            except BaseException as e:  # reported by the monitor, never the thread's end
                probe.error = e
            with self._cond:
                self._running = None
                self._cond.notify_all()
            probe.done.set()

    def close(self) -> None:
        """Let the thread end (the next probe starts another); one stuck in the I/O ends
        when the I/O returns."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and self.busy() is None:
            thread.join(1.0)


class StorageDomainMonitor:
    """Value True iff the domain answered correctly within ``latency_limit`` seconds."""

    name = "storage-domain"
    initial = None

    def __init__(self, io: Callable[[], None], latency_limit: float, clock: Clock) -> None:
        self._worker = ProbeWorker(io)
        self._latency_limit = latency_limit
        self._clock = clock

    @classmethod
    def for_domain(
        cls, metadata_path: Path, domain_dir: Path, host_id: int, latency_limit: float, clock: Clock
    ) -> StorageDomainMonitor:
        return cls(lambda: check_domain(metadata_path, domain_dir, host_id), latency_limit, clock)

    @property
    def worker(self) -> ProbeWorker:
        return self._worker

    def measure(self) -> bool:
        stuck = self._worker.busy()
        if stuck is not None:
            # Do not pile up threads behind a hung mount: one stuck check is enough.
            blocked = self._clock.monotonic() - stuck.started
            raise Degraded(False, f"storage I/O still blocked after {blocked:.1f}s")
        started = self._clock.monotonic()
        probe = self._worker.submit(started)
        finished = probe.done.wait(self._latency_limit)
        elapsed = self._clock.monotonic() - started
        if not finished:
            raise Degraded(False, f"storage I/O did not finish within {self._latency_limit:g}s")
        if probe.error is not None:
            raise Degraded(False, f"storage I/O failed: {probe.error}")
        if elapsed > self._latency_limit:
            raise Degraded(
                False, f"storage I/O took {elapsed:.1f}s (limit {self._latency_limit:g}s)"
            )
        return True

    def close(self) -> None:
        self._worker.close()
