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
