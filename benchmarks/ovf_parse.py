"""How long reading the engine VM's OVF takes: the agent does it on every vm.conf refresh.

Times ``parse_ovf`` (safe parse, typed read and EngineXml parse, all checks) of each
reference OVF, then parse plus ``to_definition()`` and parse plus ``vm_params()``.

    python benchmarks/ovf_parse.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from hosted_engine.vm.ovf import parse_ovf

TARGET = "≤ 5 ms"
DATA = Path(__file__).resolve().parent.parent / "tests" / "ovf" / "data"
FILES = ("ovf_test.xml", "ovf_test_max_vcpu.xml", "ovf_test_v4.2.xml", "ovf_test_v4.2_unsafe.xml")


def time_runs(action: Callable[[], object], runs: int) -> list[float]:
    action()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return times


def report(label: str, times: list[float]) -> None:
    print(
        f"{label:<44} median {statistics.median(times):6.3f} ms   "
        f"min {min(times):6.3f} ms   max {max(times):6.3f} ms   target {TARGET}"
    )


def bench_file(name: str, runs: int) -> None:
    data = (DATA / name).read_bytes()
    print(f"{name} ({len(data)} bytes)")
    report("  parse_ovf", time_runs(lambda: parse_ovf(data), runs))
    report("  parse_ovf + to_definition", time_runs(lambda: parse_ovf(data).to_definition(), runs))
    report("  parse_ovf + vm_params", time_runs(lambda: parse_ovf(data).vm_params(), runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    for name in FILES:
        bench_file(name, args.runs)


if __name__ == "__main__":
    main()
