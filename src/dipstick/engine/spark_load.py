"""A signal table read and validated by Spark, where it lives, as Spark jobs.

Why: a lake's tables (partitioned Parquet on object storage, hundreds of millions of rows)
cannot pass through one machine. Spark reads them (``spark.read.parquet``), checks every rule
of :mod:`dipstick.engine.rules` — the declaration the DuckDB loader renders too — in one
aggregate scan of counts, and fetches at most :data:`MAX_ROWS_PER_PROBLEM` rows of each broken
rule (file from ``_metadata.file_path``, row from ``_metadata.row_index``). Only those counts
and samples reach the driver; the typed table stays a Spark DataFrame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from dipstick.engine.rules import Column, Dialect, table_rules
from dipstick.engine.sql import (
    MAX_ROWS_PER_PROBLEM,
    always_casts,
    duplicate_message,
    has_key,
    in_folder,
    may_be_infinite,
)
from dipstick.errors import Problem

# Spark's names of Parquet's types, as DuckDB names them (what ``always_casts`` and
# ``may_be_infinite`` judge): one judgement of a typed column for both engines
_AS_DUCKDB = {"string": "VARCHAR", "tinyint": "TINYINT", "smallint": "SMALLINT",
              "int": "INTEGER", "bigint": "BIGINT", "float": "FLOAT", "double": "DOUBLE",
              "boolean": "BOOLEAN", "date": "DATE", "timestamp": "TIMESTAMP WITH TIME ZONE",
              "timestamp_ntz": "TIMESTAMP"}
_FILE, _ROW = "_metadata.file_path", "(_metadata.row_index + 1)"


class SparkDialect(Dialect):
    """Spark SQL's spelling of the rules: backquoted names, ``isnan`` for finiteness, and a
    reference's ids as a literal list (Spark turns a long ``IN`` list into a hash set)."""

    text_type = "STRING"

    def ident(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def literal(self, value: object) -> str:
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"

    def not_finite(self, v: str) -> str:
        return f"(isnan({v}) OR abs({v}) = CAST('Infinity' AS DOUBLE))"

    def finite(self, v: str) -> str:
        return f"(NOT isnan({v}) AND abs({v}) != CAST('Infinity' AS DOUBLE))"

    def not_in(self, v: str, known: str) -> str:
        return "true" if known == "()" else f"{v} NOT IN {known}"   # no ids: all unknown


SPARK = SparkDialect()


def duckdb_type(spark_type: str) -> str:
    return _AS_DUCKDB.get(spark_type, spark_type.upper())


def typed(c: Column, raw_type: str) -> str:
    """The column's value as its contract type, NULL where it does not cast (as the DuckDB
    loader's ``_typed``: ISO dates with or without a zone, ``2026-03`` months, yes/no)."""
    x = SPARK.ident(c.name)
    text = raw_type == "string"
    if c.kind == "text":
        return f"CAST({x} AS STRING)"
    if c.kind == "month":
        inner = f"CASE WHEN length({x}) = 7 THEN concat({x}, '-01') ELSE {x} END" if text else x
        return f"date_trunc('MONTH', try_cast({inner} AS TIMESTAMP))"
    if c.kind == "boolean" and text:
        return (f"CASE lower(trim({x})) WHEN 'yes' THEN true WHEN 'no' THEN false "
                f"ELSE try_cast({x} AS BOOLEAN) END")
    if c.kind == "integer" and text:   # 5, +5, 5.0 (casts.whole_sql's rule; not 5.5 or 0x10)
        return (f"CASE WHEN trim({x}) RLIKE '^[+-]?[0-9]+(\\\\.0*)?$' THEN "
                f"try_cast(regexp_replace(trim({x}), '\\\\.0*$', '') AS BIGINT) END")
    return f"try_cast({x} AS {_spark_type(c)})"


def _ids(ids: Iterable[str]) -> str:
    """The ids a reference may name as a literal list; ``()`` when there are none (every
    value is then unknown, as DuckDB's ``NOT IN`` an empty table says)."""
    known = sorted(set(ids))
    return SPARK.in_list(known) if known else "()"


def _spark_type(c: Column) -> str:
    return {"VARCHAR": "STRING"}.get(c.sql_type, c.sql_type)


def _key_text(parts: Sequence[tuple[str, str]]) -> str:
    """A repeated key as the DuckDB loader shows it (``2026-03-01 | crm``)."""
    def text(x: str, kind: str) -> str:
        if kind == "month":
            return f"date_format({x}, 'yyyy-MM')"
        if kind == "timestamp":
            return (f"CASE WHEN date_format({x}, 'HH:mm:ss.SSSSSS') = '00:00:00.000000' THEN "
                    f"date_format({x}, 'yyyy-MM-dd') ELSE date_format({x}, "
                    "'yyyy-MM-dd HH:mm:ss') END")
        return f"CAST({x} AS STRING)"

    return "concat(" + ", ' | ', ".join(f"coalesce({text(x, k)}, '')" for x, k in parts) + ")"


def load_frame(
    spark: Any,
    table: str,
    location: Path | str,
    columns: Sequence[Column],
    refs: Mapping[str, Iterable[str]],
    display: str,
    keys_of: Callable[[Iterable[str]], tuple[tuple[str, ...], bool]],
    folder: bool = False,
) -> tuple[Any, list[Problem]]:
    """The typed table as a Spark DataFrame (None when it has problems), and its problems:
    the DuckDB loader's (``engine.sql.load_table``) rules and messages, judged by Spark."""
    where = str(location)
    try:
        raw = spark.read.parquet(where)
        types = dict(raw.dtypes)
    except Exception as e:   # Spark's AnalysisException and friends, by many names
        return None, [Problem(display, "cannot be read as a parquet table: "
                              f"{str(e).strip().splitlines()[0]}")]
    missing = [Problem(display, "required column is missing (columns found: "
                       f"{', '.join(types) or 'none'})", field=c.name)
               for c in columns if c.required and c.name not in types]
    if missing:
        return None, missing
    present = [c for c in columns if c.name in types]
    exprs = {c.name: typed(c, types[c.name]) for c in present}
    rules = table_rules(table, columns, exprs, lambda n: may_be_infinite(duckdb_type(types[n])),
                        lambda n, kind: always_casts(duckdb_type(types[n]), kind))
    lists = {c.ref: _ids(refs.get(c.ref, ())) for c in present if c.ref}
    conditions = [(r, SPARK.condition(r, exprs, lists.__getitem__)) for r in rules]
    counts = raw.selectExpr(*[f"count_if({cond}) AS c{i}" for i, (_, cond)
                              in enumerate(conditions)]).collect()[0] if conditions else []
    # (field, message, rows broken, the broken rows as file f, row r, value v)
    found = [(r.field, r.message, int(n), raw.where(cond).selectExpr(
        f"{_FILE} AS f", f"{_ROW} AS r", f"{SPARK.ident(r.field)} AS v"))
        for (r, cond), n in zip(conditions, counts, strict=True) if n]
    keys, unique = keys_of(exprs)
    if unique and set(keys) <= exprs.keys():
        found += _duplicates(raw, keys, exprs, columns)
    problems: list[Problem] = []
    for field, message, n, broken in found:
        rows = broken.orderBy("f", "r").limit(MAX_ROWS_PER_PROBLEM).collect()
        for f, r, v in rows:
            problems.append(Problem(in_folder(display, where, f) if folder else display,
                                    message, row=int(r), field=field, value=v))
        if n > len(rows):
            problems.append(Problem(display, f"{message}: {n - len(rows):,} more rows like "
                                    "the ones above", field=field))
    if problems:
        return None, problems
    names = {c.name for c in columns}
    select = [f"{exprs[c.name]} AS {SPARK.ident(c.name)}" for c in present]
    select += [SPARK.ident(c) for c in types if c not in names]
    select += [f"{_ROW} AS seq" if (table, c.name) == ("events", "seq") else
               f"CAST(NULL AS {_spark_type(c)}) AS {SPARK.ident(c.name)}"
               for c in columns if c.name not in types]
    return raw.selectExpr(*select), []


def _duplicates(raw: Any, keys: Sequence[str], exprs: Mapping[str, str],
                columns: Sequence[Column]) -> list[tuple[str, str, int, Any]]:
    """The rows whose key another row carries too: a grouped count of the keys (one shuffle
    of the key columns); the rows are looked up (a semi-join) only when there are any."""
    from pyspark.sql import functions as F

    kinds = {c.name: c.kind for c in columns}
    keyed = has_key([exprs[c.name] for c in columns if c.name in keys and not c.required])
    if len(keys) == 1:   # an empty one-column key is "required but empty", not a repeat
        keyed = f"{exprs[keys[0]]} IS NOT NULL"
    names = [f"_k{i}" for i in range(len(keys))]
    with_keys = raw.selectExpr("*", *[f"{exprs[k]} AS {n}"
                                      for k, n in zip(keys, names, strict=True)])
    repeated = (with_keys.where(keyed).groupBy(*names).count().where("count > 1")
                .selectExpr(*[f"{n} AS _d{n}" for n in names], "count"))
    n = repeated.agg(F.sum("count")).collect()[0][0]
    if not n:
        return []
    rows = with_keys.where(keyed).join(
        repeated, [F.col(k).eqNullSafe(F.col(f"_d{k}")) for k in names], "left_semi")
    text = _key_text([(exprs[k], kinds[k]) for k in keys])
    return [(keys[0], duplicate_message(keys), int(n),
             rows.selectExpr(f"{_FILE} AS f", f"{_ROW} AS r", f"{text} AS v"))]


def latest_of(frames: Mapping[str, tuple[Any, Sequence[str]]]) -> date | None:
    """The latest day over the given date columns of the given frames (the default as-of):
    one aggregate per table, as text so no time zone moves it on the way back."""
    days: list[date] = []
    for frame, cols in frames.values():
        row = frame.selectExpr(*[f"date_format(max({SPARK.ident(c)}), 'yyyy-MM-dd')"
                                 for c in cols]).collect()[0]
        days += [date.fromisoformat(d) for d in row if d]
    return max(days, default=None)
