"""The chaos command's arithmetic and arguments, without a lab (the lab run is in
tests/integration/test_chaos_lab.py)."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from hosted_engine.errors import UsageError
from hosted_engine.lab.chaos import (
    ChaosReport,
    FaultResult,
    fault_plan,
    percentile,
    recovery_of,
    write_report,
)
from hosted_engine.lab.chaos_faults import FaultKind, parse_kinds
from hosted_engine.lab.main import main
from hosted_engine.lab.observe import Sample


def samples(*health: bool, period: float = 1.0) -> list[Sample]:
    return [Sample(i * period, frozenset({1}), 1, h) for i, h in enumerate(health)]


def test_a_fault_that_never_hurt_costs_nothing() -> None:
    assert recovery_of(samples(True, True, True, True), 0.5, 3.0) == (0.0, 0.0)


def test_recovery_runs_to_the_first_healthy_sample_after_the_last_bad_one() -> None:
    # fault at 0.5; bad at 1, 2 and 4; healthy again at 5
    recovery, downtime = recovery_of(samples(True, False, False, True, False, True), 0.5, 5.0)
    assert recovery == 4.5
    assert downtime == 3.0


def test_an_engine_still_down_when_the_window_ends_recovers_at_its_end() -> None:
    assert recovery_of(samples(True, False, False), 0.0, 2.5) == (2.5, 1.5)


def test_unchecked_samples_are_not_downtime() -> None:
    window = [Sample(0.0, frozenset(), None, None), Sample(1.0, frozenset(), None, None)]
    assert recovery_of(window, 0.0, 2.0) == (0.0, 0.0)


def test_percentiles_are_values_that_occurred() -> None:
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 95) == 5.0
    assert percentile([7.0], 95) == 7.0


def test_every_round_has_every_kind_once() -> None:
    kinds = tuple(FaultKind)
    plan = list(itertools.islice(fault_plan(kinds, random.Random(3)), 3 * len(kinds)))
    for start in range(0, len(plan), len(kinds)):
        assert sorted(plan[start : start + len(kinds)]) == sorted(kinds)
    again = list(itertools.islice(fault_plan(kinds, random.Random(3)), 3 * len(kinds)))
    assert plan == again, "the same seed must give the same plan"


def test_fault_kinds_are_parsed_and_an_unknown_one_named() -> None:
    assert parse_kinds("kill-vm, kill-host,kill-vm") == (FaultKind.KILL_VM, FaultKind.KILL_HOST)
    with pytest.raises(UsageError, match="unknown fault 'reboot'; known: kill-host,"):
        parse_kinds("kill-vm,reboot")


def _report(**changes: object) -> ChaosReport:
    report = ChaosReport(seed=7, minutes=2.0, kinds=["kill-vm", "kill-host"], duration=121.0)
    report.faults = [
        FaultResult("kill-vm", 1, 3.0, "SIGKILL", 1.5, 1.4, True),
        FaultResult("kill-vm", 2, 30.0, "SIGKILL", 2.5, 2.4, True),
        FaultResult("kill-host", 2, 60.0, "powered off", 0.0, 0.0, True),
    ]
    report.samples, report.healthy_samples = 600, 580
    report.writes_acknowledged = 90
    report.history = {"started (VM crashed)": 2}
    for name, value in changes.items():
        setattr(report, name, value)
    return report


def test_the_report_says_what_an_admin_asks() -> None:
    report = _report()
    assert report.ok
    text = report.render()
    assert "availability: 96.67 % of 600 samples" in text
    assert "kill-vm              2     1.50     2.50     2.50" in text
    assert "samples with two engine VMs: 0" in text
    assert "90 acknowledged, 0 lost" in text
    assert "2 started (VM crashed)" in text
    data = report.to_json()
    assert data["recovery"]["kill-vm"] == {"count": 2, "p50": 1.5, "p95": 2.5, "max": 2.5}
    assert data["availability_percent"] == 96.667
    assert data["ok"] is True


@pytest.mark.parametrize(
    "change",
    [
        {"split_brain_samples": 1},
        {"writes_lost": 1},
        {"aborted": "not settled even after healing"},
    ],
)
def test_a_broken_invariant_fails_the_run(change: dict[str, object]) -> None:
    assert not _report(**change).ok


def test_a_fault_healed_by_the_run_fails_it() -> None:
    report = _report()
    report.faults.append(FaultResult("freeze-vm", 1, 90.0, "", 60.0, 60.0, False, "timed out"))
    assert not report.ok
    assert "faults not recovered from without help: 1" in report.render()
    assert "freeze-vm on host 1: timed out" in report.render()


def test_the_json_report_is_written_or_its_failure_named(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    write_report(_report(), str(target))
    assert json.loads(target.read_text())["seed"] == 7
    with pytest.raises(Exception, match="cannot write the report to"):
        write_report(_report(), str(tmp_path / "missing" / "r.json"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--minutes", "0"], "want minutes between 0 and 10080, not '0'"),
        (["--minutes", "nan"], "want minutes between 0 and 10080"),
        (["--minutes", "1", "--faults", "kill-vm,melt"], "unknown fault 'melt'"),
    ],
)
def test_bad_chaos_arguments_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["chaos", "--dir", str(tmp_path), *args]) != 0
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_chaos_needs_a_lab(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chaos", "--dir", str(tmp_path), "--minutes", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hosted-engine-lab: ") and err.count("\n") == 1
