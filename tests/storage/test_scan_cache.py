"""Repeated scans: a cached scan always equals a fresh decode of the same bytes, and
hosts beyond the slots in use are still found within the documented bound."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hosted_engine.storage import scan_cache
from hosted_engine.storage.domain import METADATA_NAME, create_domain
from hosted_engine.storage.metadata import (
    SLOT_BYTES,
    GlobalFlags,
    HostRecord,
    encode_global,
    encode_slot,
)
from hosted_engine.storage.scan_cache import FULL_SCAN_EVERY, SCAN_MARGIN
from hosted_engine.storage.whiteboard import Scan, Whiteboard


def slot(host_id: int, ts: int = 1000, state: str = "EngineUp") -> bytes:
    record = HostRecord(host_id, ts, 3400, '{"vm": "up"}', f"host{host_id}", False, False)
    return encode_slot(record, {"state": state}, 0.0)


def plant(path: Path, index: int, data: bytes) -> None:
    with path.open("r+b") as f:
        f.seek(index * SLOT_BYTES)
        f.write(data.ljust(SLOT_BYTES, b"\0")[:SLOT_BYTES])


def fresh(path: Path) -> Scan:
    return Whiteboard(path, try_direct=False).scan()


def same_scan(a: Scan, b: Scan) -> None:
    assert a.global_flags == b.global_flags
    assert a.global_warnings == b.global_warnings
    assert list(a.hosts.items()) == list(b.hosts.items())  # order too
    assert {k: str(e) for k, e in a.errors.items()} == {k: str(e) for k, e in b.errors.items()}
    assert list(a.errors) == list(b.errors)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return create_domain(tmp_path, "sd") / METADATA_NAME


def test_unchanged_slots_are_not_decoded_again(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plant(path, 1, slot(1))
    plant(path, 2, slot(2))
    board = Whiteboard(path, try_direct=False)
    first = board.scan()
    decoded: list[int] = []
    real = scan_cache.decode_slot

    def counting(index: int, data: memoryview) -> HostRecord:
        decoded.append(index)
        return real(index, data)

    monkeypatch.setattr(scan_cache, "decode_slot", counting)
    assert board.scan().hosts == first.hosts
    assert decoded == []
    plant(path, 2, slot(2, ts=1001))
    assert board.scan().hosts[2].host_ts == 1001
    assert decoded == [2]


def test_a_host_within_the_margin_is_seen_at_the_next_scan(path: Path) -> None:
    plant(path, 1, slot(1))
    board = Whiteboard(path, try_direct=False)
    board.scan()
    plant(path, 1 + SCAN_MARGIN, slot(1 + SCAN_MARGIN))
    assert 1 + SCAN_MARGIN in board.scan().hosts


def test_a_host_far_beyond_is_seen_within_the_full_scan_period(path: Path) -> None:
    plant(path, 1, slot(1))
    board = Whiteboard(path, try_direct=False)
    board.scan()  # the first scan is full
    board.scan()
    plant(path, 2000, slot(2000))
    seen_after = next(n for n in range(1, FULL_SCAN_EVERY + 1) if 2000 in board.scan().hosts)
    assert seen_after <= FULL_SCAN_EVERY - 1


def test_a_fresh_whiteboard_sees_every_host_at_once(path: Path) -> None:
    plant(path, 2000, slot(2000))
    assert list(fresh(path).hosts) == [2000]


def test_slots_that_change_kind_keep_the_slot_order(path: Path) -> None:
    for index in (1, 2, 3):
        plant(path, index, slot(index))
    board = Whiteboard(path, try_direct=False)
    board.scan()
    plant(path, 2, b"garbage")  # host -> error
    plant(path, 1, b"")  # host -> empty
    plant(path, 0, encode_global(GlobalFlags(maintenance=True)))
    same_scan(board.scan(), fresh(path))
    plant(path, 2, slot(2, ts=5))  # error -> host, appended last unless reordered
    plant(path, 1, slot(1, ts=5))
    scan = board.scan()
    same_scan(scan, fresh(path))
    assert list(scan.hosts) == [1, 2, 3]


def test_a_file_that_shrinks_drops_the_slots_past_its_end(path: Path) -> None:
    plant(path, 3, slot(3))
    plant(path, 9, slot(9))
    board = Whiteboard(path, try_direct=False)
    assert list(board.scan().hosts) == [3, 9]
    with path.open("r+b") as f:
        f.truncate(5 * SLOT_BYTES)
    assert list(board.scan().hosts) == [3]


def _without_memcmp(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_libc(name: object) -> object:
        raise OSError("no C library here")

    monkeypatch.setattr(ctypes, "CDLL", no_libc)


# One step: write a slot (a record, junk, or NULs), truncate the file, or only scan.
slot_contents = st.one_of(
    st.builds(slot, st.integers(1, 40), st.integers(0, 3), st.sampled_from(["A", "B"])),
    st.binary(max_size=64),
    st.just(b""),
    st.just(b"maintenance=1"),
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(0, 40), slot_contents),
        st.tuples(st.just("write"), st.integers(41, 2000), slot_contents),
        st.tuples(st.just("truncate"), st.integers(1, 2001), st.just(b"")),
        st.tuples(st.just("scan"), st.just(0), st.just(b"")),
    ),
    max_size=25,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=steps, memcmp=st.booleans())
def test_cached_scans_equal_fresh_scans_within_the_bound(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    steps: list[tuple[str, int, bytes]],
    memcmp: bool,
) -> None:
    """A full scan, or any scan where no slot in use lies more than the margin past the
    highest one the previous scan saw, equals a fresh read of the same file."""
    path = tmp_path / "fuzz.metadata"
    with path.open("wb") as f:
        f.truncate(scan_cache.SCAN_BYTES)  # sparse: a domain's size without its writes
    with monkeypatch.context() as m:
        if not memcmp:
            _without_memcmp(m)
        board = Whiteboard(path, try_direct=False)
    seen = board.scan()
    for number, (action, index, data) in enumerate(steps, start=1):
        if action == "write" and path.stat().st_size >= (index + 1) * SLOT_BYTES:
            plant(path, index, data)
        elif action == "truncate":
            with path.open("r+b") as f:
                f.truncate(index * SLOT_BYTES)
        scan, truth = board.scan(), fresh(path)
        highest = max([*seen.hosts, *seen.errors, 0])
        if number % FULL_SCAN_EVERY == 0 or all(
            i <= highest + SCAN_MARGIN for i in [*truth.hosts, *truth.errors]
        ):
            same_scan(scan, truth)
        seen = scan
