"""Fixtures every test package may use."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.netpeers import SmtpSink


@pytest.fixture
def start_smtp() -> Iterator[Callable[[], SmtpSink]]:
    """Starts SMTP sinks on demand; all are stopped at the end of the test."""
    sinks: list[SmtpSink] = []

    def start() -> SmtpSink:
        sink = SmtpSink()
        sink.controller.start()
        sinks.append(sink)
        return sink

    yield start
    for sink in sinks:
        sink.controller.stop()


@pytest.fixture
def fault_control(tmp_path: Path) -> Iterator[Path]:
    """This process obeys the injected-fault file it returns (files/faults.py)."""
    from hosted_engine.files import faults

    path = tmp_path / "faults"
    faults.use_file(path)
    yield path
    faults.use_file(None)
