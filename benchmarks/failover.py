"""Failover time: kill the engine's host (or only its VM), time until a new engine VM is healthy.

Brings up a 3-host lab in a temporary directory, then each round: finds the host running
the engine VM, SIGKILLs it (``--mode host``: broker, agent and VM, a power loss;
``--mode vm``: only the VM; ``--mode freeze``: SIGSTOP every process of the host, which
only its watchdog can end), and times until the engine URL answers 200 again from a
*different* VM process (its pid, read from the engine's ``/`` page, must differ from the
killed one) that is still running two loop periods later: a new VM that answers and then
dies is reported, and the clock runs on. Then the killed host is started again and the
cluster left to settle before the next round. A background thread samples the engine VM
processes every 50 ms: more than one at any moment would break the product's first
invariant. The report gives the median and the tail (p95, max) over the rounds: one slow
round in eight is what users remember. Each kill is logged with its wall-clock time (to
find it in the agents' logs, kept with ``--keep-dir``) and the load average, since the
lab shares the machine with whatever else runs on it.

With ``--leases sanlock`` every host runs its own sanlock daemon; a power loss kills it
too, so another host may take the VM lease only once the dead host's delta lease has
expired (sanlock's fixed 8 io timeouts + 60 s). ``--leases both`` runs the rounds on an
fcntl lab, then on a sanlock lab, and compares the two (issue 9: kill-vm with sanlock
within 2 s of fcntl).

    python benchmarks/failover.py [--profile fast|default] [--mode host|vm|freeze] [--rounds N]
                                  [--leases fcntl|sanlock|both] [--keep-dir]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass

import _lab
import psutil
from _lab import EngineSampler, Sample, log, summary, table, verdict

from hosted_engine.config.timing import PROFILES
from hosted_engine.errors import HostedEngineError
from hosted_engine.lab import processes, sanlock_daemons
from hosted_engine.lab.cluster import Lab
from hosted_engine.locking import LEASE_BACKENDS

HOSTS = 3
HOST_TARGETS = {"fast": 8.0, "default": 30.0}
P95_TARGETS = {("host", "default"): 6.0}  # issue 12: the tail, not only the median
OVIRT = {("host", "default"): "~300 s", ("vm", "default"): "~60 s"}


@dataclass
class Round:
    number: int
    old_host: int
    old_pid: int
    new_host: int
    new_pid: int
    healthy: float  # kill -> engine healthy from the new VM process
    lease_free: float | None  # kill -> VM lease seen free
    lease_taken: float | None  # kill -> VM lease seen held again
    lease_taker: int | None
    new_vm_seen: float | None  # kill -> a new payload process seen
    final_vm_seen: float | None  # kill -> the payload that ended the failover seen
    settle: float  # after the round: restart + settle time (not part of the figure)
    # new VMs that answered healthy but died before they were confirmed: (host, pid, at)
    flaps: list[tuple[int, int, float]]

    @property
    def boot(self) -> float | None:
        """The final payload seen -> healthy: the engine's own start, not the HA stack's."""
        return None if self.final_vm_seen is None else self.healthy - self.final_vm_seen


def _breakdown(
    samples: list[Sample], killed_at: float, old_pids: set[int], new_pid: int
) -> tuple[float | None, float | None, int | None, float | None, float | None]:
    """From the sampler, seconds after the kill: lease seen free, lease held again (and by
    which host), first new VM process seen, and the VM that ended the failover seen."""
    lease_free: float | None = None
    lease_taken: float | None = None
    new_vm: float | None = None
    final_vm: float | None = None
    taker: int | None = None
    for s in samples:
        if lease_free is None and s.lease_holder is None:
            lease_free = s.at - killed_at
        elif lease_free is not None and lease_taken is None and s.lease_holder is not None:
            lease_taken, taker = s.at - killed_at, s.lease_holder
        if new_vm is None and s.vm_pids - old_pids:
            new_vm = s.at - killed_at
        if final_vm is None and new_pid in s.vm_pids:
            final_vm = s.at - killed_at
    return lease_free, lease_taken, taker, new_vm, final_vm


def wait_new_engine(
    url: str, old_pid: int, deadline: float, confirm: float
) -> tuple[tuple[int, int], float, list[tuple[int, int, float]]]:
    """Wait for an engine VM other than ``old_pid`` to answer healthy and keep answering.

    Returns its (host, pid), when it first answered, and the new VMs that answered but
    whose process then died within ``confirm`` seconds (they do not count as the
    failover's end). A missed health check of a still-running candidate is not a death.
    """
    candidate: tuple[int, int] | None = None
    first_at = 0.0
    flaps: list[tuple[int, int, float]] = []
    while True:
        now = time.monotonic()
        if now >= deadline:
            raise TimeoutError("timed out waiting for a new healthy engine VM")
        found = _lab.healthy_identity(url, timeout=0.5)
        now = time.monotonic()
        if candidate is not None and found != candidate and not psutil.pid_exists(candidate[1]):
            flaps.append((*candidate, first_at))
            candidate = None
        if found is not None and found[1] != old_pid:
            if candidate is None or found != candidate:
                candidate, first_at = found, now
            elif now - first_at >= confirm:
                return candidate, first_at, flaps
        time.sleep(0.05)


def one_round(
    lab: Lab,
    sampler: EngineSampler,
    number: int,
    mode: str,
    wait_limit: float,
    poll: float,
    last: bool,
) -> Round:
    url = lab.manifest.engine_url
    identity = _lab.wait_for(
        lambda: _lab.healthy_identity(url), wait_limit, poll, "the engine before the kill"
    )
    old_host, old_pid = identity
    if lab.engine_host() != old_host:
        raise RuntimeError(f"engine page says host {old_host}, lease says {lab.engine_host()}")
    old_vm_pids = {p.pid for p in lab.engine_vms()}
    if mode == "vm":
        victims = processes.host_processes(lab.dir, old_host)["vm"]
    else:  # a power loss: everything of the host, its sanlock daemon too
        victims = processes.every_process(lab.dir, old_host)

    killed_at = time.monotonic()
    if mode == "freeze":
        lab.freeze_host(old_host)  # its watchdog must reset it
    else:
        processes.kill_now(victims)
    # wall clock, to find the round in the agents' logs (kept with --keep-dir)
    log(
        f"round {number}: {'SIGSTOP' if mode == 'freeze' else 'SIGKILL'} to host {old_host} "
        f"({mode}) at {time.strftime('%H:%M:%S')}, "
        f"load average {_load()}"
    )

    timing = _lab.timing_of(lab)
    (new_host, new_pid), healthy_at, flaps = wait_new_engine(
        url, old_pid, killed_at + wait_limit, confirm=2 * timing.loop_period
    )
    healthy = healthy_at - killed_at
    lease_free, lease_taken, taker, new_vm, final_vm = _breakdown(
        sampler.since(killed_at), killed_at, old_vm_pids, new_pid
    )

    settle_start = time.monotonic()
    if mode == "freeze":
        lab.thaw_host(old_host)
    if mode in ("host", "freeze"):
        lab.start_host(old_host)
    # After the last round no host need stand by: the hosts whose VM was killed may sit
    # out their EngineUnexpectedlyDown penalty (560 s in the default profile).
    _lab.wait_settled(lab, wait_limit * 3, 2 * timing.loop_period, poll, need_standby=not last)
    return Round(
        number=number,
        old_host=old_host,
        old_pid=old_pid,
        new_host=new_host,
        new_pid=new_pid,
        healthy=healthy,
        lease_free=lease_free,
        lease_taken=lease_taken,
        lease_taker=taker,
        new_vm_seen=new_vm,
        final_vm_seen=final_vm,
        settle=time.monotonic() - settle_start,
        flaps=[(host, pid, at - killed_at) for host, pid, at in flaps],
    )


def _load() -> str:
    """The 1/5/15-minute load average: the machine may be shared with other work."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile, interpolated between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def sanlock_takeover_limit() -> float:
    """A dead host's VM lease is free after 8 io timeouts + 60 s; then a start."""
    return 8 * sanlock_daemons.IO_TIMEOUT + 60 + 8.0


def report(
    rounds: list[Round],
    mode: str,
    profile: str,
    leases: str,
    max_vms: int,
    sampled: str,
    compare_to: float | None = None,
) -> float:
    """Logs the figures and returns the median kill -> healthy."""
    timing = PROFILES[profile]
    log("")
    log(f"failover, --mode {mode}, --profile {profile}, {leases} leases ({len(rounds)} rounds)")
    rows = [
        [
            str(r.number),
            f"{r.old_host} (pid {r.old_pid})",
            f"{r.new_host} (pid {r.new_pid})",
            _s(r.lease_free),
            f"{_s(r.lease_taken)} (host {r.lease_taker})",
            _s(r.new_vm_seen),
            _s(r.boot),
            f"{r.healthy:.2f}",
            f"{r.settle:.1f}",
        ]
        for r in rounds
    ]
    log(
        table(
            rows,
            [
                "round",
                "killed host",
                "new engine",
                "lease free",
                "lease taken",
                "new VM seen",
                "VM boot",
                "HEALTHY",
                "settle",
            ],
        )
    )
    log(
        "(seconds after the SIGKILL; 'VM boot' = the new engine's process seen -> healthy; "
        "settle is not counted)"
    )
    for r in rounds:
        for host, pid, at in r.flaps:
            log(
                f"round {r.number}: a new VM on host {host} (pid {pid}) answered healthy at "
                f"{at:.2f} s but died before it was confirmed; not counted as the failover"
            )
    log("")
    healthy = [r.healthy for r in rounds]
    med, lo, hi = summary(healthy)
    if leases == "sanlock" and mode in ("host", "freeze"):
        target = sanlock_takeover_limit()
        target_text = f"<= 8*io_timeout + 60 + a start = {target:g} s"
        ok = med <= target
    elif leases == "sanlock" and compare_to is not None:  # issue 9: within 2 s of fcntl
        target = compare_to + 2.0
        target_text = f"<= fcntl + 2 = {compare_to:.2f} + 2 s"
        ok = med <= target
    elif mode == "host":
        target = HOST_TARGETS[profile]
        target_text = f"<= {target:.0f} s"
        ok = med <= target
    elif mode == "freeze":  # issue 9: the watchdog resets the host, then a start
        target = timing.watchdog_timeout + 5.0
        target_text = f"<= watchdog_timeout + 5 = {target:g} s"
        ok = med <= target
    else:
        boots = [r.boot for r in rounds if r.boot is not None]
        boot = summary(boots)[0] if boots else 0.0
        target = 2 * timing.loop_period + boot
        target_text = f"<= 2 loop periods + start = 2*{timing.loop_period:g} + {boot:.2f} s"
        ok = med <= target
    what = {"host": "kill-host", "vm": "kill-vm", "freeze": "freeze-host"}[mode]
    rows = [
        [
            f"{what} -> engine healthy on a new VM ({profile}, {leases})",
            f"{med:.2f} / {lo:.2f} / {hi:.2f} s",
            target_text,
            OVIRT.get((mode, profile), "-"),
            verdict(ok),
        ],
        [
            "max engine VM processes at once",
            str(max_vms),
            "<= 1",
            "-",
            verdict(max_vms <= 1),
        ],
    ]
    p95_target = P95_TARGETS.get((mode, profile))
    p50, p95, worst = percentile(healthy, 50), percentile(healthy, 95), max(healthy)
    rows.insert(
        1,
        [
            f"{what} -> healthy, p50 / p95 / max ({len(healthy)} rounds)",
            f"{p50:.2f} / {p95:.2f} / {worst:.2f} s",
            "-" if p95_target is None else f"p95 <= {p95_target:g} s",
            "-",
            "-" if p95_target is None else verdict(p95 <= p95_target),
        ],
    )
    log(table(rows, ["figure", "median / min / max", "target", "oVirt", ""]))
    if len(healthy) > 1:
        log(
            f"kill -> healthy: mean {statistics.mean(healthy):.2f} s, "
            f"stdev {statistics.stdev(healthy):.2f} s"
        )
    log(f"engine VM sampler: {sampled}")
    log(f"load average (1 / 5 / 15 min) at the end: {_load()} on {os.cpu_count()} CPUs")
    return med


def run(args: argparse.Namespace, leases: str, compare_to: float | None) -> float | None:
    """The rounds on one fresh lab; the median kill -> healthy (None: no round done)."""
    rounds_wanted = args.rounds or (3 if args.profile == "fast" else 2)
    wait_limit = 60.0 if args.profile == "fast" else 300.0
    if leases == "sanlock":
        wait_limit += sanlock_takeover_limit()
    poll = 0.2 if args.profile == "fast" else 1.0

    rounds: list[Round] = []
    max_vms = 0
    sampled = "no samples"
    try:
        with (
            _lab.temp_lab(HOSTS, args.profile, keep_dir=args.keep_dir, leases=leases) as lab,
            EngineSampler(lab) as sampler,
        ):
            timing = _lab.timing_of(lab)
            waited = _lab.wait_settled(lab, wait_limit, 2 * timing.loop_period, poll)
            log(f"settled {waited:.1f} s after up")
            try:
                for number in range(1, rounds_wanted + 1):
                    last = number == rounds_wanted
                    r = one_round(lab, sampler, number, args.mode, wait_limit, poll, last)
                    rounds.append(r)
                    log(
                        f"round {number}: host {r.old_host} killed ({args.mode}); engine "
                        f"healthy on host {r.new_host} after {r.healthy:.2f} s; "
                        f"settled {r.settle:.1f} s later"
                        + (f"; {len(r.flaps)} new VM(s) died unconfirmed" if r.flaps else "")
                    )
            finally:
                max_vms, sampled = sampler.max_vms, sampler.describe()
                if sampler.errors:
                    log(f"sampler: {sampler.errors} failed samples")
    except (TimeoutError, RuntimeError, HostedEngineError) as e:
        log(f"benchmark interrupted: {e}")
    except KeyboardInterrupt:
        log("interrupted")
        raise
    if not rounds:
        log("no round completed")
        return None
    return report(rounds, args.mode, args.profile, leases, max_vms, sampled, compare_to)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=("fast", "default"), default="fast")
    parser.add_argument("--mode", choices=("host", "vm", "freeze"), default="host")
    parser.add_argument("--rounds", type=int, default=None, help="default 3 fast, 2 default")
    parser.add_argument("--leases", choices=(*LEASE_BACKENDS, "both"), default="fcntl")
    parser.add_argument("--keep-dir", action="store_true", help="keep the lab dir (its logs)")
    args = parser.parse_args()
    backends = LEASE_BACKENDS if args.leases == "both" else (args.leases,)
    medians: dict[str, float | None] = {}
    try:
        for leases in backends:
            medians[leases] = run(args, leases, medians.get("fcntl"))
    except KeyboardInterrupt:
        pass
    if len(medians) > 1:
        log("")
        log(
            table(
                [[k, "-" if v is None else f"{v:.2f} s"] for k, v in medians.items()],
                ["leases", f"{args.mode}: median kill -> healthy"],
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
