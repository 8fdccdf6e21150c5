"""``python -m hosted_engine.sim --seed S --steps N``: run (or replay) simulated clusters."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from hosted_engine.errors import HostedEngineError
from hosted_engine.sim.world import SimSettings, World


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m hosted_engine.sim",
        description="Run N simulated hosts through random faults; check the HA invariants.",
    )
    p.add_argument("--seed", type=int, default=1, help="the first seed (default 1)")
    p.add_argument("--runs", type=int, default=1, help="seeds to run, from --seed on")
    p.add_argument("--steps", type=int, default=SimSettings.steps, help="steps per run")
    p.add_argument("--hosts", type=int, default=SimSettings.hosts)
    p.add_argument("--profile", default=SimSettings.profile, help="timing profile")
    p.add_argument("--verbose", action="store_true", help="print every event of the runs")
    args = p.parse_args(argv)
    if args.steps < 1 or args.runs < 1 or not 1 <= args.hosts <= 64:
        print("--steps and --runs must be >= 1, --hosts between 1 and 64", file=sys.stderr)
        return 2
    settings = SimSettings(hosts=args.hosts, steps=args.steps, profile=args.profile)
    logger = logging.getLogger("hosted_engine")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)  # the trace says enough
    try:
        return _run_seeds(args, settings)
    finally:
        logger.setLevel(level)  # main() also runs in-process (tests): leave logging as found


def _run_seeds(args: argparse.Namespace, settings: SimSettings) -> int:
    failed = 0
    for seed in range(args.seed, args.seed + args.runs):
        try:
            world = World(seed, settings, record=args.verbose)
        except HostedEngineError as e:
            print(e, file=sys.stderr)
            return 2
        result = world.run()
        if world.events is not None:
            print("\n".join(world.events))
        print(result.summary())
        if not result.ok:
            failed += 1
            print(f"  {result.failure}")
            print(f"  replay: python -m hosted_engine.sim --seed {seed} --steps {args.steps}")
            print("  last events:\n    " + "\n    ".join(result.history))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
