"""The change cause's sides in whole microseconds (:mod:`dipstick.indicators.change_sides`)
keep the pairs and name the sides the old formulation did — whole minutes truncated toward
zero, as days, against the span — on real DuckDB, at and one microsecond either side of every
boundary, for spans of 7 and 56 days, with NULL differences.

Seen red under: ``-(s + 1)`` as ``-s`` in ``within`` (the first kept minute before), ``<=``
as ``<`` in ``before`` (a pair exactly a minute before), ``<`` as ``<=`` in ``within``'s
upper bound."""

from __future__ import annotations

import duckdb
import narwhals as nw
import pytest

from dipstick.indicators import change_sides

MIN = 60_000_000


def _old(d: nw.Expr, span: float) -> tuple[nw.Expr, nw.Expr]:
    """The cause's formulation before session 19: kept, and before."""
    m = nw.when(d >= 0).then(d // MIN).otherwise(-((-d) // MIN))
    day = m / 1440.0
    return (day >= -span) & (day < span), day < 0


@pytest.mark.parametrize("span", [7, 56])
def test_sides_in_microseconds_equal_whole_minutes_as_days(span: int) -> None:
    edge = span * 1440 * MIN
    values = {0, 1, -1, 59_999_999, -59_999_999}
    for b in (MIN, edge, edge + MIN, 2 * edge):
        values |= {b + k for k in (-1, 0, 1)} | {-b + k for k in (-1, 0, 1)}
    con = duckdb.connect()
    con.execute("CREATE TABLE t (d BIGINT)")
    con.executemany("INSERT INTO t VALUES (?)", [(v,) for v in sorted(values)] + [(None,)])
    lf = nw.from_native(con.table("t"))
    kept, was_before = _old(nw.col("d"), float(span))
    got = lf.select(
        "d", old=kept, new=change_sides.within(nw.col("d"), span),
        old_side=was_before, new_side=change_sides.before(nw.col("d"))
    ).collect(backend="pyarrow").to_native().to_pylist()
    assert len(got) == len(values) + 1
    for r in got:
        assert bool(r["old"]) == bool(r["new"]), r
        if r["old"]:
            assert r["old_side"] == r["new_side"], r
    assert 0 < sum(bool(r["new"]) for r in got) < len(values)   # neither all kept nor none


def test_named_sides() -> None:
    rows = [{"id": "c1", "side": True}, {"id": "c1", "side": False}]
    assert change_sides.named(rows) == [{"id": "c1", "side": "before"},
                                        {"id": "c1", "side": "after"}]
