"""A writer SIGKILLed between any two steps of its write leaves the old or the new archive,
readable and whole, and the next writer is neither blocked nor confused by what it left."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hosted_engine.storage.config_archive import MEMBERS, ConfigArchive

# A writer that stops at one step and waits there to be killed.
WRITER = """
import sys
from pathlib import Path
from hosted_engine.storage.config_archive import ConfigArchive

archive = ConfigArchive(Path(sys.argv[1]))
stop_at = sys.argv[2]

def checkpoint(step):
    if step == stop_at:
        print(step, flush=True)
        sys.stdin.readline()  # never answered: the test kills us here

snapshot = archive.read()
members = {**snapshot.members, "broker.conf": b"[email]\\nsmtp-port = 2525\\n"}
archive.replace(snapshot.checksum, members, checkpoint=checkpoint)
print("finished", flush=True)
"""

OLD = {name: f"old {name}\n".encode() for name in MEMBERS}
NEW = {**OLD, "broker.conf": b"[email]\nsmtp-port = 2525\n"}
# step just done -> what a reader must find after the kill
STEPS = {
    "locked": OLD,
    "checked": OLD,
    "written": OLD,  # the new archive is in its temp file, not yet synced
    "synced": OLD,  # synced, not yet renamed
    "renamed": NEW,  # renamed, directory not yet synced
    "done": NEW,  # still holding the lock
}


@pytest.mark.parametrize("step", STEPS)
def test_a_writer_killed_after_each_step(step: str, tmp_path: Path) -> None:
    archive = ConfigArchive.in_domain(tmp_path)
    archive.create(OLD)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(archive.path), step],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == step
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.communicate(timeout=30)
    assert writer.returncode == -signal.SIGKILL

    found = archive.read()
    assert found.members == STEPS[step]

    # the kernel dropped the dead writer's lock; its temp file goes with the next write
    final = {**found.members, "vm.conf": b"after the crash\n"}
    archive.replace(found.checksum, final)
    assert archive.read().members == final
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "hosted-engine.configuration",
        "hosted-engine.configuration.lock",
    ]
