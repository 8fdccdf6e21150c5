from hosted_engine.broker.liveness import Liveness, LivenessTracker


def tracker() -> LivenessTracker:
    return LivenessTracker(timeout=10.0, started_at=100.0)


def test_unknown_until_seen_changing() -> None:
    t = tracker()
    t.observe(100.0, {2: 5})
    assert t.status(2, 101.0) is Liveness.UNKNOWN
    assert not t.enough_data(101.0)


def test_alive_after_a_change_and_stale_after_timeout() -> None:
    t = tracker()
    t.observe(100.0, {2: 5})
    t.observe(101.0, {2: 6})
    assert t.status(2, 110.9) is Liveness.ALIVE
    assert t.status(2, 111.0) is Liveness.STALE
    assert t.enough_data(101.0)


def test_never_changing_host_is_stale_after_timeout() -> None:
    t = tracker()
    t.observe(100.0, {3: 7})
    assert t.status(3, 110.0) is Liveness.STALE


def test_timestamps_are_never_compared_with_our_clock() -> None:
    t = tracker()
    t.observe(100.0, {2: 10_000_000})  # another host's clock, far in the future
    t.observe(101.0, {2: 10_000_001})
    assert t.status(2, 105.0) is Liveness.ALIVE


def test_enough_data_after_a_full_timeout() -> None:
    t = tracker()
    t.observe(100.0, {2: 1})
    assert t.enough_data(110.0)


def test_cleaned_slot_is_forgotten() -> None:
    t = tracker()
    t.observe(100.0, {2: 1})
    t.observe(101.0, {})
    assert t.status(2, 101.0) is Liveness.UNKNOWN
