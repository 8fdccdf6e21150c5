"""``hosted-engine-lab``: several simulated hosts on this machine keeping the engine VM up."""

from __future__ import annotations

import argparse
import json
import math
import random
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import NoReturn

from hosted_engine.errors import HostedEngineError, UsageError
from hosted_engine.files.faults import FaultMode, FaultPoint
from hosted_engine.lab.chaos import run_chaos, write_report
from hosted_engine.lab.chaos_faults import FaultKind, parse_kinds
from hosted_engine.lab.cluster import Lab
from hosted_engine.lab.layout import ENGINES
from hosted_engine.lab.view import render
from hosted_engine.locking import LEASE_BACKENDS


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="hosted-engine-lab", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def with_dir(name: str, help: str) -> argparse.ArgumentParser:
        s = sub.add_parser(name, help=help)
        s.add_argument("--dir", required=True, type=Path, help="the lab's directory")
        return s

    for name, help in (
        ("up", "create the lab and start every host; returns once the engine is healthy"),
        ("run", "`up`, then a live status view until Ctrl-C, then `down`"),
    ):
        s = with_dir(name, help)
        s.add_argument("--hosts", type=int, default=3)
        s.add_argument("--profile", choices=("fast", "default"), default="fast")
        s.add_argument(
            "--engine",
            choices=ENGINES,
            default="manager",
            help="what the engine VM runs: the manager (default) or the minimal stand-in",
        )
        s.add_argument(
            "--leases",
            choices=LEASE_BACKENDS,
            default="fcntl",
            help="the lease backend: fcntl locks (default) or a sanlock daemon per host",
        )
    with_dir("status", "where the engine runs, each host's state and score").add_argument(
        "--json", action="store_true"
    )
    for name, help in (
        ("kill-host", "SIGKILL a host's broker, agent and VM (a power loss)"),
        ("kill-vm", "SIGKILL only the engine VM on a host"),
        ("stop-host", "stop a host in order: VM, agent, broker"),
        ("stop-agent", "stop only a host's agent"),
        ("start-host", "start a host's broker and agent; returns once they answer"),
        ("freeze-host", "SIGSTOP every process of a host (a hung host; its watchdog runs on)"),
        ("thaw-host", "SIGCONT whatever of a frozen host is left"),
    ):
        with_dir(name, help).add_argument("id", type=int, help="host id")
    fault = with_dir("fault", "make a host's storage I/O fail or hang, or heal it")
    fault.add_argument("id", type=int, help="host id")
    fault.add_argument("point", choices=[p.value for p in FaultPoint])
    fault.add_argument("mode", choices=[*(m.value for m in FaultMode), "clear"])
    chaos = with_dir("chaos", "inject random faults into a running lab and report the damage")
    chaos.add_argument("--minutes", type=_minutes, required=True, help="how long to inject")
    chaos.add_argument("--seed", type=int, default=None, help="repeat a run's fault plan")
    chaos.add_argument(
        "--faults",
        type=parse_kinds,
        default=tuple(FaultKind),
        help=f"comma-separated kinds (default all: {','.join(k.value for k in FaultKind)})",
    )
    chaos.add_argument("--json", metavar="FILE", help="also write the report as JSON (-: stdout)")
    with_dir("down", "stop everything of the lab")
    return p


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= 7 * 24 * 60):
        raise argparse.ArgumentTypeError(f"want minutes between 0 and 10080, not {text!r:.40}")
    return value


def _chaos(lab: Lab, args: argparse.Namespace) -> int:
    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    kinds = ", ".join(k.value for k in args.faults)
    print(f"chaos for {args.minutes:g} min, seed {seed}: {kinds}", flush=True)
    report = run_chaos(lab, args.minutes, seed, args.faults, lambda t: print(t, flush=True))
    print("\n" + report.render(), flush=True)
    if args.json:
        write_report(report, args.json)
    return 0 if report.ok else 1


def _watch(lab: Lab) -> None:
    tty = sys.stdout.isatty()
    while True:
        text = render(lab.status())
        if tty:
            sys.stdout.write("\x1b[H\x1b[2J" + text + "\n\n(Ctrl-C tears the lab down)\n")
        else:
            sys.stdout.write(text + "\n\n")
        sys.stdout.flush()
        time.sleep(1.0)


def _run(args: argparse.Namespace) -> int:
    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    print(
        f"starting {args.hosts} hosts in {args.dir} (profile {args.profile}, "
        f"{args.leases} leases)...",
        flush=True,
    )
    lab = Lab(args.dir.resolve())
    try:
        lab = Lab.up(args.dir, args.hosts, args.profile, engine=args.engine, leases=args.leases)
        _watch(lab)
    except KeyboardInterrupt:
        pass
    finally:
        print("\ntearing the lab down...", flush=True)
        lab.down()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "run":
            return _run(args)
        if args.command == "up":
            lab = Lab.up(args.dir, args.hosts, args.profile, engine=args.engine, leases=args.leases)
            print(f"lab up in {lab.dir}; engine at {lab.manifest.engine_url}")
            login = lab.status()
            if login.get("manager_url"):
                print(
                    f"manager at {login['manager_url']} (user {login['admin_user']}, "
                    f"password {login['admin_password']})"
                )
            return 0
        lab = Lab(args.dir.resolve())
        if args.command == "status":
            status = lab.status()
            print(json.dumps(status) if args.json else render(status))
            return 0
        if args.command == "down":
            lab.down()
            return 0
        if args.command == "chaos":
            return _chaos(lab, args)
        if args.command == "fault":
            mode = None if args.mode == "clear" else FaultMode(args.mode)
            lab.set_fault(args.id, FaultPoint(args.point), mode)
            return 0
        action = {
            "kill-host": lab.kill_host,
            "kill-vm": lab.kill_vm,
            "stop-host": lab.stop_host,
            "stop-agent": lab.stop_agent,
            "start-host": lab.start_host,
            "freeze-host": lab.freeze_host,
            "thaw-host": lab.thaw_host,
        }[args.command]
        action(args.id)
        return 0
    except HostedEngineError as e:
        print(f"hosted-engine-lab: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
