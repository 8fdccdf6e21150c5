"""A two-minute chaos run on a real lab with every fault kind (issue 11's CI run).

The run itself judges the invariants (it exits 1 when one broke); the test also reads its
JSON report, so a report that stopped telling the truth fails too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hosted_engine.lab.chaos_faults import FaultKind
from hosted_engine.lab.cluster import Lab
from hosted_engine.storage import domain
from hosted_engine.storage.history import History

pytestmark = [pytest.mark.lab, pytest.mark.slow]
MINUTES = 2.0


def test_two_minutes_of_every_fault_never_double_the_engine_nor_lose_a_write(
    lab: Lab, tmp_path: Path
) -> None:
    report_path = tmp_path / "chaos.json"
    run = subprocess.run(
        [
            *(sys.executable, "-m", "hosted_engine.lab.main", "chaos", "--dir", str(lab.dir)),
            *("--minutes", str(MINUTES), "--seed", "11", "--json", str(report_path)),
        ],
        capture_output=True,
        text=True,
        timeout=60 * MINUTES + 600,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    report = json.loads(report_path.read_text())

    assert {f["kind"] for f in report["faults"]} == {k.value for k in FaultKind}, output
    assert report["split_brain_samples"] == 0
    assert report["writes_lost"] == 0
    assert report["writes_acknowledged"] > 20, output
    assert report["not_recovered"] == 0
    assert report["samples"] > 60 * MINUTES, "the sampler must have run all along"
    assert 50.0 < report["availability_percent"] < 100.0, output  # kill-vm costs something

    # every engine move the run caused is in the shared history, and the report says so
    started_moves = sum(n for what, n in report["history"].items() if what.startswith("started"))
    ha_dir = domain.ha_dir(lab.dir / "storage", lab.manifest.sd_uuid)
    assert started_moves >= sum(f["kind"] == "kill-vm" for f in report["faults"])
    assert len(History(ha_dir).entries()) >= started_moves
    assert "bad health" in " ".join(report["history"]), "a frozen VM stopped for bad health"
    assert "chaos: " in run.stdout and "availability: " in run.stdout
