"""The daemons' start-up: a configuration or argument they cannot run with is one line on
stderr and a non-zero exit, before anything starts (a FIFO as --config used to hang)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from hosted_engine.config.host import HostConfig
from hosted_engine.daemon_entry import run_daemon

pytestmark = pytest.mark.timeout(30)


def _never(config: HostConfig, stop: threading.Event) -> int:
    raise AssertionError("the daemon must not start")


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run_daemon("broker", None, argv, _never)
    captured = capsys.readouterr()
    assert captured.out == ""
    return code, captured.err


def _fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "fifo")
    return tmp / "fifo"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (_fifo, "not a regular file"),
        (lambda tmp: tmp, "not a regular file"),
        (lambda tmp: tmp / ("x" * 300), "File name too long"),
        (lambda tmp: tmp / "absent.conf", "no such file"),
    ],
)
def test_a_config_the_daemon_cannot_read_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: object, message: str
) -> None:
    assert callable(config)
    code, err = _run(["--config", str(config(tmp_path))], capsys)
    assert code == 1 and message in err and err.count("\n") == 1, err


def test_a_timing_out_of_bounds_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "he.conf"
    conf.write_text(f"host_id=1\nsdUUID=sd\nstorage={tmp_path}\ntiming.loop_period=inf\n")
    code, err = _run(["--config", str(conf)], capsys)
    assert code == 1 and "timing.loop_period" in err and err.count("\n") == 1, err


@pytest.mark.parametrize("argv", [["--bogus"], ["--config"], ["extra"]])
def test_bad_arguments_are_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(argv, capsys)
    assert code == 2 and err.startswith("hosted-engine-broker: ") and err.count("\n") == 1, err
