"""A lab that does not come up leaves nothing running (a failed fixture used to)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hosted_engine.errors import HostedEngineError
from hosted_engine.lab.cluster import Lab

pytestmark = pytest.mark.lab


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """The broker's socket is under the host's root: pytest's tmp_path is too long for it."""
    path = Path(tempfile.mkdtemp(prefix="he-lu-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_a_lab_whose_engine_is_not_healthy_in_time_is_torn_down(short_dir: Path) -> None:
    with pytest.raises(HostedEngineError, match="the engine to be healthy"):
        Lab.up(short_dir / "lab", 1, "fast", timeout=0.01, engine="stand-in")
    lab = Lab((short_dir / "lab").resolve())
    assert not lab.running_processes()
    assert not lab.engine_vms()


def test_a_lab_dir_too_long_for_the_broker_socket_is_one_line(short_dir: Path) -> None:
    long_dir = short_dir / ("x" * (110 - len(str(short_dir))))
    with pytest.raises(HostedEngineError, match="is too long for a UNIX socket") as info:
        Lab.up(long_dir, 1, "fast", engine="stand-in")
    assert "\n" not in str(info.value)
    assert not Lab(long_dir.resolve()).running_processes()
