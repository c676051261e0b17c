"""``engine.arrays``: a query's columns as NumPy arrays, the same from DuckDB's own arrays as
through pyarrow (the path of other backends)."""

from __future__ import annotations

import duckdb
import narwhals as nw
import numpy as np

from dipstick.engine import arrays

SQL = """SELECT * FROM (VALUES (1, 1.5::DOUBLE, 'a', 7), (2, NULL, NULL, NULL), (3, -0.0, 'é', 9))
         t(k, x, s, n)"""


def test_duckdb_and_pyarrow_give_the_same_arrays() -> None:
    con = duckdb.connect()
    direct = arrays(nw.from_native(con.sql(SQL)).lazy())
    through = arrays(nw.from_native(con.sql(SQL).to_arrow_table()).lazy())
    assert list(direct) == list(through) == ["k", "x", "s", "n"]
    for name in direct:
        a, b = direct[name], through[name]
        assert a.dtype == b.dtype, name
        assert a.tolist() == b.tolist() or np.array_equal(a, b, equal_nan=True), name
    assert np.isnan(direct["x"][1]) and direct["s"][1] is None and np.isnan(direct["n"][1])
    assert not isinstance(direct["x"], np.ma.MaskedArray)


def test_integer_sums_collect_as_the_floats_of_their_decimals() -> None:
    """DuckDB's sums of integers are HUGEINTs, decimals to pyarrow; ``collect`` makes each the
    float ``float(Decimal)`` is — through int64 in Arrow, or value by value for a column with
    a sum past 2**53 (NULLs kept)."""
    import decimal

    import pyarrow as pa

    from dipstick.engine import collect

    con = duckdb.connect()
    big = 2**62   # two of them: a sum past int64
    sql = f"""SELECT g, SUM(v) AS s FROM (VALUES (1, 3), (1, -10), (2, NULL), (3, {2**52}),
              (3, {2**52})) t(g, v) GROUP BY g ORDER BY g"""
    rows = collect(nw.from_native(con.sql(sql)).lazy())
    assert pa.types.is_decimal(con.sql(sql).to_arrow_table().schema.field("s").type)
    assert [r["s"] for r in rows] == [-7.0, None, float(2**53)]
    assert all(isinstance(r["s"], float) for r in rows if r["s"] is not None)
    wide = f"SELECT SUM(v) AS s FROM (VALUES ({big}), ({big}), ({2**53 + 1})) t(v)"
    assert collect(nw.from_native(con.sql(wide)).lazy()) == [
        {"s": float(decimal.Decimal(2 * big + 2**53 + 1))}]


ROWS_SQL = """SELECT * FROM (VALUES
    (1, true, 7::TINYINT, 300::SMALLINT, 2::UBIGINT, 1.25::FLOAT, (-0.0)::DOUBLE, 'é→x',
     'b'::ENUM('a', 'b'), DATE '2026-03-01', TIMESTAMP '2026-03-01 10:20:30.123456',
     TIMESTAMPTZ '2026-03-01 23:30:00+02', 12.50::DECIMAL(10, 2), 12::DECIMAL(18, 0), NULL),
    (2, NULL, NULL, NULL, NULL, 'nan'::FLOAT, 'inf'::DOUBLE, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL),
    (3, false, (-128)::TINYINT, (-1)::SMALLINT, 18446744073709551615::UBIGINT, (-3.4e38)::FLOAT,
     'nan'::DOUBLE, '', 'a'::ENUM('a', 'b'), DATE '1970-01-01', TIMESTAMP '1900-01-01',
     TIMESTAMPTZ '2026-03-29 01:30:00+00', -0.01::DECIMAL(10, 2), NULL, NULL))
    t(k, b, ti, si, ub, f, d, s, e, day, ts, tz, dec, dec0, nothing)"""


def _typed(rows: list[dict[str, object]]) -> list[list[tuple[str, str, str]]]:
    """Rows as (name, type, repr) triples: -0.0, NaN, 1 and 1.0 all tell apart."""
    return [[(k, type(v).__name__, repr(v)) for k, v in r.items()] for r in rows]


def test_collect_from_duckdb_gives_what_arrow_gave() -> None:
    """``collect`` reads a DuckDB relation with DuckDB's own ``fetchall`` (engine._duckdb_rows);
    every value must be the one the Arrow path (other backends, and DuckDB before) made:
    integer and decimal sums as floats, zoned timestamps as naive UTC, ENUMs as text."""
    from dipstick.engine import _duckdb_rows, collect

    con = duckdb.connect()
    con.execute("SET TimeZone = 'Europe/Berlin'")   # the zoned values still come back UTC
    sums = ("SELECT g, sum(v) AS total, avg(v) AS mean, count(*) AS n, min(day) AS first "
            "FROM (VALUES (1, 3, DATE '2026-01-02'), (1, -10, NULL), (2, NULL, NULL), "
            f"(3, {2**53}, DATE '2026-01-01'), (3, {2**53}, NULL), (4, {2**62}, NULL), "
            f"(4, {2**62}, NULL)) t(g, v, day) GROUP BY g ORDER BY g")
    empty = "SELECT 1::HUGEINT AS h, 'x' AS s WHERE false"
    for sql in (ROWS_SQL, sums, empty):
        assert _duckdb_rows(con.sql(sql)) is not None, sql   # the fast path is taken
        direct = collect(nw.from_native(con.sql(sql)).lazy())
        through = collect(nw.from_native(con.sql(sql).to_arrow_table()).lazy())
        assert _typed(direct) == _typed(through), sql
    got = collect(nw.from_native(con.sql(ROWS_SQL)).lazy())
    assert str(got[0]["tz"]) == "2026-03-01 21:30:00" and got[0]["tz"].tzinfo is None
    assert got[0]["dec0"] == 12.0 and isinstance(got[0]["dec0"], float)


def test_collect_of_other_types_goes_through_arrow() -> None:
    """A type whose DuckDB value differs from Arrow's (an interval, a list) is not read by
    ``fetchall``: the rows are Arrow's, as before."""
    from dipstick.engine import _duckdb_rows, collect

    con = duckdb.connect()
    sql = "SELECT 1 AS k, INTERVAL 1 DAY AS i, [1, 2] AS l"
    assert _duckdb_rows(con.sql(sql)) is None
    assert _typed(collect(nw.from_native(con.sql(sql)).lazy())) == _typed(
        collect(nw.from_native(con.sql(sql).to_arrow_table()).lazy()))
