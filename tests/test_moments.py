"""Means and standard deviations from exact sums (dipstick.indicators.moments), on real DuckDB:
the same rows in any order, on several threads, give the same bits; and the figures are the
textbook ones."""

from __future__ import annotations

import math
import random
import statistics

import duckdb
import narwhals as nw
import pyarrow as pa
import pytest

from dipstick.engine import collect
from dipstick.indicators.moments import mean_sd, sums


def _rows(seed: int) -> list[tuple[str, float]]:
    rnd = random.Random(seed)
    # survey-like values: whole points, halves and odd decimals (0.1 has no exact binary form)
    return [(f"g{rnd.randrange(7)}", rnd.choice([rnd.randrange(11), rnd.randrange(21) / 2,
                                                   round(rnd.uniform(0, 10), 3)]))
            for _ in range(60_000)]


def _aggregate(rows: list[tuple[str, float]], threads: int) -> dict[str, tuple[float | None,
                                                                                 float | None]]:
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.register("given", pa.table({"g": [g for g, _ in rows], "x": [x for _, x in rows]}))
    con.execute("CREATE TABLE t AS SELECT * FROM given")   # a real table, in the rows' order
    lf = nw.from_native(con.sql("SELECT * FROM t")).group_by("g").agg(*sums("x", "x"),
                                                                      n=nw.len())
    return {r["g"]: mean_sd(r, "x", int(r["n"])) for r in collect(lf)}


def test_any_order_and_any_threads_give_the_same_bits() -> None:
    rows = _rows(1)
    first = _aggregate(rows, 4)
    for seed in (2, 3):
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        assert _aggregate(shuffled, 4) == first
    assert _aggregate(rows, 1) == first


def test_the_figures_are_the_mean_and_the_sample_standard_deviation() -> None:
    rows = _rows(4)
    got = _aggregate(rows, 2)
    for g, (mean, sd) in got.items():
        xs = [x for k, x in rows if k == g]
        assert mean == pytest.approx(math.fsum(xs) / len(xs), rel=1e-12)
        assert sd == pytest.approx(statistics.stdev(xs), rel=1e-9)


def test_one_value_has_a_mean_and_no_spread() -> None:
    got = _aggregate([("a", 7.25)], 1)
    assert got == {"a": (7.25, None)}


def test_whole_numbers_give_what_a_plain_mean_gives() -> None:
    """Survey answers are whole points: the mean is bit-equal to the engine's own (exact sum
    ÷ n, correctly rounded), so the change moved no mean of the demo."""
    rows = [(f"g{i % 3}", float(i % 11)) for i in range(10_001)]
    got = _aggregate(rows, 2)
    for g, (mean, _) in got.items():
        xs = [x for k, x in rows if k == g]
        assert mean == sum(xs) / len(xs)
