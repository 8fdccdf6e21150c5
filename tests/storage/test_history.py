"""The engine's history on the shared domain: appended in turn, bounded, and readable
after a writer was killed in the middle of a line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from hosted_engine.storage.history import (
    MAX_ENTRIES,
    TRIM_SLACK,
    Cause,
    Event,
    History,
    HistoryEntry,
)

ROOT = Path(__file__).resolve().parents[2]


def entry(n: int, **overrides: object) -> HistoryEntry:
    fields: dict[str, object] = dict(
        at=1_800_000_000.0 + n, event=Event.STARTED, host_id=1 + n % 3, cause=Cause.HOST_LOST
    )
    fields.update(overrides)
    return HistoryEntry(**fields)  # type: ignore[arg-type]


def test_entries_come_back_as_written(tmp_path: Path) -> None:
    history = History(tmp_path)
    first = entry(1, cause=Cause.FIRST_START)
    second = entry(
        2, from_host=2, downtime=12.5, cause=Cause.SWITCHOVER, detail="by admin: patching"
    )
    history.append(first)
    history.append(second)
    assert history.entries() == [first, second]
    assert history.last() == second


def test_the_history_stays_bounded(tmp_path: Path) -> None:
    history = History(tmp_path)
    for n in range(MAX_ENTRIES + TRIM_SLACK + 50):
        history.append(entry(n))
    entries = history.entries()
    assert len(entries) == MAX_ENTRIES
    assert entries[-1] == entry(MAX_ENTRIES + TRIM_SLACK + 49)  # the newest kept
    lines = history.path.read_text().splitlines()
    assert len(lines) <= MAX_ENTRIES + TRIM_SLACK


_TORN_WRITER = """
import os, sys, time
from pathlib import Path
from hosted_engine.storage.history import History
history = History(Path(sys.argv[1]))
with history._locked():
    fd = os.open(history.path, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b'{"at": 1800000999.0, "event": "sta')
    os.fsync(fd)
    print("torn", flush=True)
    time.sleep(60)
"""


def test_a_writer_killed_mid_append_loses_only_its_own_entry(tmp_path: Path) -> None:
    history = History(tmp_path)
    history.append(entry(1))
    writer = subprocess.Popen(
        [sys.executable, "-c", _TORN_WRITER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert writer.stdout is not None
    assert writer.stdout.readline() == "torn\n"  # half a line written, the lock held
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    writer.stdout.close()
    history.append(entry(2))  # the dead writer's lock is gone with it
    assert history.entries() == [entry(1), entry(2)]
    assert b'"event": "sta\n' in history.path.read_bytes()  # the torn line, skipped


_APPENDER = """
import sys
from pathlib import Path
from hosted_engine.storage.history import Cause, Event, History, HistoryEntry
history = History(Path(sys.argv[1]))
for n in range(int(sys.argv[3])):
    e = HistoryEntry(n, Event.STOPPED, int(sys.argv[2]), Cause.BAD_HEALTH, detail="x" * 300)
    history.append(e)
"""


def test_hosts_appending_at_once_never_mix_their_lines(tmp_path: Path) -> None:
    writers = [
        subprocess.Popen([sys.executable, "-c", _APPENDER, str(tmp_path), str(h), "40"], cwd=ROOT)
        for h in (1, 2, 3)
    ]
    for w in writers:
        assert w.wait(60) == 0
    entries = History(tmp_path).entries()
    assert len(entries) == 120
    assert {e.host_id for e in entries} == {1, 2, 3}
    for line in History(tmp_path).path.read_text().splitlines():
        json.loads(line)  # every line whole


def test_a_start_is_told_from_the_last_entry() -> None:
    from hosted_engine.storage.history import start_entry

    at = 1_800_000_100.0
    first = start_entry(at, 1, None, {}, None)
    assert (first.cause, first.from_host, first.downtime) == (Cause.FIRST_START, None, None)
    # a recorded stop: its cause carries over, the downtime is exact
    stop = HistoryEntry(at - 40, Event.STOPPED, 2, Cause.SWITCHOVER, detail="by admin: patch")
    moved = start_entry(at, 3, stop, {}, None)
    assert (moved.cause, moved.from_host, moved.downtime, moved.detail) == (
        Cause.SWITCHOVER,
        2,
        40.0,
        "by admin: patch",
    )
    # no stop since host 2 started it: host 2 died, or its VM did
    started = HistoryEntry(at - 500, Event.STARTED, 2, Cause.FIRST_START)
    lost = start_entry(at, 3, started, {2: False, 3: True}, at - 68.5)
    assert (lost.cause, lost.from_host, lost.downtime) == (Cause.HOST_LOST, 2, 68.5)
    crashed = start_entry(at, 3, started, {2: True, 3: True}, at - 2)
    assert crashed.cause is Cause.VM_CRASHED
    assert start_entry(at, 2, started, {}, None).cause is Cause.VM_CRASHED  # restarted there
