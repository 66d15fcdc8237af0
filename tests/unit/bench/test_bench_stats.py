from __future__ import annotations

import math

import pytest

from omnihub.hub.bench.stats import Spread, median, percentile, ratios, spread


def test_median_of_odd_and_even_counts() -> None:
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5


def test_median_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        median([])


def test_spread_keeps_median_and_range() -> None:
    result = spread([10.0, 14.0, 11.0])
    assert result == Spread(median=11.0, low=10.0, high=14.0)
    assert result.relative_range == pytest.approx(2 / 11)


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile(values, 0) == 1
    assert percentile([7.0], 99) == 7.0


def test_percentile_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        percentile([1.0], 101)
    with pytest.raises(ValueError):
        percentile([], 50)


def test_ratios_pair_each_rep_with_its_own_baseline() -> None:
    assert ratios([3.0, 4.0], [10.0, 8.0]) == [0.3, 0.5]
    assert math.isnan(ratios([1.0], [0.0])[0])
    with pytest.raises(ValueError):
        ratios([1.0, 2.0], [1.0])
