"""Fixtures every test package may use."""

from __future__ import annotations

from collections.abc import Callable, Iterator

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
