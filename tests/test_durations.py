"""Minutes between two timestamps: DuckDB's own difference (what the check runs) and the
portable calendar parts (what Spark runs) give the same whole minutes, truncated toward zero,
on real DuckDB — across leap days, year ends, seconds short of a minute and end before start."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import narwhals as nw

from dipstick.engine import minutes_between

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
    assert 'epoch_us(("b" - "a"))' in sql and "year" not in sql.lower()
