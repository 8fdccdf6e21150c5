"""Replace a file whole or not at all, durably: the one way this project writes a file in place.

A reader must see either the old content or the new, never a torn mix, and a power loss
right after the call returns must not bring the old content back. So: write a temp file
beside the target, fsync it, rename it over the target, fsync the directory. Temp files
are named ``<name>.tmp.<pid>.<random>`` so a later writer can sweep those of killed ones.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

# Crash tests kill a writer after a named step ("written", "synced", "renamed").
Checkpoint = Callable[[str], None]


def no_checkpoint(step: str) -> None:
    del step


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def leftover_temps(path: Path) -> Iterator[Path]:
    """Temp files that writers of ``path`` killed mid-write left behind."""
    return path.parent.glob(f"{path.name}.tmp.*")


def write_atomically(
    path: str | Path,
    data: bytes | str,
    *,
    mode: int = 0o644,
    checkpoint: Checkpoint = no_checkpoint,
) -> None:
    """Replace ``path`` with ``data``; raises ``OSError`` (the caller names the failure)."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, name = tempfile.mkstemp(prefix=f"{path.name}.tmp.{os.getpid()}.", dir=path.parent)
    tmp = Path(name)
    try:
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            checkpoint("written")
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        checkpoint("synced")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    checkpoint("renamed")
    fsync_directory(path.parent)
