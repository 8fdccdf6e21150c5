"""The engine's history on the shared domain: every start and stop, where, why, and how
long the engine was down (``hosted-engine --history``; patronictl's ``history`` is the
model).

``<ha_dir>/hosted-engine.history`` holds one JSON object per line, appended under an
fcntl lock on ``hosted-engine.history.lock`` (so hosts append in turn) with ``fsync``.
A writer killed in mid-append leaves a torn last line: readers skip a line that does not
parse, and the next writer starts on a fresh line. The file is kept to the last
:data:`MAX_ENTRIES` entries: past :data:`MAX_ENTRIES` + :data:`TRIM_SLACK` the writer
holding the lock rewrites it atomically (a temporary file, fsync, rename).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from hosted_engine.errors import StorageError
from hosted_engine.files.atomic import write_atomically

HISTORY_NAME = "hosted-engine.history"
MAX_ENTRIES = 1000
TRIM_SLACK = 100  # appends between two rewrites
_MAX_LINE = 4096  # an entry is a few hundred bytes; a longer line is not one of ours


class Event(StrEnum):
    STARTED = "started"
    STOPPED = "stopped"


class Cause(StrEnum):
    """Why the engine started or stopped, in the words admins search for."""

    FIRST_START = "first start"  # nothing in the history before it
    HOST_LOST = "host lost"  # the engine's host stopped publishing
    VM_CRASHED = "VM crashed"  # the engine VM died under a live host
    BAD_HEALTH = "bad health"  # the engine answered badly for too long
    PREEMPTION = "preemption"  # a host better by the restart margin took over
    MAINTENANCE = "maintenance"  # local maintenance of the engine's host
    SWITCHOVER = "switchover"  # moved on purpose (who and the note are in ``detail``)
    RESTART = "restart"  # started again after a stop recorded here
    ADMIN = "admin"  # hosted-engine --vm-start / --vm-shutdown / --vm-poweroff


@dataclass(frozen=True)
class HistoryEntry:
    at: float  # epoch seconds
    event: Event
    host_id: int  # where it started or stopped
    cause: Cause
    from_host: int | None = None  # a start: where the engine ran before, when known
    downtime: float | None = None  # a start: seconds without an engine before it
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"event": self.event.value, "cause": self.cause.value}

    def summary(self) -> str:
        """One line for a mail subject: ``started on host 2 (host lost, from host 1, 68.6 s
        down)``."""
        parts = [self.cause.value]
        if self.from_host is not None:
            parts.append(f"from host {self.from_host}")
        if self.downtime is not None:
            parts.append(f"{self.downtime:.1f} s down")
        text = f"{self.event.value} on host {self.host_id} ({', '.join(parts)})"
        return f"{text}: {self.detail}" if self.detail else text

    @classmethod
    def from_json(cls, data: Any) -> HistoryEntry:
        """Raises ValueError (or KeyError/TypeError) on anything that is not an entry."""
        if not isinstance(data, dict):
            raise ValueError("not an object")
        from_host, downtime = data.get("from_host"), data.get("downtime")
        return cls(
            at=float(data["at"]),
            event=Event(data["event"]),
            host_id=int(data["host_id"]),
            cause=Cause(data["cause"]),
            from_host=None if from_host is None else int(from_host),
            downtime=None if downtime is None else float(downtime),
            detail=str(data.get("detail", "")),
        )


class History:
    def __init__(self, ha_dir: Path) -> None:
        self.path = ha_dir / HISTORY_NAME
        self.lock_path = ha_dir / f"{HISTORY_NAME}.lock"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o660)
        except OSError as e:
            raise StorageError(f"cannot open {self.lock_path}: {e.strerror}") from None
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def append(self, entry: HistoryEntry) -> None:
        line = json.dumps(entry.to_json(), ensure_ascii=True, separators=(",", ":")) + "\n"
        with self._locked():
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o660)
                try:
                    size = os.fstat(fd).st_size
                    if size and os.pread(fd, 1, size - 1) != b"\n":
                        line = "\n" + line  # a writer died mid-line: start a fresh one
                    os.write(fd, line.encode())
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as e:
                raise StorageError(f"cannot append to {self.path}: {e.strerror}") from None
            if self._lines() > MAX_ENTRIES + TRIM_SLACK:
                self._rewrite(self._read()[-MAX_ENTRIES:])

    def _lines(self) -> int:
        """Cheap: counted, not parsed (appends outnumber rewrites a hundred to one)."""
        try:
            return self.path.read_bytes().count(b"\n")
        except OSError as e:
            raise StorageError(f"cannot read {self.path}: {e.strerror}") from None

    def _rewrite(self, entries: list[HistoryEntry]) -> None:
        text = "".join(
            json.dumps(e.to_json(), ensure_ascii=True, separators=(",", ":")) + "\n"
            for e in entries
        )
        write_atomically(self.path, text.encode(), mode=0o660)

    def _read(self) -> list[HistoryEntry]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as e:
            raise StorageError(f"cannot read {self.path}: {e.strerror}") from None
        entries = []
        for line in raw.split(b"\n"):
            if not line or len(line) > _MAX_LINE:
                continue
            try:
                entries.append(HistoryEntry.from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                continue  # torn by a killed writer, or not ours
        return entries

    def entries(self) -> list[HistoryEntry]:
        """Oldest first, the last :data:`MAX_ENTRIES` at most."""
        return self._read()[-MAX_ENTRIES:]

    def last(self) -> HistoryEntry | None:
        entries = self._read()
        return entries[-1] if entries else None


def start_entry(
    at: float,
    host_id: int,
    last: HistoryEntry | None,
    alive: dict[int, bool],
    down_since: float | None,
) -> HistoryEntry:
    """The entry for the engine starting on ``host_id`` at ``at``, told from the last
    entry: after a recorded stop, that stop's cause carries over and the downtime is
    exact; after a start with no stop since, the engine's host died (not ``alive``:
    ``host lost``) or its VM did (``VM crashed``), and the downtime runs from
    ``down_since``, when the writer last saw a healthy engine (epoch; None: unknown).
    """
    if last is None:
        return HistoryEntry(at, Event.STARTED, host_id, Cause.FIRST_START)
    if last.event is Event.STOPPED:
        carried = (
            Cause.SWITCHOVER,
            Cause.PREEMPTION,
            Cause.MAINTENANCE,
            Cause.BAD_HEALTH,
            Cause.ADMIN,
        )
        cause = last.cause if last.cause in carried else Cause.RESTART
        return HistoryEntry(
            at, Event.STARTED, host_id, cause, last.host_id, max(0.0, at - last.at), last.detail
        )
    was = last.host_id
    cause = Cause.VM_CRASHED if was == host_id or alive.get(was, False) else Cause.HOST_LOST
    downtime = None if down_since is None else max(0.0, at - down_since)
    return HistoryEntry(at, Event.STARTED, host_id, cause, was, downtime)
