"""The rate limit of repeating warnings, on a fake clock."""

from __future__ import annotations

import logging

import pytest

from hosted_engine.clock import FakeClock
from hosted_engine.ratelimit import RateLimitedLog

log = logging.getLogger("tests.ratelimit")


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == log.name]


def test_once_per_window_per_key_with_the_count_of_repeats(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=log.name)
    clock = FakeClock()
    limited = RateLimitedLog(log, interval=300, monotonic=clock.monotonic)
    for _ in range(10):
        assert limited.warning("a", "host %d too new", 3) is (_ == 0)
        limited.warning("b", "other")
        clock.advance(5)
    assert messages(caplog) == ["host 3 too new", "other"]
    clock.advance(300)
    assert limited.warning("a", "host %d too new", 3)
    assert messages(caplog)[-1] == "host 3 too new (9 repeats suppressed in the last 350 s)"


def test_forget_makes_the_next_occurrence_news(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=log.name)
    clock = FakeClock()
    limited = RateLimitedLog(log, monotonic=clock.monotonic)
    limited.warning("k", "down")
    limited.forget("k")
    limited.warning("k", "down")
    assert messages(caplog) == ["down", "down"]


def test_the_key_table_is_bounded() -> None:
    clock = FakeClock()
    limited = RateLimitedLog(log, monotonic=clock.monotonic, max_keys=4)
    for i in range(100):
        limited.warning(i, "m")
    assert len(limited._seen) == 4
