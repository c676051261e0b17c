"""The query layer: signal tables as Narwhals lazy frames over one DuckDB connection.

Indicators write their aggregations against :class:`Signals` with Narwhals expressions, so the
same code can run on another backend (Spark, Polars) by handing Signals other native frames.
Plain DuckDB SQL is kept to ``dipstick.engine.sql`` for what Narwhals cannot express (typed CSV
loading with row-level error capture).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:   # imported where used: the plain-SQL paths (a log file's discovery) need none
    import narwhals as nw
    import numpy as np
    import pyarrow as pa


class Signals:
    """Named signal tables. A missing table is legitimate (every table is optional)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, tables: Mapping[str, str]) -> None:
        self._con = con
        self._tables = dict(tables)
        self._since: dict[str, tuple[str, datetime]] = {}

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        return self._con

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._tables))

    def has(self, name: str) -> bool:
        return name in self._tables

    def frame(self, name: str, coded: bool = False) -> nw.LazyFrame[Any]:
        """The table ``name``. With ``coded``, a table stored with ENUM columns
        (:mod:`dipstick.engine.coded`) as it is stored: those columns group and filter on one
        or two bytes a row instead of the view's cast to text (the tickets' weekly series
        ~0.2 s of CPU less on 5.3 M rows). Such a reader compares them only for equality with
        text (:func:`one_of`; never by order: an ENUM orders by its index) and gives its keys
        back as text with :func:`as_text` once aggregated. Not worth it on a small table:
        each step of a Narwhals query over an ENUM of 2,000 services binds its type's text
        (~5 ms)."""
        import narwhals as nw

        table = self._tables[name]
        if coded:
            from dipstick.engine.coded import stored

            with contextlib.suppress(duckdb.CatalogException):
                return self._cut(name, nw.from_native(self._con.table(stored(table))))
        return self._cut(name, nw.from_native(self._con.table(table)))

    def restrict(self, name: str, column: str, since: datetime) -> None:
        """Leave the rows of ``name`` before ``since`` out of every later read (a baseline
        too thin to use: coverage.py)."""
        self._since[name] = (column, since)

    def unrestrict(self) -> None:
        self._since.clear()

    def _cut(self, name: str, frame: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        if name not in self._since:
            return frame
        import narwhals as nw

        column, since = self._since[name]
        return frame.filter(nw.col(column) >= since)

    def columns(self, name: str) -> tuple[str, ...]:
        return tuple(self._con.table(self._tables[name]).columns)

    def parts(self, name: str, key: str) -> list[list[str]] | None:
        """The values of ``key`` in disjoint sets, for a query grouped by ``key`` with medians
        to run once per set within DuckDB's memory limit (:mod:`dipstick.engine.parts`); None
        when it fits in one run, as it does below tens of millions of rows."""
        from dipstick.engine import parts
        from dipstick.engine.sql import ident, memory_limit, run

        table = ident(self._tables[name])
        k = parts.count(int(run(self._con, f"SELECT count(*) FROM {table}")[0][0]),
                        memory_limit(self._con))
        if k == 1:
            return None
        keys = [str(r[0]) for r in run(self._con, f"SELECT DISTINCT {ident(key)} FROM {table} "
                                       f"WHERE {ident(key)} IS NOT NULL")]
        return parts.deal(keys, k)

    def each_part(self, name: str, key: str, coded: bool = False) -> list[nw.LazyFrame[Any]]:
        """``name``'s frame (``coded`` as for :meth:`frame`), once whole or once per set of
        :meth:`parts`."""
        import narwhals as nw

        sets = self.parts(name, key)
        frame = self.frame(name, coded)
        return [frame] if sets is None else [frame.filter(nw.col(key).is_in(s)) for s in sets]

    def close(self) -> None:
        self._con.close()


def as_text(lf: nw.LazyFrame[Any], *names: str) -> nw.LazyFrame[Any]:
    """``names`` of an aggregated :meth:`Signals.frame` read ``coded`` as text again: one cast
    a group, the same strings (and nulls) the view gives; a no-op on text."""
    import narwhals as nw

    return lf.with_columns(*(nw.col(n).cast(nw.String) for n in names))


def one_of(column: str, values: Iterable[str]) -> nw.Expr:
    """``column`` equal to one of ``values`` (false for none, null on a null): what
    ``is_in`` says, as equalities, which DuckDB compares on an ENUM's codes where ``is_in``'s
    ``contains`` casts each row to text."""
    import narwhals as nw

    found = [nw.col(column) == v for v in dict.fromkeys(values)]
    if not found:
        return nw.col(column).is_in([])
    out = found[0]
    for f in found[1:]:
        out = out | f
    return out


def collect(lf: nw.LazyFrame[Any]) -> list[dict[str, Any]]:
    """Run a lazy query and return plain Python rows (Decimals from integer sums become floats).
    Column by column: only columns of a type that needs it go through :func:`_plain` (per
    value it cost ~1.5 s of a 2,000-service check). On DuckDB straight from DuckDB
    (:func:`_duckdb_rows`) when every column is of a plain type."""
    native = lf.to_native()
    if isinstance(native, duckdb.DuckDBPyRelation):
        rows = _duckdb_rows(native)
        if rows is not None:
            return rows
    table = lf.collect(backend="pyarrow").to_native()
    names = table.column_names
    columns = [_plain_column(table.column(i)) for i in range(len(names))]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)] \
        if columns else [{} for _ in range(table.num_rows)]


def arrays(lf: nw.LazyFrame[Any]) -> dict[str, np.ndarray[Any, Any]]:
    """Run a lazy query and return its columns as NumPy arrays (text as object arrays; a
    column with a missing number as floats with NaN, other missing values None). On DuckDB
    straight from DuckDB: any pyarrow-to-NumPy conversion imports pandas first (0.17 s of
    every check); elsewhere through pyarrow."""
    import numpy as np

    native = lf.to_native()
    if isinstance(native, duckdb.DuckDBPyRelation):
        return {k: _unmasked(v) for k, v in native.fetchnumpy().items()}
    table = lf.collect(backend="pyarrow").to_native()
    return {k: np.asarray(table.column(k).to_numpy(zero_copy_only=False))
            for k in table.column_names}


def coded_arrays(lf: nw.LazyFrame[Any], keys: Iterable[str]
                 ) -> tuple[dict[str, np.ndarray[Any, Any]], dict[str, tuple[str, ...]]]:
    """:func:`arrays`, except that each of ``keys`` still an ENUM on DuckDB (a ``coded``
    frame's column, not cast with :func:`as_text`) comes as its codes (int64, -1 for a null),
    with the ENUM's values by code. Why: the text of the weekly series' ~320,000 grouped rows
    of tickets and of usage cost more to fetch, rank and reorder in Python (~0.3 s of CPU)
    than the query spent grouping them. Elsewhere (text, Spark) the keys come as text."""
    import numpy as np

    native = lf.to_native()
    coded, labels = enum_codes(native, keys)
    if not labels:
        return arrays(lf), {}
    got = coded.fetchnumpy()
    return {k: np.asarray(np.ma.filled(np.ma.asarray(v).astype(np.int64), -1))
            if k in labels else _unmasked(v) for k, v in got.items()}, labels


def enum_codes(native: Any, keys: Iterable[str]
               ) -> tuple[duckdb.DuckDBPyRelation, dict[str, tuple[str, ...]]]:
    """A DuckDB relation with each of ``keys`` that is an ENUM as its codes (``enum_code``),
    and those ENUMs' values by code; no labels (and the input) for text keys or another engine."""
    from dipstick.engine.quote import ident

    wanted = set(keys)
    labels: dict[str, tuple[str, ...]] = {}
    if isinstance(native, duckdb.DuckDBPyRelation):
        for name, t in zip(native.columns, native.types, strict=True):
            if name in wanted and t.id == "enum":
                values = dict(t.children)["values"]
                assert isinstance(values, list)
                labels[name] = tuple(values)
    if not labels:
        return native, {}
    return native.project(", ".join(
        f"enum_code({ident(n)}) AS {ident(n)}" if n in labels else ident(n)
        for n in native.columns)), labels


def _unmasked(v: Any) -> np.ndarray[Any, Any]:
    """DuckDB's column with NULLs (a masked array) as pyarrow's ``to_numpy`` gives it."""
    import numpy as np

    if not isinstance(v, np.ma.MaskedArray):
        return np.asarray(v)
    if v.dtype.kind in "fiub":
        return np.asarray(np.ma.filled(v.astype(np.float64), np.nan))
    out = np.array(v.data, dtype=object)      # ``filled(None)`` would fill with "?"
    out[np.ma.getmaskarray(v)] = None
    return out


# DuckDB types whose Python values are already what :func:`_plain_column` makes of Arrow's;
# decimals (integer sums are HUGEINT) become floats, zoned timestamps naive UTC (``_plain``)
_AS_IS = frozenset({"boolean", "tinyint", "smallint", "integer", "bigint", "utinyint",
                    "usmallint", "uinteger", "ubigint", "float", "double", "varchar", "enum",
                    "date", "timestamp", "null"})
_AS_FLOAT = frozenset({"hugeint", "decimal"})
_ZONED = "timestamp with time zone"


def _duckdb_rows(rel: duckdb.DuckDBPyRelation) -> list[dict[str, Any]] | None:
    """:func:`collect`'s rows from DuckDB's own ``fetchall``, the same values; None when a
    column is of another type (a list, an interval …), which then goes through Arrow.

    Why: Arrow's ``to_pylist`` makes each value through a scalar object, and the Arrow table
    itself is a copy nobody reads: the check's ~60 collects spent ~0.8 s of CPU there."""
    kinds = [t.id for t in rel.types]
    if not all(k in _AS_IS or k in _AS_FLOAT or k == _ZONED for k in kinds):
        return None
    names = rel.columns
    rows = rel.fetchall()
    fix = {i: (_float if k in _AS_FLOAT else _plain) for i, k in enumerate(kinds)
           if k not in _AS_IS}
    if fix and rows:
        columns = [list(c) for c in zip(*rows, strict=True)]
        for i, f in fix.items():
            columns[i] = [f(v) for v in columns[i]]
        rows = list(zip(*columns, strict=True))
    return [dict(zip(names, r, strict=True)) for r in rows]


def _float(v: Any) -> float | None:
    return None if v is None else float(v)


def _plain_column(column: pa.ChunkedArray) -> list[Any]:
    import pyarrow as pa

    t = column.type
    if pa.types.is_decimal(t) and t.scale == 0:
        # DuckDB's integer sums (HUGEINT) arrive as decimals: through int64 to float64 in
        # Arrow, the same floats ``_plain`` makes of each Decimal, without a Decimal per value
        # (0.2 s of perception's measure on the large demo). Safe casts: a sum past int64 or
        # 2**53 raises, and takes the value-by-value way
        try:
            floats: list[Any] = column.cast(pa.int64()).cast(pa.float64()).to_pylist()
        except pa.ArrowInvalid:
            pass
        else:
            return floats
    values: list[Any] = column.to_pylist()
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or \
            pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_date(t) or \
            pa.types.is_null(t) or (pa.types.is_timestamp(t) and t.tz is None):
        return values           # already what _plain would return, value for value
    return [_plain(v) for v in values]


def keyed(rows: Iterable[dict[str, Any]], *keys: str) -> dict[Any, dict[str, Any]]:
    """Index rows by one key (a value) or several (a tuple)."""
    out: dict[Any, dict[str, Any]] = {}
    for r in rows:
        k = r[keys[0]] if len(keys) == 1 else tuple(r[x] for x in keys)
        out[k] = r
    return out


def between(column: str, start: datetime, end: datetime) -> nw.Expr:
    """Half-open ``start <= column < end``."""
    import narwhals as nw

    return (nw.col(column) >= start) & (nw.col(column) < end)


def epoch_us(column: str, on: nw.LazyFrame[Any] | None = None) -> nw.Expr:
    """Microseconds since 1970-01-01 of a timestamp (or date) column. With ``on``, the frame
    the expression will run on: on DuckDB, DuckDB's own ``epoch_us`` (Narwhals renders
    ``dt.total_microseconds()`` as exactly that, and DuckDB takes a timestamp there as well
    as a difference) — 0.4 s of CPU for the large demo's weeks of 5.3 M tickets against
    2.8 s; tests/test_durations.py holds both to the same integers. On Spark, of a timestamp
    column, its whole seconds (Spark's cast to a number floors them) and the microseconds
    past: a few nodes where the calendar parts below are ~150, which Spark's analyser took
    ~1 s to accept in each query (docs/decisions.md, session 25). Otherwise from calendar
    parts, the one form every engine computes (Narwhals has neither ``dt.timestamp`` nor a
    total of a difference on Spark). Spark's microsecond of a time before 1970 is negative
    (the remainder of its microseconds since 1970): taken modulo a second, it is the one
    past the whole second, as elsewhere."""
    import narwhals as nw

    if on is not None and on.implementation is nw.Implementation.DUCKDB:
        return nw.col(column).dt.total_microseconds()
    e = nw.col(column).dt
    micro = (e.microsecond().cast(nw.Int64) + 1_000_000) % 1_000_000
    if on is not None and _spark_timestamp(on, column):
        return nw.col(column).cast(nw.Int64) * 1_000_000 + micro
    y = e.year().cast(nw.Int64)
    days = ((y - 1970) * 365 + (y - 1969) // 4 - (y - 1901) // 100 + (y - 1601) // 400
            + e.ordinal_day().cast(nw.Int64) - 1)
    minutes = (days * 24 + e.hour().cast(nw.Int64)) * 60 + e.minute().cast(nw.Int64)
    return (minutes * 60 + e.second().cast(nw.Int64)) * 1_000_000 + micro


def _spark_timestamp(on: nw.LazyFrame[Any], column: str) -> bool:
    """Whether ``column`` of ``on`` is a Spark ``timestamp`` (with the session's zone, which
    is what the loaders make): a number cast of it is its seconds since 1970, where one of a
    ``timestamp_ntz`` or a date fails."""
    return is_spark(on) and dict(on.to_native().dtypes).get(column) == "timestamp"


def is_spark(frame: nw.LazyFrame[Any]) -> bool:
    """Whether ``frame`` runs on Spark (a session of its own or Spark Connect)."""
    import narwhals as nw

    return frame.implementation in (nw.Implementation.PYSPARK,
                                    nw.Implementation.PYSPARK_CONNECT)


def minutes_between(start: str, end: str, on: nw.LazyFrame[Any] | None = None) -> nw.Expr:
    """Whole minutes from ``start`` to ``end``, truncated toward zero (negative when ``end``
    is earlier); ``on`` as for :func:`epoch_us`. On Spark, whose floor division goes through
    doubles (a span beyond 2⁵³ µs, 285 years, lost its last minute there), the whole minutes'
    microseconds are taken exactly first and the quotient rounded: a whole number either way."""
    import narwhals as nw

    d = epoch_us(end, on) - epoch_us(start, on)
    if on is not None and is_spark(on):
        def whole(x: nw.Expr) -> nw.Expr:
            return ((x - x % 60_000_000) / 60_000_000).round(0).cast(nw.Int64)

        return nw.when(d >= 0).then(whole(d)).otherwise(-whole(-d))
    return nw.when(d >= 0).then(d // 60_000_000).otherwise(-((-d) // 60_000_000))


def hours_between(start: str, end: str, on: nw.LazyFrame[Any] | None = None) -> nw.Expr:
    return minutes_between(start, end, on) / 60.0


def _plain(v: Any) -> Any:
    if isinstance(v, datetime) and v.tzinfo is not None:   # Spark's timestamps carry UTC
        return v.astimezone(UTC).replace(tzinfo=None)
    if v is None or isinstance(v, (str, bool, int, float, date, datetime)):
        return v
    try:
        return float(v)
    except (TypeError, ValueError):
        return v
