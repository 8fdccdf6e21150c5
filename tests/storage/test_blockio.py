"""Aligned block I/O: O_DIRECT where the filesystem takes it, buffered + fsync otherwise.

tmp_path lives on ext4 here, which enforces O_DIRECT alignment, so these tests exercise
the real constraint rather than a filesystem that accepts anything.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from hosted_engine.errors import StorageError
from hosted_engine.storage.blockio import BlockFile, aligned_buffer


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "blocks"
    path.write_bytes(bytes(8192))
    return path


def test_direct_io_round_trip(data_file: Path) -> None:
    with BlockFile(data_file, writable=True) as f:
        assert f.direct
        f.pwrite(4096, b"x" * 512)
        assert f.pread(4096, 1024) == b"x" * 512 + bytes(512)
    assert data_file.read_bytes()[4096:4608] == b"x" * 512


def test_kernel_enforces_alignment_under_o_direct(data_file: Path) -> None:
    """The premise of the fallback: misaligned direct I/O fails with EINVAL on this fs."""
    fd = os.open(data_file, os.O_RDONLY | os.O_DIRECT)
    try:
        with pytest.raises(OSError) as caught:
            os.pread(fd, 100, 3)
        assert caught.value.errno == errno.EINVAL
    finally:
        os.close(fd)


@pytest.mark.parametrize("try_direct", [True, False])
@pytest.mark.parametrize(("offset", "length"), [(3, 512), (512, 100), (-512, 512)])
def test_misaligned_requests_are_refused_in_both_modes(
    data_file: Path, try_direct: bool, offset: int, length: int
) -> None:
    with BlockFile(data_file, writable=True, try_direct=try_direct) as f:
        with pytest.raises(StorageError, match="multiples of 512") as caught:
            f.pread(offset, length)
        assert str(data_file) in str(caught.value)
        with pytest.raises(StorageError, match="multiples of 512"):
            f.pwrite(offset, b"y" * length)


def test_forced_buffered_mode_fsyncs_every_write(
    data_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    with BlockFile(data_file, writable=True, try_direct=False) as f:
        assert not f.direct
        f.pwrite(0, b"a" * 512)
        f.pwrite(512, b"b" * 512)
        assert f.pread(0, 1024) == b"a" * 512 + b"b" * 512
    assert len(synced) == 2


def test_einval_at_open_falls_back_to_buffered(
    data_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filesystem without O_DIRECT support refuses it at open with EINVAL."""
    real_open = os.open

    def open_without_direct(path: Path, flags: int, *args: int) -> int:
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", open_without_direct)
    with BlockFile(data_file, writable=True) as f:
        assert not f.direct
        f.pwrite(0, b"z" * 512)
        assert f.pread(0, 512) == b"z" * 512


def test_missing_file_is_a_one_line_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "absent"
    with pytest.raises(StorageError) as caught:
        BlockFile(path)
    message = str(caught.value)
    assert message == f"cannot open {path}: No such file or directory"


def test_read_past_end_of_file_is_short(data_file: Path) -> None:
    with BlockFile(data_file) as f:
        assert len(f.pread(4096, 16384)) == 4096
        assert f.pread(65536, 512) == b""


def test_empty_requests_are_no_ops(data_file: Path) -> None:
    with BlockFile(data_file, writable=True) as f:
        assert f.pread(512, 0) == b""
        f.pwrite(512, b"")
    assert data_file.read_bytes() == bytes(8192)


def test_pread_into_reuses_a_caller_buffer(data_file: Path) -> None:
    data_file.write_bytes(b"q" * 1024)
    with BlockFile(data_file) as f, aligned_buffer(4096) as buffer:
        assert f.pread_into(0, buffer) == 1024
        assert buffer[:1024] == b"q" * 1024


def test_write_to_read_only_file_reports_path_and_reason(data_file: Path) -> None:
    with BlockFile(data_file) as f, pytest.raises(StorageError) as caught:
        f.pwrite(0, bytes(512))
    assert str(caught.value) == f"cannot write {data_file} at offset 0: Bad file descriptor"


def test_use_after_close_is_a_storage_error(data_file: Path) -> None:
    f = BlockFile(data_file)
    f.close()
    f.close()  # idempotent
    with pytest.raises(StorageError, match="is closed"):
        f.pread(0, 512)
