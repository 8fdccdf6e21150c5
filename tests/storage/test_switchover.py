"""The switchover request on the shared domain: one at a time, void after its deadline."""

from __future__ import annotations

from pathlib import Path

import pytest

from hosted_engine.storage.switchover import Switchover, SwitchoverPendingError, SwitchoverStore


def request(deadline: float = 2000.0, scheduled_at: float | None = None) -> Switchover:
    return Switchover(2, "admin", "patch", 1000.0, scheduled_at, deadline)


def test_one_request_at_a_time(tmp_path: Path) -> None:
    store = SwitchoverStore(tmp_path)
    first = store.create(request(), now=1000.0)
    assert first.id and store.read() == first
    with pytest.raises(SwitchoverPendingError, match="switchover to host 2 by admin: patch"):
        store.create(request(), now=1001.0)
    assert store.clear("someone else's") is False and store.read() == first
    assert store.clear(first.id) is True and store.read() is None


def test_an_expired_or_unreadable_request_is_replaced(tmp_path: Path) -> None:
    store = SwitchoverStore(tmp_path)
    old = store.create(request(deadline=1500.0), now=1000.0)
    assert old.expired(1500.0) and not old.due(1500.0)
    new = store.create(request(deadline=3000.0), now=1600.0)
    assert store.read() == new and new.id != old.id
    store.path.write_text("{not json")
    assert store.read() is None
    assert store.create(request(deadline=4000.0), now=1700.0) == store.read()


def test_a_scheduled_request_is_due_only_from_its_time() -> None:
    scheduled = request(deadline=9000.0, scheduled_at=5000.0)
    assert not scheduled.due(4999.0) and scheduled.due(5000.0) and not scheduled.due(9000.0)
