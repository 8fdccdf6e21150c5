"""Idle cost of the daemons: CPU and memory of each broker and agent of a quiet cluster.

Brings up a 3-host lab in the default (production) profile (``--hosts``, ``--profile``:
a fast-profile run does its periodic work ten times as often, which magnifies a leak per
period), waits until it is settled,
then every ``--interval`` seconds samples each broker's and agent's CPU time (user + sys)
and RSS with psutil. Reports, per process and per host (broker + agent together), the
average CPU in % of one core, the RSS at the start and the end, and the RSS growth per
minute from a least-squares fit over all samples and over the second half alone (a leak
keeps its slope; a warm-up flattens out). Bounded histories fill for their first minutes
(the broker's CPU-load average keeps 15 minutes of samples): ``--warmup 900`` measures
the steady state after them.

    python benchmarks/idle.py [--minutes M] [--interval S] [--warmup S] [--csv FILE]
                              [--hosts N] [--profile default|fast]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import _lab
import psutil
from _lab import log, table, verdict

from hosted_engine.config.timing import PROFILES
from hosted_engine.errors import HostedEngineError
from hosted_engine.lab import processes
from hosted_engine.lab.cluster import Lab

HOSTS = 3
CPU_TARGET = 1.0  # % of one core, broker + agent of one host
RSS_TARGET_MB = 80.0  # broker + agent of one host
LATE_TARGET = 1.0  # KB/min in the second half, once the warm-ups are over
PAGE_KB = 4.0


@dataclass
class Track:
    host_id: int
    kind: str  # broker | agent
    proc: psutil.Process
    at: list[float] = field(default_factory=list)  # monotonic seconds
    cpu: list[float] = field(default_factory=list)  # user + system seconds
    rss: list[int] = field(default_factory=list)  # bytes
    children_cpu: float = 0.0
    lost: str | None = None  # why sampling stopped (the process went away)

    def sample(self, now: float) -> None:
        if self.lost is not None:
            return
        try:
            with self.proc.oneshot():
                times = self.proc.cpu_times()
                rss = self.proc.memory_info().rss
        except psutil.Error as e:
            self.lost = f"{type(e).__name__} at +{now - self.at[0]:.0f} s" if self.at else str(e)
            return
        self.at.append(now)
        self.cpu.append(times.user + times.system)
        self.rss.append(rss)
        self.children_cpu = times.children_user + times.children_system

    @property
    def minutes(self) -> float:
        return (self.at[-1] - self.at[0]) / 60 if len(self.at) > 1 else 0.0

    @property
    def cpu_percent(self) -> float:
        wall = self.at[-1] - self.at[0]
        return 100 * (self.cpu[-1] - self.cpu[0]) / wall if wall > 0 else 0.0

    @property
    def growth_kb_per_min(self) -> float:
        """Least-squares slope of RSS over time."""
        return _slope(self.at, self.rss)

    @property
    def late_growth_kb_per_min(self) -> float:
        """The slope over the second half only: a leak keeps its slope, a warm-up does not."""
        half = len(self.at) // 2
        return _slope(self.at[half:], self.rss[half:])


def _slope(at: list[float], rss: list[int]) -> float:
    if len(at) < 3:
        return 0.0
    x = [(t - at[0]) / 60 for t in at]
    y = [r / 1024 for r in rss]
    return statistics.linear_regression(x, y).slope


def find_tracks(lab: Lab, hosts: int) -> list[Track]:
    tracks = []
    for host_id in range(1, hosts + 1):
        found = processes.host_processes(lab.dir, host_id)
        for kind in ("broker", "agent"):
            if len(found[kind]) != 1:
                raise RuntimeError(f"host {host_id}: {len(found[kind])} {kind} processes")
            tracks.append(Track(host_id, kind, found[kind][0]))
    return tracks


def measure(tracks: list[Track], minutes: float, interval: float) -> None:
    start = time.monotonic()
    end = start + minutes * 60
    next_at = start
    count = 0
    while True:
        now = time.monotonic()
        for track in tracks:
            track.sample(now)
        count += 1
        if count % max(1, int(60 / interval)) == 1:
            rss = sum(t.rss[-1] for t in tracks if t.rss) / 2**20
            log(f"  +{now - start:5.0f} s: {count} samples, total RSS {rss:.1f} MB")
        if now >= end:
            return
        next_at += interval
        time.sleep(max(0.0, min(next_at, end) - time.monotonic()))


def growth_limit(minutes: float) -> float:
    """ "No growth", as a slope: one 4 KiB page over the run, at least 1 KB/min (the
    reference leaked 7.3 KB/min). A shorter run cannot resolve a smaller slope."""
    return max(1.0, PAGE_KB / minutes) if minutes > 0 else float("inf")


def report(tracks: list[Track], minutes: float, profile: str) -> None:
    limit = growth_limit(minutes)
    rows = []
    for t in tracks:
        rows.append(
            [
                f"host {t.host_id} {t.kind} (pid {t.proc.pid})",
                f"{t.cpu_percent:.2f}",
                f"{t.rss[0] / 2**20:.1f}",
                f"{t.rss[-1] / 2**20:.1f}",
                f"{t.growth_kb_per_min:+.2f}",
                f"{t.late_growth_kb_per_min:+.2f}",
                f"{len(t.at)}" + (f" (lost: {t.lost})" if t.lost else ""),
            ]
        )
    log("")
    log(f"per process, {minutes:.1f} min of samples")
    header = ["process", "CPU %", "RSS start MB", "RSS end MB", "KB/min", "2nd half", "samples"]
    log(table(rows, header))
    children = [t for t in tracks if t.children_cpu > 0]
    for t in children:
        log(f"  note: host {t.host_id} {t.kind}: {t.children_cpu:.2f} s CPU in waited children")

    rows = []
    for host_id in sorted({t.host_id for t in tracks}):
        pair = [t for t in tracks if t.host_id == host_id]
        cpu = sum(t.cpu_percent for t in pair)
        rss = sum(t.rss[-1] for t in pair) / 2**20
        growth = sum(t.growth_kb_per_min for t in pair)
        late = sum(t.late_growth_kb_per_min for t in pair)
        rows.append(
            [
                f"host {host_id} broker + agent",
                f"{cpu:.2f} %  {verdict(cpu <= CPU_TARGET)}",
                f"{rss:.1f} MB  {verdict(rss <= RSS_TARGET_MB)}",
                f"{growth:+.2f} KB/min  {verdict(growth <= limit)}",
                f"{late:+.2f} KB/min  {verdict(late <= LATE_TARGET)}",
            ]
        )
    log("")
    log(
        f"targets: CPU <= {CPU_TARGET:g} % of a core, RSS <= {RSS_TARGET_MB:g} MB, "
        f"RSS growth none (taken as <= {limit:.2f} KB/min for this run length) and "
        f"<= {LATE_TARGET:g} KB/min in the second half; oVirt leaked 7.3 KB/min"
    )
    header = [f"figure ({profile} profile, idle)", "CPU", "RSS at end", "RSS growth", "2nd half"]
    log(table(rows, header))
    worst = max(tracks, key=lambda t: t.growth_kb_per_min)
    log(
        f"worst single process: host {worst.host_id} {worst.kind} "
        f"{worst.growth_kb_per_min:+.2f} KB/min "
        f"({(worst.rss[-1] - worst.rss[0]) / 1024:+.0f} KB over the run)"
    )


def write_csv(path: Path, tracks: list[Track]) -> None:
    start = min(t.at[0] for t in tracks)
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["host", "process", "pid", "seconds", "cpu_seconds", "rss_bytes"])
        for t in tracks:
            for at, cpu, rss in zip(t.at, t.cpu, t.rss, strict=True):
                out.writerow([t.host_id, t.kind, t.proc.pid, f"{at - start:.1f}", cpu, rss])
    log(f"samples written to {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to sample")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument(
        "--warmup", type=float, default=30.0, help="seconds to wait once settled, unsampled"
    )
    parser.add_argument("--hosts", type=int, default=HOSTS, help="hosts in the lab")
    parser.add_argument(
        "--profile", choices=sorted(PROFILES), default="default", help="the lab's timing profile"
    )
    parser.add_argument("--keep-dir", action="store_true", help="keep the lab dir (its logs)")
    parser.add_argument("--csv", type=Path, help="also write every sample to this CSV file")
    args = parser.parse_args()
    if args.hosts < 1:
        parser.error("--hosts must be at least 1")

    tracks: list[Track] = []
    try:
        with _lab.temp_lab(args.hosts, args.profile, keep_dir=args.keep_dir) as lab:
            timing = _lab.timing_of(lab)
            # one host has nobody to stand by for it
            waited = _lab.wait_settled(
                lab, 300.0, 2 * timing.loop_period, 1.0, need_standby=args.hosts > 1
            )
            log(f"settled {waited:.1f} s after up; warm-up {args.warmup:.0f} s")
            time.sleep(args.warmup)
            tracks = find_tracks(lab, args.hosts)
            log(f"sampling {len(tracks)} processes every {args.interval:g} s")
            measure(tracks, args.minutes, args.interval)
            reason = _lab.unsettled_reason(lab, need_standby=args.hosts > 1)
            if reason is not None:
                log(f"note: at the end the cluster was not settled: {reason}")
    except (TimeoutError, RuntimeError, HostedEngineError) as e:
        log(f"benchmark interrupted: {e}")
    except KeyboardInterrupt:
        log("interrupted")
    usable = [t for t in tracks if len(t.at) >= 2]
    if usable and args.csv is not None:
        write_csv(args.csv, usable)
    if usable:
        report(usable, max(t.minutes for t in usable), args.profile)
    else:
        log("no samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
