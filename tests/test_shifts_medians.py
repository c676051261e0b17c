"""The batched screen's running median of 5 by minima and maxima is ``np.partition``'s, bit
for bit: on random rows, ties, zeros of both signs, NaN and rows shorter than a window (those
with NaN or −0.0 go by ``np.partition`` itself); so is the median of 27, selected a few rows at
a time or by blocks of minima and maxima; and the rows' MAD is ``segment.mad``'s."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from dipstick.shifts.batch import (
    BLOCK_ROWS,
    WINDOW_ROWS,
    _mad_rows,
    _median_by_blocks,
    _median_of_5,
    _median_rows,
    _plain,
    _running_median,
    _sort_years,
)
from dipstick.shifts.segment import mad, median


def _partitioned(y: np.ndarray, width: int) -> np.ndarray:
    """The running median as the one-series detection takes it (``detect._running_median``)."""
    half = width // 2
    if y.shape[1] > half:
        padded = np.concatenate([y[:, half:0:-1], y, y[:, -2:-half - 2:-1]], axis=1)
    else:
        padded = np.concatenate([np.repeat(y[:, :1], half, axis=1), y,
                                 np.repeat(y[:, -1:], half, axis=1)], axis=1)
    out: np.ndarray = np.partition(sliding_window_view(padded, width, axis=1), half,
                                   axis=2)[:, :, half]
    return out


def _rows(rng: np.random.Generator, kind: str, n: int) -> np.ndarray:
    if kind == "normal":
        return rng.normal(100, 10, (40, n))
    if kind == "ties":                                   # small counts: many equal values
        return rng.poisson(1.5, (40, n)).astype(np.float64)
    if kind == "zeros":                                  # both zeros, negatives
        y = rng.choice([0.0, -0.0, 1.0, -1.0, 2.0], size=(40, n))
        return y
    if kind == "nan":
        y = rng.normal(0, 1, (40, n))
        y[rng.random((40, n)) < 0.05] = np.nan
        return y
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["normal", "ties", "zeros", "nan"])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 12, 157])
def test_running_median_of_5_is_partitions(kind: str, n: int) -> None:
    y = _rows(np.random.default_rng(n), kind, n)
    got = _running_median(y, 5)
    assert np.array_equal(got.view(np.int64), _partitioned(y, 5).view(np.int64))


@pytest.mark.parametrize("kind", ["normal", "ties", "zeros", "nan"])
@pytest.mark.parametrize("n", [1, 13, 14, 27, 157])
def test_running_median_of_27_by_blocks_of_rows_is_partitions(kind: str, n: int) -> None:
    """Rows in the blocks of :data:`WINDOW_ROWS` one buffer holds: fewer, exactly a block,
    and more with a part block after them."""
    y = _rows(np.random.default_rng(200 + n), kind, n)
    tall = np.concatenate([y, y[::-1] * 1.5, y[:8]])
    for rows in (y[:1], y[:WINDOW_ROWS], tall):
        assert len(tall) > 2 * WINDOW_ROWS and len(tall) % WINDOW_ROWS
        assert np.array_equal(_running_median(rows, 27).view(np.int64),
                              _partitioned(rows, 27).view(np.int64))


@pytest.mark.parametrize("kind", ["normal", "ties", "zeros", "nan"])
@pytest.mark.parametrize("n", [1, 13, 14, 26, 27, 28, 54, 55, 152, 157])
def test_running_median_of_27_by_blocks_is_partitions(kind: str, n: int) -> None:
    """Enough rows for the blocks (plain rows; those with NaN or −0.0 by ``np.partition``),
    on every length of row relative to a block: shorter, one, just over, several."""
    y = _rows(np.random.default_rng(300 + n), kind, n)
    tall = np.concatenate([y * (1 + i) for i in range(BLOCK_ROWS // len(y) + 1)])
    assert len(tall) >= BLOCK_ROWS
    assert np.array_equal(_running_median(tall, 27).view(np.int64),
                          _partitioned(tall, 27).view(np.int64))


@pytest.mark.parametrize("width", [1, 3, 5, 7, 27, 29])
@pytest.mark.parametrize("n", [1, 2, 6, 7, 8, 40, 157])
def test_the_blocks_select_what_partition_selects(width: int, n: int) -> None:
    """``_median_by_blocks`` alone, any odd width and few rows: ties, infinities of both signs,
    and values equal across a block's edge."""
    rng = np.random.default_rng(1000 * width + n)
    for y in (rng.normal(0, 1, (3, n)), rng.poisson(1.0, (3, n)).astype(np.float64),
              rng.choice([1.0, 2.0, np.inf, -np.inf], size=(3, n)), np.ones((2, n))):
        half = width // 2
        if n > half:
            padded = np.concatenate([y[:, half:0:-1], y, y[:, -2:-half - 2:-1]], axis=1)
        else:
            padded = np.concatenate([np.repeat(y[:, :1], half, axis=1), y,
                                     np.repeat(y[:, -1:], half, axis=1)], axis=1)
        assert np.array_equal(_median_by_blocks(padded, width).view(np.int64),
                              _partitioned(y, width).view(np.int64))


def test_the_network_takes_plain_rows_only() -> None:
    """NaN and −0.0 go to ``np.partition``; and on rows with them the network would differ
    (so the guard is needed, and the test above can fail)."""
    rng = np.random.default_rng(3)
    assert _plain(rng.normal(0, 1, (4, 30))) and _plain(np.zeros((2, 9)))
    for kind in ("zeros", "nan"):
        y = _rows(rng, kind, 157)
        assert not _plain(y)
        padded = np.concatenate([y[:, 2:0:-1], y, y[:, -2:-4:-1]], axis=1)
        assert not np.array_equal(_median_of_5(padded).view(np.int64),
                                  _partitioned(y, 5).view(np.int64))


@pytest.mark.parametrize("kind", ["normal", "ties", "zeros", "nan"])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 12, 13, 156, 157])
def test_the_rows_mad_is_segmentations_bit_for_bit(kind: str, n: int) -> None:
    """``batch._mad_rows`` (one selection per median, session 15) against the one-series
    ``segment.mad`` (``np.partition`` at both middle positions): to the bit, zeros of both
    signs and NaN included; and the median itself to the value."""
    y = _rows(np.random.default_rng(100 + n), kind, n)
    got = _mad_rows(y)
    want = np.array([mad(row) for row in y])
    assert np.array_equal(got.view(np.int64), want.view(np.int64))
    assert np.array_equal(_median_rows(y), [median(row) for row in y], equal_nan=True)


@pytest.mark.parametrize("years", [1, 2, 3, 4, 5, 8, 9, 12])
def test_the_years_network_sorts_as_numpy(years: int) -> None:
    """``_sort_years`` (a network up to ``SORTED_YEARS``, ``np.sort`` beyond) against
    ``np.sort`` along the years: NaN last, infinities, ties, zeros of both signs — the same
    values in every place (0.0 and −0.0 compare equal: their order is either sort's own)."""
    rng = np.random.default_rng(years)
    table = rng.choice([np.nan, np.nan, -np.inf, np.inf, 0.0, -0.0, 1.0, -1.0, 2.5],
                       size=(years, 60, 53))
    table[:, :20] = rng.normal(0, 1, (years, 20, 53))
    table[:, 20:30] = np.nan
    want = np.sort(table, axis=0)
    got = table.copy()
    _sort_years(got)
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.array_equal(np.signbit(got[np.isinf(got)]), np.signbit(want[np.isinf(want)]))
