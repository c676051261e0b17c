"""The audiences' rhythm (``indicators.common.season``) takes, per week, the median of the
services' relative use. Its one sort of a members × weeks array must give
``statistics.median`` of each week's values to the last bit, else the check's JSON moves."""

from __future__ import annotations

import numpy as np
import pytest

from dipstick.indicators.common import Weekly, weekly_medians, weekly_medians_plain


def _members(rng: np.random.Generator, count: int) -> list[Weekly]:
    """Services with their own spans of weeks (late launches, retirements, gaps), values with
    ties (rounded) and the odd and even counts per week that a median treats apart."""
    out = []
    for _ in range(count):
        start = int(rng.integers(2800, 2900))
        weeks = np.arange(start, start + int(rng.integers(1, 160)))
        weeks = weeks[rng.random(len(weeks)) > 0.1] if len(weeks) > 8 else weeks
        values = rng.lognormal(0, 0.3, len(weeks))
        if rng.random() < 0.3:
            values = np.round(values, 1)                 # ties between services
        out.append((weeks.astype(np.int64), values))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_weekly_medians_are_statistics_medians_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for count in (1, 2, 3, 5, 8, 40, 300):
        members = _members(rng, count)
        for need in (1, min(5, count), count):
            fast = weekly_medians(members, need)
            plain = weekly_medians_plain(members, need)
            assert fast.keys() == plain.keys()
            assert all(np.float64(fast[w]).view(np.int64) == np.float64(plain[w]).view(np.int64)
                       for w in plain)
            assert plain or need > 1


def test_odd_and_even_counts_and_huge_values() -> None:
    """An odd count's median is its middle value itself, not the mean of it with itself
    (which overflows near the largest float)."""
    weeks = np.arange(3000, 3010, dtype=np.int64)
    members = [(weeks, np.full(10, v)) for v in (1e308, 1.7e308, 1.5e308)]
    with np.errstate(over="ignore"):
        assert weekly_medians(members, 1) == weekly_medians_plain(members, 1) == {
            int(w): 1.5e308 for w in weeks}
        assert weekly_medians(members[:2], 1)[3000] == np.inf      # statistics' own overflow


def test_a_value_numpy_sorts_apart_takes_the_lists_way() -> None:
    weeks = np.arange(3000, 3010, dtype=np.int64)
    members = [(weeks, np.full(10, 1.0)), (weeks, np.full(10, 2.0)),
               (weeks, np.array([np.nan] + [3.0] * 9))]
    assert weekly_medians(members, 3) == weekly_medians_plain(members, 3)
    assert weekly_medians(members, 3)[3000] == 2.0      # NaN counted where statistics has it
