"""Switchover downtime: from the request to the engine healthy on the target host.

Brings up a 3-host lab in a temporary directory; each round asks, through the public
client API as ``hosted-engine --switchover --to-host=N`` does, to move the engine to the
next host, and times two things: request -> the old engine stops answering (the graceful
stop begins) and request -> the engine answers healthy again from the target's VM (its
host id is on the stand-in's page). A background sampler counts engine VM processes: more
than one at any moment fails the round. The issue's target is a graceful stop + a start +
one loop period; the graceful stop and the start are measured here too (the old VM's
shutdown, and the new VM's process seen -> healthy).

    python benchmarks/switchover.py [--profile fast|default] [--rounds N] [--keep-dir]
"""

from __future__ import annotations

import argparse
import sys
import time

import _lab
from _lab import EngineSampler, log, summary, table, verdict

from hosted_engine.client import HAClient
from hosted_engine.errors import HostedEngineError
from hosted_engine.lab.cluster import Lab
from hosted_engine.lab.layout import host_config_path

HOSTS = 3


def one_round(lab: Lab, sampler: EngineSampler, wait_limit: float) -> tuple[float, float, float]:
    """(request -> healthy on the target, the old VM's stop, the new VM's start)."""
    url = lab.manifest.engine_url
    old_host, old_pid = _lab.wait_for(lambda: _lab.healthy_identity(url), wait_limit, 0.2, "engine")
    target = old_host % HOSTS + 1
    client = HAClient.from_config(host_config_path(lab.dir, target))
    asked = time.monotonic()
    request = client.switchover(target, "benchmark")
    client.wait_switchover(request, timeout=wait_limit)
    healthy = time.monotonic() - asked
    samples = sampler.since(asked)
    old_gone = next((s.at for s in samples if old_pid not in s.vm_pids), None)
    new_seen = next(
        (s.at for s in samples if s.vm_pids - {old_pid} and old_pid not in s.vm_pids), None
    )
    stop = (old_gone - asked) if old_gone is not None else float("nan")
    start = (asked + healthy - new_seen) if new_seen is not None else float("nan")
    host, _ = _lab.healthy_identity(url) or (None, None)
    if host != target:
        raise RuntimeError(f"the engine answered from host {host}, not {target}")
    log(
        f"switchover to host {target}: healthy after {healthy:.2f} s "
        f"(old VM down after {stop:.2f} s, new VM start {start:.2f} s)"
    )
    return healthy, stop, start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=("fast", "default"), default="fast")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep-dir", action="store_true")
    args = parser.parse_args()
    wait_limit = 60.0 if args.profile == "fast" else 400.0
    rounds: list[tuple[float, float, float]] = []
    try:
        with (
            _lab.temp_lab(HOSTS, args.profile, keep_dir=args.keep_dir) as lab,
            EngineSampler(lab) as sampler,
        ):
            timing = _lab.timing_of(lab)
            _lab.wait_settled(lab, wait_limit, 2 * timing.loop_period, 0.2)
            for _ in range(args.rounds):
                rounds.append(one_round(lab, sampler, wait_limit))
                _lab.wait_settled(lab, wait_limit, 2 * timing.loop_period, 0.2)
            max_vms = sampler.max_vms
    except (HostedEngineError, RuntimeError, TimeoutError) as e:
        log(f"benchmark interrupted: {e}")
        return 1
    healthy, stops, starts = (list(x) for x in zip(*rounds, strict=True))
    med, lo, hi = summary(healthy)
    stop_med, start_med = summary(stops)[0], summary(starts)[0]
    target = stop_med + start_med + timing.loop_period
    log(
        table(
            [
                [
                    f"switchover -> healthy on the target ({args.profile}, {len(rounds)} rounds)",
                    f"{med:.2f} / {lo:.2f} / {hi:.2f} s",
                    f"<= stop {stop_med:.2f} + start {start_med:.2f} + loop "
                    f"{timing.loop_period:g} = {target:.2f} s",
                    verdict(med <= target),
                ],
                ["max engine VM processes at once", str(max_vms), "<= 1", verdict(max_vms <= 1)],
            ],
            ["figure", "median / min / max", "target", ""],
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
