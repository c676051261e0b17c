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
