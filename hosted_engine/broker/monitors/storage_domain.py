"""Storage-domain check: real reads and writes against the shared domain, with a deadline.

The reference asked VDSM and then tested the *string* it got back, so a failed domain
still passed (D2). Here the check does I/O and a failure is ``False`` with its reason.
The I/O runs on a throw-away daemon thread: on a hung NFS mount it can block in the
kernel indefinitely, and only that thread may hang, never the monitor or the broker.
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
    write_and_read_back(probe_dir / f"he-probe-host-{host_id}", os.urandom(16).hex().encode())


class StorageDomainMonitor:
    """Value True iff the domain answered correctly within ``latency_limit`` seconds."""

    name = "storage-domain"
    initial = None

    def __init__(self, io: Callable[[], None], latency_limit: float, clock: Clock) -> None:
        self._io = io
        self._latency_limit = latency_limit
        self._clock = clock
        self._pending: threading.Thread | None = None
        self._pending_since = 0.0

    @classmethod
    def for_domain(
        cls, metadata_path: Path, domain_dir: Path, host_id: int, latency_limit: float, clock: Clock
    ) -> StorageDomainMonitor:
        return cls(lambda: check_domain(metadata_path, domain_dir, host_id), latency_limit, clock)

    def measure(self) -> bool:
        if self._pending is not None and self._pending.is_alive():
            # Do not pile up threads behind a hung mount: one stuck check is enough.
            stuck = self._clock.monotonic() - self._pending_since
            raise Degraded(False, f"storage I/O still blocked after {stuck:.1f}s")
        outcome: list[BaseException | None] = []

        def run() -> None:
            try:
                self._io()
                outcome.append(None)
            except BaseException as e:
                outcome.append(e)

        self._pending = threading.Thread(target=run, name="storage-domain-io", daemon=True)
        self._pending_since = started = self._clock.monotonic()
        self._pending.start()
        self._pending.join(self._latency_limit)
        elapsed = self._clock.monotonic() - started
        if not outcome:
            raise Degraded(False, f"storage I/O did not finish within {self._latency_limit:g}s")
        error = outcome[0]
        if error is not None:
            raise Degraded(False, f"storage I/O failed: {error}")
        if elapsed > self._latency_limit:
            raise Degraded(
                False, f"storage I/O took {elapsed:.1f}s (limit {self._latency_limit:g}s)"
            )
        return True
