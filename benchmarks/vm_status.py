"""Cold-process latency of ``hosted-engine --vm-status`` (text and ``--json``).

Each run is a fresh process, timed from spawn to exit, as an admin or a monitoring
script would run it. Three setups:

* 3 and 64 hosts read straight from storage (no broker): a scratch domain with realistic
  slots written by the storage codec and a minimal conf (``host_id``, ``sdUUID``,
  ``storage``), so the CLI finds no broker socket and reads the metadata itself;
* a running 3-host lab (fast profile): the broker path, answered over its socket.

When a median misses its target, ``python -X importtime`` shows what the start-up
spends on imports.

Bytecode: an installed package ships compiled ``.pyc`` files, but a checkout run with
``PYTHONDONTWRITEBYTECODE=1`` would recompile every module in every run. So by default
the runs use a private bytecode cache (``PYTHONPYCACHEPREFIX`` in the scratch dir,
filled by an untimed warm-up run); ``--inherit-env`` runs with the environment as it is.

    python benchmarks/vm_status.py [--runs N] [--no-lab] [--importtime] [--inherit-env]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import _lab
from _lab import log, summary, table, verdict

from hosted_engine.config.host import load_host_config
from hosted_engine.errors import HostedEngineError
from hosted_engine.lab.layout import host_config_path
from hosted_engine.storage.domain import METADATA_NAME, create_domain
from hosted_engine.storage.metadata import HostRecord, encode_slot
from hosted_engine.storage.whiteboard import Whiteboard

TARGETS = {3: 0.15, 64: 0.30}
OVIRT = "0.17 s"
UP = '{"vm": "up", "health": "good", "detail": "Up"}'
DOWN = (
    '{"vm": "down", "health": "bad", "detail": "unknown", "reason": "vm not running on this host"}'
)


def cli_command() -> list[str]:
    """The installed console script, as an admin runs it (``python -m`` as a fallback)."""
    script = Path(sys.executable).parent / "hosted-engine"
    return [str(script)] if script.exists() else [sys.executable, "-m", "hosted_engine.cli.main"]


# --- a scratch domain with N realistic hosts -------------------------------------------------


def write_domain(root: Path, hosts: int) -> Path:
    """Lay out ``root/storage/<sd>/ha_agent`` with ``hosts`` slots; returns a minimal conf."""
    sd_uuid = str(uuid.uuid4())
    storage = root / "storage"
    storage.mkdir()
    board = Whiteboard(create_domain(storage, sd_uuid) / METADATA_NAME)
    board.update_global(maintenance=False)
    epoch_offset = time.time() - time.monotonic()
    now = int(time.monotonic())
    for host_id in range(1, hosts + 1):
        engine_here = host_id == 1
        record = HostRecord(
            host_id=host_id,
            host_ts=now - host_id % 5,
            score=3400 - (host_id * 37) % 400,
            engine_status=UP if engine_here else DOWN,
            hostname=f"hypervisor-{host_id:03d}.rack{host_id % 8}.dc1.example.com",
            maintenance=False,
            stopped=False,
            local_conf_timestamp=now - 3,
        )
        state_md = {
            "state": "EngineUp" if engine_here else "EngineDown",
            "maintenance": "False",
            "stopped": "False",
        }
        board.write_slot(host_id, encode_slot(record, state_md, epoch_offset))
    conf = root / "hosted-engine.conf"
    conf.write_text(f"host_id=1\nsdUUID={sd_uuid}\nstorage={storage}\n")
    return conf


# --- timing the CLI ---------------------------------------------------------------------------

BASE_ENV: dict[str, str] = dict(os.environ)


def use_bytecode_cache(prefix: Path) -> None:
    """Let every child process write and reuse ``.pyc`` files under ``prefix``."""
    BASE_ENV.pop("PYTHONDONTWRITEBYTECODE", None)
    BASE_ENV["PYTHONPYCACHEPREFIX"] = str(prefix)


@dataclass
class Result:
    label: str
    hosts: int
    times: list[float]  # wall seconds
    cpu: list[float]  # user + system seconds of the process
    source: str


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cli(
    conf: Path, args: Sequence[str]
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """(wall seconds, CPU seconds, the finished process) of one cold run."""
    env = dict(BASE_ENV, HOSTED_ENGINE_CONFIG=str(conf))
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(
        [*cli_command(), *args], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    return wall, _children_cpu() - cpu, done


def check_output(done: subprocess.CompletedProcess[str], as_json: bool, hosts: int) -> str:
    """The status source ("storage"/"broker"), after checking the run really listed the hosts."""
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[:300]}")
    if as_json:
        data = json.loads(done.stdout)
        listed = [k for k in data if k.isdigit()]
        live = [data[k].get("live-data") for k in listed]
        source = "storage" if all(v is None for v in live) else "broker"
    else:
        listed = [line for line in done.stdout.splitlines() if line.startswith("--== Host ")]
        source = "storage" if "local broker is not running" in done.stderr else "broker"
    if len(listed) != hosts:
        raise RuntimeError(f"expected {hosts} hosts in the output, got {len(listed)}")
    return source


def time_cli(label: str, conf: Path, hosts: int, as_json: bool, runs: int) -> Result:
    args = ["--vm-status", *(["--json"] if as_json else [])]
    _wall, _cpu, done = run_cli(conf, args)  # warm-up: page cache and .pyc files
    source = check_output(done, as_json, hosts)
    times, cpus = [], []
    for _ in range(runs):
        wall, cpu, done = run_cli(conf, args)
        check_output(done, as_json, hosts)
        times.append(wall)
        cpus.append(cpu)
    return Result(label, hosts, times, cpus, source)


def python_floor(runs: int) -> tuple[list[float], list[float]]:
    """A bare interpreter start, the floor under every figure: (wall, CPU) seconds."""
    times, cpus = [], []
    for _ in range(runs):
        cpu = _children_cpu()
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=BASE_ENV, check=True)
        times.append(time.perf_counter() - start)
        cpus.append(_children_cpu() - cpu)
    return times, cpus


def importtime(conf: Path, top: int = 15) -> None:
    """What ``--vm-status`` imports at start-up, the most expensive first."""
    env = dict(BASE_ENV, HOSTED_ENGINE_CONFIG=str(conf))
    command = cli_command()
    script = command[1:] if command[0] == sys.executable else command
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *script, "--vm-status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    rows: list[tuple[int, int, str]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3:
            continue
        rows.append((int(parts[0]), int(parts[1]), parts[2].rstrip()))
    if not rows:
        log("  (no -X importtime output)")
        return
    total = sum(r[0] for r in rows)
    log(f"\npython -X importtime: {len(rows)} modules, {total / 1000:.0f} ms of imports in all")
    log(f"top {top} by cumulative time (a package includes what it imports):")
    for self_us, cumulative, name in sorted(rows, key=lambda r: -r[1])[:top]:
        log(f"  {cumulative / 1000:7.1f} ms  (self {self_us / 1000:5.1f})  {name}")
    log(f"top {top} by own time:")
    for self_us, _cumulative, name in sorted(rows, key=lambda r: -r[0])[:top]:
        log(f"  {self_us / 1000:7.1f} ms  {name.strip()}")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per figure (>= 10)")
    parser.add_argument("--no-lab", action="store_true", help="skip the 3-host lab (broker)")
    parser.add_argument("--importtime", action="store_true", help="always show import costs")
    parser.add_argument(
        "--inherit-env", action="store_true", help="no private bytecode cache (see above)"
    )
    args = parser.parse_args()
    runs = max(10, args.runs)

    results: list[Result] = []
    over: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="he-bench-vmstatus-") as scratch:
        if not args.inherit_env:
            use_bytecode_cache(Path(scratch) / "pycache")
        python_floor(1)  # warm-up
        floor, floor_cpu = python_floor(runs)
        inherited = os.environ.get("PYTHONDONTWRITEBYTECODE")
        bytecode = (
            f"as inherited (PYTHONDONTWRITEBYTECODE={inherited})"
            if args.inherit_env
            else "private cache (PYTHONPYCACHEPREFIX)"
        )
        log(f"bytecode: {bytecode}")
        confs: dict[int, Path] = {}
        for hosts in (3, 64):
            root = Path(scratch) / f"d{hosts}"
            root.mkdir()
            confs[hosts] = write_domain(root, hosts)
            socket = load_host_config(confs[hosts]).broker_socket
            if socket.exists():
                log(f"warning: {socket} exists; a broker there would answer instead of storage")
            for as_json in (False, True):
                label = f"{hosts} hosts, direct read{' --json' if as_json else ''}"
                try:
                    results.append(time_cli(label, confs[hosts], hosts, as_json, runs))
                except (RuntimeError, ValueError) as e:
                    log(f"{label}: the CLI failed: {e}")
                    continue
                log(f"timed: {label}")
        if not args.no_lab:
            try:
                with _lab.temp_lab(3, "fast") as lab:
                    conf = host_config_path(lab.dir, 1)
                    for as_json in (False, True):
                        label = f"3 hosts, lab broker{' --json' if as_json else ''}"
                        results.append(time_cli(label, conf, 3, as_json, runs))
                        log(f"timed: {label}")
                    if args.importtime or any(
                        statistics.median(r.times) > TARGETS[r.hosts]
                        for r in results
                        if "broker" in r.label
                    ):
                        log("\n-- the broker path (lab host 1) --")
                        importtime(conf)
            except (TimeoutError, RuntimeError, ValueError, HostedEngineError) as e:
                log(f"lab part failed: {e}")
            except KeyboardInterrupt:
                log("interrupted")
        for hosts in (3, 64):
            missed = any(
                statistics.median(r.times) > TARGETS[hosts]
                for r in results
                if r.hosts == hosts and "direct" in r.label
            )
            if missed or args.importtime:
                over.append(confs[hosts])
        for conf in over:
            log(f"\n-- the direct read ({conf.parent.name}) --")
            importtime(conf)

    log("")
    rows = [
        [
            "bare `python -c pass` (floor)",
            "{} / {} / {}".format(*map(ms, summary(floor))),
            ms(statistics.median(floor_cpu)),
            "-",
            "-",
            "-",
        ]
    ]
    for r in results:
        med, lo, hi = summary(r.times)
        target = TARGETS[r.hosts]
        rows.append(
            [
                f"--vm-status {r.label} [{r.source}]",
                f"{ms(med)} / {ms(lo)} / {ms(hi)}",
                ms(statistics.median(r.cpu)),
                f"<= {ms(target)}",
                OVIRT,
                verdict(med <= target),
            ]
        )
    log(f"hosted-engine --vm-status, cold process, {runs} runs each (ms); bytecode: {bytecode}")
    log(table(rows, ["figure", "wall median / min / max", "CPU median", "target", "oVirt", ""]))
    load = os.getloadavg()
    log(
        f"load average {load[0]:.2f} on {os.cpu_count()} CPUs; the verdict is on wall time, "
        "CPU time (user + sys) is the figure other load does not inflate as much"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
