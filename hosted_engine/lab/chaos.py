"""``hosted-engine-lab chaos``: random faults into a running lab, and what they cost.

The run injects one fault at a time (:mod:`hosted_engine.lab.chaos_faults`), waits for
the cluster to settle again on its own, pauses, and goes on until its time is up. All
along it samples the engine (health URL, VM processes, lease holder) and two writers
race on the shared configuration (:mod:`hosted_engine.lab.chaos_writes`). The report is
what an admin weighing this system wants: availability, recovery per fault kind, whether
two engine VMs ever ran at once, whether an acknowledged configuration write was lost,
and what the cluster's history says happened.

Faults come in rounds, each a shuffled list of every chosen kind, so a short run still
sees each kind once the first round is through.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from hosted_engine.config.host import load_host_config
from hosted_engine.errors import HostedEngineError
from hosted_engine.lab.chaos_faults import Applied, FaultInjector, FaultKind
from hosted_engine.lab.chaos_writes import ConfigWriters
from hosted_engine.lab.cluster import Lab
from hosted_engine.lab.layout import host_config_path, storage_dir
from hosted_engine.lab.observe import EngineSampler, Sample, wait_settled
from hosted_engine.storage import domain
from hosted_engine.storage.history import History

SAMPLE_PERIOD = 0.2


@dataclass(frozen=True)
class FaultResult:
    kind: str
    host_id: int
    at: float  # seconds into the run
    detail: str
    recovery: float  # fault -> engine healthy again; 0 when it never stopped being healthy
    downtime: float  # seconds of unhealthy samples while the fault lasted
    recovered: bool  # settled on its own (False: the run had to heal the cluster)
    unsettled: str = ""  # why it did not settle, when it did not


def recovery_of(samples: Sequence[Sample], start: float, end: float) -> tuple[float, float]:
    """``(recovery, downtime)`` of a fault that began at ``start`` and was over (the
    cluster settled) at ``end``: from the fault to the first healthy sample after the last
    unhealthy one, and the time covered by unhealthy samples."""
    window = [s for s in samples if start <= s.at <= end]
    downtime = 0.0
    last_bad: Sample | None = None
    for sample, following in zip(window, [*window[1:], None], strict=True):
        if sample.healthy is False:
            last_bad = sample
            downtime += (following.at if following is not None else end) - sample.at
    if last_bad is None:
        return 0.0, 0.0
    back = next((s.at for s in samples if s.at > last_bad.at and s.healthy), end)
    return back - start, downtime


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: a value that really occurred."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class ChaosReport:
    seed: int
    minutes: float
    kinds: list[str]
    duration: float = 0.0
    interrupted: bool = False
    aborted: str = ""  # why the run stopped early
    faults: list[FaultResult] = field(default_factory=list)
    samples: int = 0
    healthy_samples: int = 0
    split_brain_samples: int = 0
    split_brain_at: list[float] = field(default_factory=list)  # seconds into the run
    writes_acknowledged: int = 0
    writes_failed: int = 0
    writes_lost: int = 0
    lost_writes: list[str] = field(default_factory=list)
    history: dict[str, int] = field(default_factory=dict)

    @property
    def availability(self) -> float:
        return 100.0 * self.healthy_samples / self.samples if self.samples else 0.0

    @property
    def not_recovered(self) -> int:
        return sum(not f.recovered for f in self.faults)

    @property
    def ok(self) -> bool:
        """The invariants: never two engine VMs, never a lost write, every fault
        recovered from without help."""
        return (
            self.split_brain_samples == 0
            and self.writes_lost == 0
            and not self.not_recovered
            and not self.aborted
        )

    def recovery_by_kind(self) -> dict[str, dict[str, float]]:
        by_kind: dict[str, list[float]] = {}
        for f in self.faults:
            by_kind.setdefault(f.kind, []).append(f.recovery)
        return {
            kind: {
                "count": len(values),
                "p50": percentile(values, 50),
                "p95": percentile(values, 95),
                "max": max(values),
            }
            for kind, values in by_kind.items()
        }

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            availability_percent=round(self.availability, 3),
            recovery=self.recovery_by_kind(),
            not_recovered=self.not_recovered,
            ok=self.ok,
        )
        return data

    def render(self) -> str:
        lines = [
            f"chaos: {len(self.faults)} faults in {self.duration:.0f} s (seed {self.seed})"
            + (" - interrupted" if self.interrupted else "")
            + (f" - stopped: {self.aborted}" if self.aborted else ""),
            f"availability: {self.availability:.2f} % of {self.samples} samples "
            f"(every {SAMPLE_PERIOD} s)",
            "",
            f"{'fault':<16}{'count':>6}{'p50 s':>9}{'p95 s':>9}{'max s':>9}",
        ]
        for kind, r in sorted(self.recovery_by_kind().items()):
            lines.append(
                f"{kind:<16}{r['count']:>6.0f}{r['p50']:>9.2f}{r['p95']:>9.2f}{r['max']:>9.2f}"
            )
        lines += [
            "(recovery: fault -> engine healthy again; 0 when it never stopped answering)",
            "",
            f"samples with two engine VMs: {self.split_brain_samples}"
            + (
                f" (at {', '.join(f'{t:.1f}' for t in self.split_brain_at)} s)"
                if self.split_brain_at
                else ""
            ),
            f"shared-config writes: {self.writes_acknowledged} acknowledged, "
            f"{self.writes_lost} lost, {self.writes_failed} refused or failed",
            *(f"  lost: {d}" for d in self.lost_writes),
            f"faults not recovered from without help: {self.not_recovered}",
            *(f"  {f.kind} on host {f.host_id}: {f.unsettled}" for f in self.faults if f.unsettled),
            "history entries: "
            + (", ".join(f"{n} {cause}" for cause, n in sorted(self.history.items())) or "none"),
        ]
        return "\n".join(lines)


def fault_plan(kinds: Sequence[FaultKind], rng: random.Random) -> Iterator[FaultKind]:
    """Endless rounds, each every kind once in a random order."""
    while True:
        round_ = list(kinds)
        rng.shuffle(round_)
        yield from round_


def run_chaos(
    lab: Lab,
    minutes: float,
    seed: int,
    kinds: Sequence[FaultKind],
    progress: Callable[[str], None] = print,
) -> ChaosReport:
    """Run until ``minutes`` are up (or KeyboardInterrupt), then report. The lab must be
    running; it is left running and healed."""
    timing = load_host_config(host_config_path(lab.dir, 1)).timing
    rng = random.Random(seed)
    stop = threading.Event()
    injector = FaultInjector(lab, timing, rng, stop)
    settle_limit = 2 * timing.engine_starting_timeout + 10 * timing.host_alive_timeout
    stable_for = 2 * timing.loop_period

    def settle() -> None:
        wait_settled(lab, settle_limit, stable_for, 0.25, need_standby=False)

    try:
        settle()
    except TimeoutError as e:
        raise HostedEngineError(f"the lab is not settled, no chaos started: {e}") from None
    report = ChaosReport(seed, minutes, [k.value for k in kinds])
    applied: list[tuple[Applied, float, str]] = []
    started, started_epoch = time.monotonic(), time.time()
    deadline = started + 60 * minutes
    plan = fault_plan(kinds, rng)
    with (
        EngineSampler(lab, period=SAMPLE_PERIOD, health=True) as sampler,
        ConfigWriters(lab, rng) as writers,
    ):
        try:
            while time.monotonic() < deadline:
                fault = injector.apply(next(plan))
                progress(
                    f"{fault.at - started:7.1f} s  {fault.kind.value} on host "
                    f"{fault.host_id}: {fault.detail}"
                )
                unsettled = ""
                try:
                    settle()
                except TimeoutError as e:
                    unsettled = str(e)
                    progress(f"           not recovered on its own ({e}); healing")
                    injector.heal_everything()
                    try:
                        settle()
                    except TimeoutError as again:
                        report.aborted = f"not settled even after healing: {again}"
                        applied.append((fault, time.monotonic(), unsettled))
                        break
                applied.append((fault, time.monotonic(), unsettled))
                stop.wait(rng.uniform(0.0, 4 * timing.loop_period))
        except KeyboardInterrupt:
            report.interrupted = True
            stop.set()
            injector.heal_everything()
    report.duration = time.monotonic() - started
    samples = sampler.since(started)
    for fault, settled_at, unsettled in applied:
        recovery, downtime = recovery_of(samples, fault.at, settled_at)
        report.faults.append(
            FaultResult(
                fault.kind.value,
                fault.host_id,
                round(fault.at - started, 2),
                fault.detail,
                round(recovery, 2),
                round(downtime, 2),
                not unsettled,
                unsettled,
            )
        )
    checked = [s for s in samples if s.healthy is not None]
    report.samples = len(checked)
    report.healthy_samples = sum(1 for s in checked if s.healthy)
    doubled = [s for s in samples if len(s.vm_pids) > 1]
    report.split_brain_samples = len(doubled)
    report.split_brain_at = [round(s.at - started, 2) for s in doubled[:50]]
    report.writes_acknowledged = writers.acknowledged
    report.writes_failed = writers.failed
    report.writes_lost = writers.lost
    report.lost_writes = writers.lost_detail
    ha_dir = domain.ha_dir(storage_dir(lab.dir), lab.manifest.sd_uuid)
    entries = [e for e in History(ha_dir).entries() if e.at >= started_epoch]
    report.history = dict(Counter(f"{e.event.value} ({e.cause.value})" for e in entries))
    return report


def write_report(report: ChaosReport, path: str) -> None:
    text = json.dumps(report.to_json(), indent=2) + "\n"
    if path == "-":
        print(text, end="")
        return
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise HostedEngineError(f"cannot write the report to {path}: {e.strerror}") from None


__all__ = ["ChaosReport", "FaultKind", "percentile", "recovery_of", "run_chaos", "write_report"]
