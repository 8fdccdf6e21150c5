"""files.regular.read_bounded: reads what a file holds, refuses what it must not read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hosted_engine.errors import UsageError
from hosted_engine.files import regular


def test_reads_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    data = os.urandom(200_000)
    path.write_bytes(data)
    assert regular.read_bounded(path, 1 << 20, UsageError) == data


def test_missing_file_is_none(tmp_path: Path) -> None:
    assert regular.read_bounded(tmp_path / "absent", 10, UsageError) is None


def test_a_file_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 11)
    with pytest.raises(UsageError, match="more than the 10 bytes"):
        regular.read_bounded(path, 10, UsageError)


def test_a_file_at_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    assert regular.read_bounded(path, 10, UsageError) == b"x" * 10


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    with pytest.raises(UsageError, match="not a regular file"):
        regular.read_bounded(path, 10, UsageError)


def test_the_read_asks_for_the_size_not_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read of the limit would allocate the limit (64 MiB per OVF_STORE copy)."""
    path = tmp_path / "f"
    path.write_bytes(b"y" * 1000)
    asked: list[int] = []
    real_read = os.read

    def spy(fd: int, n: int) -> bytes:
        asked.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(regular.os, "read", spy)
    assert regular.read_bounded(path, 64 << 20, UsageError) == b"y" * 1000
    assert max(asked) <= 64 * 1024
