"""Injectable storage faults: make chosen I/O of one host fail or hang, on purpose.

Fencing and chaos tests need a host whose storage stalls while everything else about it
is fine. Breaking the files would hit every host at once, so instead each process of a
host can be pointed (``fault_file`` in hosted-engine.conf, ``--fault-file`` for the VM
supervisor) at a small control file that names the faulty points::

    lease-renewal=hang
    metadata-write=fail

The I/O code calls :func:`check` with its point's name before the real I/O. ``fail``
raises ``OSError(EIO)`` as a dead disk does; ``hang`` blocks until the line is removed,
as I/O on a stalled mount does (and then goes on, as a recovered mount does). A process
with no control file pays one ``None`` test per call. The file is re-read only when its
modification time changes, so a check costs one ``stat``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from enum import StrEnum
from pathlib import Path

from hosted_engine.errors import UsageError
from hosted_engine.files.atomic import write_atomically


class FaultPoint(StrEnum):
    LEASE_RENEWAL = "lease-renewal"  # the VM lease holder's proof that it still owns it
    METADATA_READ = "metadata-read"
    METADATA_WRITE = "metadata-write"
    CONFIG_READ = "config-read"  # the shared configuration archive and the OVF_STORE


class FaultMode(StrEnum):
    FAIL = "fail"
    HANG = "hang"


_HANG_POLL = 0.05
_lock = threading.Lock()
_file: Path | None = None
_seen: tuple[int, int, int] | None = None  # (inode, mtime, size) of the last parse
_active: dict[FaultPoint, FaultMode] = {}


def parse(text: str) -> dict[FaultPoint, FaultMode]:
    """The faults a control file names; UsageError (one line) for anything else."""
    faults: dict[FaultPoint, FaultMode] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        point, sep, mode = (part.strip() for part in line.partition("="))
        try:
            faults[FaultPoint(point)] = FaultMode(mode)
        except ValueError:
            known = ", ".join(p.value for p in FaultPoint)
            modes = ", ".join(m.value for m in FaultMode)
            raise UsageError(
                f"fault line {number} {line!r:.60}: want POINT=MODE, POINT one of {known}, "
                f"MODE one of {modes}"
            ) from None
        if not sep:
            raise UsageError(f"fault line {number} {line!r:.60}: want POINT=MODE")
    return faults


def render(faults: dict[FaultPoint, FaultMode]) -> str:
    return "".join(f"{point.value}={mode.value}\n" for point, mode in sorted(faults.items()))


def use_file(path: Path | None) -> None:
    """Make this process obey ``path`` (None: no injected faults)."""
    global _file, _seen
    with _lock:
        _file = path
        _seen = None
        _active.clear()


def _current() -> dict[FaultPoint, FaultMode]:
    global _seen
    path = _file
    if path is None:
        return {}
    try:
        info = os.stat(path)
        key: tuple[int, int, int] | None = (info.st_ino, info.st_mtime_ns, info.st_size)
    except OSError:
        key = None
    with _lock:
        if key != _seen:
            _seen = key
            _active.clear()
            if key is not None:  # an unreadable or bad control file injects nothing
                with contextlib.suppress(OSError, UsageError):
                    _active.update(parse(path.read_text(errors="replace")))
        return dict(_active)


def check(point: FaultPoint) -> None:
    """Before the I/O of ``point``: raise, block, or return at once (no fault)."""
    if _file is None:
        return
    while True:
        mode = _current().get(point)
        if mode is None:
            return
        if mode is FaultMode.FAIL:
            raise OSError(errno.EIO, f"injected {point.value} fault")
        time.sleep(_HANG_POLL)


def set_fault(path: Path, point: FaultPoint, mode: FaultMode | None) -> None:
    """Add, change or (mode None) clear one fault in the control file ``path``."""
    try:
        faults = parse(path.read_text())
    except FileNotFoundError:
        faults = {}
    if mode is None:
        faults.pop(point, None)
    else:
        faults[point] = mode
    write_atomically(path, render(faults))
