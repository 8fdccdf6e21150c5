"""A lab that does not come up leaves nothing running (a failed fixture used to)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hosted_engine.errors import HostedEngineError
from hosted_engine.lab.cluster import Lab

pytestmark = pytest.mark.lab


def test_a_lab_whose_engine_is_not_healthy_in_time_is_torn_down(tmp_path: Path) -> None:
    with pytest.raises(HostedEngineError, match="the engine to be healthy"):
        Lab.up(tmp_path / "lab", 1, "fast", timeout=0.01, engine="stand-in")
    lab = Lab((tmp_path / "lab").resolve())
    assert not lab.running_processes()
    assert not lab.engine_vms()
