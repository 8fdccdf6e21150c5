"""MemoryKeeper: the start-up heap is frozen once and trimming never raises."""

from __future__ import annotations

import gc
import sys

import pytest

from hosted_engine.broker.memory import MemoryKeeper


def test_freeze_then_close_returns_the_objects_to_the_collector() -> None:
    keeper = MemoryKeeper(use_libc=False)
    keeper.freeze_startup()
    try:
        assert gc.get_freeze_count() > 0
    finally:
        keeper.close()
    assert gc.get_freeze_count() == 0


def test_trim_reports_what_the_libc_call_said() -> None:
    answers = [1, 0]
    keeper = MemoryKeeper(lambda: answers.pop(0))
    assert keeper.can_trim
    assert keeper.trim() is True
    assert keeper.trim() is False


def test_without_a_trim_function_trim_is_a_no_op() -> None:
    keeper = MemoryKeeper(use_libc=False)
    assert not keeper.can_trim
    assert keeper.trim() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_the_real_malloc_trim_can_be_called() -> None:
    keeper = MemoryKeeper()
    if not keeper.can_trim:
        pytest.skip("C library without malloc_trim (not glibc)")
    assert keeper.trim() in (True, False)
