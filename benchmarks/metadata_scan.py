"""How long a full whiteboard scan takes: the read every broker does every loop.

Builds a scratch storage domain (on ext4 under /tmp by default, so O_DIRECT is real),
populates a few slots and then all 2000, and times ``Whiteboard.scan()``: a broker's
repeated scans (its cache decodes only changed slots), the same with 10 slots rewritten
before each scan, and a cold scan by a fresh Whiteboard (one ``--vm-status``).

    python benchmarks/metadata_scan.py [--dir DIR] [--runs N] [--buffered]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hosted_engine.storage.blockio import BlockFile, aligned_buffer
from hosted_engine.storage.domain import METADATA_NAME, create_domain
from hosted_engine.storage.metadata import MAX_HOST_ID, HostRecord, encode_slot
from hosted_engine.storage.scan_cache import FULL_SCAN_EVERY
from hosted_engine.storage.whiteboard import SCAN_BYTES, Whiteboard

TARGET = "≤ 5 ms (oVirt ~30 ms)"
STATE_MD = {"maintenance": "False", "state": "EngineDown", "stopped": "False"}


def publish(board: Whiteboard, host_ids: range | list[int], ts: int = 100_000) -> None:
    for host_id in host_ids:
        record = HostRecord(
            host_id=host_id,
            host_ts=ts + host_id,
            score=3400,
            engine_status='{"vm": "down", "health": "bad", "detail": "unknown", '
            '"reason": "vm not running on this host"}',
            hostname=f"host{host_id}.example.com",
            maintenance=False,
            stopped=False,
            local_conf_timestamp=99_990,
        )
        board.write_slot(host_id, encode_slot(record, STATE_MD, time.time() - time.monotonic()))


def time_scans(
    board: Whiteboard,
    runs: int,
    expected_hosts: int,
    between: Callable[[int], None] | None = None,
) -> list[float]:
    """A broker's repeated scans (one Whiteboard, so its cache); ``between`` runs untimed
    before each scan (other hosts rewriting their slots)."""
    for _ in range(FULL_SCAN_EVERY):
        board.scan()  # warm-up: the buffers' pages, and a full scan to find every host
    times = []
    for run in range(runs):
        if between is not None:
            between(run)
        start = time.perf_counter()
        scan = board.scan()
        times.append((time.perf_counter() - start) * 1000)
        assert len(scan.hosts) == expected_hosts and not scan.errors
    return times


def time_cold_scans(path: Path, runs: int, expected_hosts: int, buffered: bool) -> list[float]:
    """A fresh Whiteboard each time: what one ``hosted-engine --vm-status`` pays."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        scan = Whiteboard(path, try_direct=not buffered).scan()
        times.append((time.perf_counter() - start) * 1000)
        assert len(scan.hosts) == expected_hosts and not scan.errors
    return times


def time_reads(board: Whiteboard, runs: int, buffered: bool) -> list[float]:
    """The bare single read a scan starts with, to tell I/O from decoding."""
    times = []
    with aligned_buffer(SCAN_BYTES) as buffer:
        for _ in range(runs):
            start = time.perf_counter()
            with BlockFile(board.path, try_direct=not buffered) as file:
                file.pread_into(0, buffer)
            times.append((time.perf_counter() - start) * 1000)
    return times


def report(label: str, times: list[float]) -> None:
    print(
        f"{label:<26} median {statistics.median(times):6.2f} ms   "
        f"min {min(times):6.2f} ms   max {max(times):6.2f} ms   target {TARGET}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="where to create the domain")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--buffered", action="store_true", help="force buffered I/O")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="he-scan-bench-") as scratch:
        board = Whiteboard(
            create_domain(Path(scratch), "bench") / METADATA_NAME, try_direct=not args.buffered
        )
        print(f"{board.path} (direct I/O: {'yes' if not args.buffered else 'no, forced'})")
        publish(board, range(1, 4))
        report("3 populated slots", time_scans(board, args.runs, 3))
        report("  of which the read", time_reads(board, args.runs, args.buffered))
        publish(board, range(4, MAX_HOST_ID + 1))
        report(f"{MAX_HOST_ID} populated slots", time_scans(board, args.runs, MAX_HOST_ID))
        report("  of which the read", time_reads(board, args.runs, args.buffered))

        def ten_hosts_write(run: int) -> None:
            publish(board, [1 + (run * 10 + k) * 7 % MAX_HOST_ID for k in range(10)], run)

        report(
            "  10 slots rewritten each",
            time_scans(board, args.runs, MAX_HOST_ID, between=ten_hosts_write),
        )
        report(
            "  cold (fresh Whiteboard)",
            time_cold_scans(board.path, max(5, args.runs // 5), MAX_HOST_ID, args.buffered),
        )


if __name__ == "__main__":
    main()
