"""Times as integers: DuckDB's own ``epoch_us`` (what the check runs there) and the portable
calendar parts (what another engine runs; Spark's own form: tests/test_spark.py) give the same
microseconds, week numbers and whole minutes (truncated toward zero) on real DuckDB — across
leap days, year ends, seconds short of a minute, end before start, dates and NULL."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import narwhals as nw

from dipstick.engine import epoch_us, minutes_between
from dipstick.shifts.series import monday, week_index

PAIRS = [
    (datetime(2024, 2, 28, 23, 59, 30), datetime(2024, 3, 1, 0, 0, 29)),     # leap day
    (datetime(2023, 12, 31, 23, 0), datetime(2024, 1, 1, 1, 0, 0, 1)),
    (datetime(2024, 5, 1, 8, 0, 0), datetime(2024, 5, 1, 8, 0, 59, 999_999)),
    (datetime(2024, 5, 1, 8, 1, 0), datetime(2024, 5, 1, 8, 0, 0, 1)),        # end earlier
    (datetime(1999, 6, 1), datetime(2031, 6, 1, 12, 34, 56)),
    (datetime(2024, 5, 1), datetime(2024, 5, 1)),
]


def test_duckdb_difference_equals_calendar_parts() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (a TIMESTAMP, b TIMESTAMP)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [*PAIRS, (None, datetime(2024, 1, 1))])
    lf = nw.from_native(con.table("t"))
    got = lf.select(native=minutes_between("a", "b", lf), portable=minutes_between("a", "b")) \
        .collect(backend="pyarrow").to_native().to_pylist()
    want = [int((b - a) / timedelta(minutes=1)) for a, b in PAIRS] + [None]
    assert [r["native"] for r in got] == want
    assert [r["portable"] for r in got] == want
    # the check's path really is DuckDB's own difference, not the calendar parts again
    sql = lf.select(m=minutes_between("a", "b", lf)).to_native().sql_query()
    assert 'epoch_us("b")' in sql and "year" not in sql.lower()


def test_duckdb_epoch_and_weeks_equal_calendar_parts() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (ts TIMESTAMP, d DATE)")
    stamps = [a for pair in PAIRS for a in pair]
    con.executemany("INSERT INTO t VALUES (?, ?)", [(s, s.date()) for s in stamps]
                    + [(None, None)])
    lf = nw.from_native(con.table("t"))
    got = lf.select(**{f"{c}_{way}": epoch_us(c, on)
                       for c in ("ts", "d") for way, on in (("native", lf), ("portable", None))},
                    **{f"{c}_wk_{way}": week_index(c, on)
                       for c in ("ts", "d") for way, on in (("native", lf), ("portable", None))}
                    ).collect(backend="pyarrow").to_native().to_pylist()
    epoch = datetime(1970, 1, 1)
    for row, s in zip(got, [*stamps, None], strict=True):
        for c, v in (("ts", s), ("d", s and datetime.combine(s.date(), datetime.min.time()))):
            us = None if v is None else (v - epoch) // timedelta(microseconds=1)
            assert row[f"{c}_native"] == row[f"{c}_portable"] == us, (c, v)
            wk = row[f"{c}_wk_native"]
            assert wk == row[f"{c}_wk_portable"]
            if v is not None:      # the week's Monday is on or before the day, within 7 days
                assert 0 <= (v.date() - monday(wk)).days < 7, (c, v, wk)
