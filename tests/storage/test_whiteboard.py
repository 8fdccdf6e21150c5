"""The metadata file as a whole: scans, single slots, and the locked global update."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from hosted_engine.errors import (
    ChecksumError,
    MetadataError,
    MetadataTooNewError,
    UsageError,
)
from hosted_engine.storage.domain import METADATA_NAME, create_domain
from hosted_engine.storage.metadata import (
    SLOT_BYTES,
    GlobalFlags,
    HostRecord,
    encode_global,
    encode_slot,
)
from hosted_engine.storage.whiteboard import Whiteboard

STATE_MD = {"maintenance": "False", "state": "EngineUp", "stopped": "False"}


def record(host_id: int, **changes: object) -> HostRecord:
    fields: dict[str, object] = {
        "host_id": host_id,
        "host_ts": 1000 + host_id,
        "score": 3400,
        "engine_status": '{"vm": "up", "health": "good", "detail": "Up"}',
        "hostname": f"host{host_id}.example.com",
        "maintenance": False,
        "stopped": False,
    }
    return HostRecord(**(fields | changes))  # type: ignore[arg-type]


def slot(host_id: int, **changes: object) -> bytes:
    return encode_slot(record(host_id, **changes), STATE_MD, 0.0)


@pytest.fixture(params=[True, False], ids=["direct", "buffered"])
def board(request: pytest.FixtureRequest, tmp_path: Path) -> Whiteboard:
    return Whiteboard(create_domain(tmp_path, "sd") / METADATA_NAME, try_direct=request.param)


def raw_write(board: Whiteboard, index: int, data: bytes) -> None:
    """Bypass the whiteboard's checks to plant what a broken or foreign writer left."""
    with board.path.open("r+b") as f:
        f.seek(index * SLOT_BYTES)
        f.write(data.ljust(SLOT_BYTES, b"\0"))


# --- scan ----------------------------------------------------------------------------------


def test_fresh_domain_scans_empty(board: Whiteboard) -> None:
    scan = board.scan()
    assert (scan.global_flags, scan.hosts, scan.errors) == (GlobalFlags(), {}, {})


def test_scan_sorts_good_bad_and_empty_slots(board: Whiteboard) -> None:
    raw_write(board, 0, b"maintenance=1\ncolour=blue\n")
    board.write_slot(1, slot(1))
    raw_write(board, 2, slot(2).replace(b"|3400|", b"|3401|"))  # CRC no longer matches
    board.write_slot(3, slot(3))
    board.clear_slot(3)
    raw_write(board, 4, b"2|1|a record from a future version")
    raw_write(board, 7, slot(8))  # a record in somebody else's slot
    raw_write(board, 9, b"\xff\xfe garbage")
    board.write_slot(2000, slot(2000))

    scan = board.scan()

    assert scan.global_flags == GlobalFlags(maintenance=True)
    assert scan.global_warnings == ["Invalid global metadata key: 'colour'"]
    assert scan.hosts == {
        1: record(1, extra=scan.hosts[1].extra, crc32=scan.hosts[1].crc32),
        2000: record(2000, extra=scan.hosts[2000].extra, crc32=scan.hosts[2000].crc32),
    }
    assert scan.hosts[1].state == "EngineUp"
    assert sorted(scan.errors) == [2, 4, 7, 9]
    assert isinstance(scan.errors[2], ChecksumError)
    assert isinstance(scan.errors[4], MetadataTooNewError)
    assert "claims to be from host 8" in str(scan.errors[7])
    assert "not UTF-8" in str(scan.errors[9])


def test_bad_global_slot_is_reported_and_hosts_still_read(board: Whiteboard) -> None:
    raw_write(board, 0, b"maintenance=perhaps\n")
    board.write_slot(1, slot(1))
    scan = board.scan()
    assert scan.global_flags == GlobalFlags()
    assert "is not a boolean" in str(scan.errors[0])
    assert list(scan.hosts) == [1]


def test_scan_of_a_short_file_reads_what_is_there(tmp_path: Path) -> None:
    path = tmp_path / "short.metadata"
    path.write_bytes(encode_global(GlobalFlags(maintenance=True)) + slot(1) + slot(2)[:1024])
    scan = Whiteboard(path).scan()
    assert scan.global_flags.maintenance
    assert list(scan.hosts) == [1, 2]  # a partial slot still holds its 512-byte record


def test_scan_of_a_file_shorter_than_a_record_reports_the_stub(tmp_path: Path) -> None:
    path = tmp_path / "stub.metadata"
    path.write_bytes(bytes(SLOT_BYTES) + slot(1)[:100])
    scan = Whiteboard(path).scan()
    assert scan.hosts == {}
    assert "received 100 of 512" in str(scan.errors[1])


def test_scan_reuses_its_buffer_without_stale_slots(board: Whiteboard) -> None:
    board.write_slot(5, slot(5))
    assert list(board.scan().hosts) == [5]
    board.clear_slot(5)
    assert board.scan().hosts == {}


# --- single slots --------------------------------------------------------------------------


def test_slot_round_trip_and_clear(board: Whiteboard) -> None:
    assert board.read_slot(3) is None
    board.write_slot(3, slot(3, maintenance=True))
    found = board.read_slot(3)
    assert found is not None and found.maintenance
    board.clear_slot(3)
    assert board.read_slot(3) is None
    assert board.path.read_bytes()[3 * SLOT_BYTES : 4 * SLOT_BYTES] == bytes(SLOT_BYTES)


def test_read_slot_raises_for_a_bad_slot(board: Whiteboard) -> None:
    raw_write(board, 6, b"1|1|2|6")
    with pytest.raises(MetadataError, match="4 fields"):
        board.read_slot(6)


def test_huge_metadata_never_touches_the_neighbours(board: Whiteboard) -> None:
    """D5: the slot is bounded, so a verbose host cannot overwrite the next one."""
    board.write_slot(4, slot(4))
    board.write_slot(6, slot(6))
    before = board.path.read_bytes()
    huge = {f"k{i:05}": "v" * 100 for i in range(1000)}
    board.write_slot(5, encode_slot(record(5), huge, 0.0))
    after = board.path.read_bytes()
    assert after[: 5 * SLOT_BYTES] == before[: 5 * SLOT_BYTES]
    assert after[6 * SLOT_BYTES :] == before[6 * SLOT_BYTES :]
    assert set(board.scan().hosts) == {4, 5, 6}


def test_short_slot_data_is_nul_padded(board: Whiteboard) -> None:
    board.write_slot(2, slot(2)[:1024])
    assert board.read_slot(2) is not None
    assert board.path.read_bytes()[3 * SLOT_BYTES - 1] == 0


def test_oversized_slot_data_is_refused(board: Whiteboard) -> None:
    with pytest.raises(MetadataError, match="4097 bytes do not fit"):
        board.write_slot(1, bytes(SLOT_BYTES + 1))


@pytest.mark.parametrize("host_id", [0, -1, 2001])
def test_host_ids_outside_the_slots_are_refused(board: Whiteboard, host_id: int) -> None:
    with pytest.raises(UsageError, match="between 1 and 2000"):
        board.write_slot(host_id, slot(1))
    with pytest.raises(UsageError):
        board.read_slot(host_id)


# --- global flags --------------------------------------------------------------------------


def test_update_global_reads_back(board: Whiteboard) -> None:
    assert board.read_global() == GlobalFlags()
    assert board.update_global(maintenance=True) == GlobalFlags(maintenance=True)
    assert board.read_global() == GlobalFlags(maintenance=True)
    assert board.update_global() == GlobalFlags(maintenance=True)  # no change keeps flags
    assert board.update_global(maintenance=False) == GlobalFlags()


def test_update_global_refuses_unknown_keys(board: Whiteboard) -> None:
    with pytest.raises(UsageError, match="unknown global metadata keys: colour"):
        board.update_global(colour=True)


def test_update_global_overwrites_a_corrupt_block_only_when_setting_everything(
    board: Whiteboard,
) -> None:
    raw_write(board, 0, b"maintenance=perhaps\n")
    with pytest.raises(MetadataError):
        board.update_global()
    assert board.update_global(maintenance=True) == GlobalFlags(maintenance=True)


def _plus_one(block: bytes) -> bytes:
    return str(int(block.rstrip(b"\0") or b"0") + 1).encode().ljust(SLOT_BYTES, b"\0")


def _increment(board: Whiteboard, times: int, start: Barrier) -> None:
    start.wait()
    for _ in range(times):
        # the read-modify-write primitive update_global uses; a counter makes a lost
        # update visible, which a single boolean flag cannot
        board._modify_global_block(_plus_one)


def _toggle(board: Whiteboard, times: int, start: Barrier) -> None:
    start.wait()
    for i in range(times):
        board.update_global(maintenance=bool(i % 2))


def _run_together(
    target: Callable[[Whiteboard, int, Barrier], None], board: Whiteboard, workers: int, times: int
) -> None:
    """Fork ``workers`` processes (each with its own open file descriptions) that start at once."""
    context = multiprocessing.get_context("fork")
    start = context.Barrier(workers)
    processes = [context.Process(target=target, args=(board, times, start)) for _ in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        if process.is_alive():  # hung: do not leave it behind
            process.kill()
    assert [p.exitcode for p in processes] == [0] * workers


def test_concurrent_global_updates_lose_nothing(board: Whiteboard) -> None:
    _run_together(_increment, board, workers=4, times=50)
    assert board.path.read_bytes()[:SLOT_BYTES].rstrip(b"\0") == b"200"


def test_concurrent_update_global_leaves_a_valid_block(board: Whiteboard) -> None:
    _run_together(_toggle, board, workers=4, times=25)
    assert board.read_global() == GlobalFlags(maintenance=False)  # every worker ends on 0
