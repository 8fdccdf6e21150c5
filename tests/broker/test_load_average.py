"""The 15-minute CPU load average, on the reference's load_factor cases."""

from __future__ import annotations

import pytest

from hosted_engine.broker.monitors.cpu_load import trapezoid_average


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        pytest.param([(0, 0.0)], 0.0, id="zero"),
        pytest.param([(0, 5.0), (1, 5.0)], 5.0, id="constant"),
        pytest.param([(0, 0.0), (1, 10.0)], 5.0, id="ramp"),
        pytest.param([(0, 0.0), (1, 10.0), (2, 0.0)], 5.0, id="up-down"),
        pytest.param([(0, 0.0), (1, 30.0), (3, 0.0)], 15.0, id="up-down-non-uniform"),
        pytest.param([(0, 5.0), (1, 5.0), (3, 5.0)], 5.0, id="constant-non-uniform"),
        pytest.param([(0, 5.0), (1, 5.0), (2, None), (5, 5.0)], 5.0, id="none-gap"),
    ],
)
def test_reference_cases(samples: list[tuple[float, float | None]], expected: float) -> None:
    assert trapezoid_average(samples) == pytest.approx(expected)


def test_order_does_not_matter_and_a_gap_is_bridged_linearly() -> None:
    # 0 -> 10 over [0, 2] with the middle sample missing: the line averages 5.
    assert trapezoid_average([(2, 10.0), (1, None), (0, 0.0)]) == pytest.approx(5.0)


def test_no_samples_is_unknown_and_one_instant_is_its_latest_value() -> None:
    assert trapezoid_average([]) is None
    assert trapezoid_average([(1, None)]) is None
    assert trapezoid_average([(3, 0.2), (3, 0.4)]) == pytest.approx(0.4)
