"""The plain DuckDB SQL of dipstick, in one place.

Narwhals has no ``TRY_CAST`` and no row-numbered file scans, which loading needs: every value of
every table is checked in one scan per table, and the first bad rows of each kind are reported
with their row numbers. Everything else is written with Narwhals in the indicators.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from dipstick.engine import coded as coded_
from dipstick.engine.casts import whole_sql
from dipstick.engine.log_times import iso_sql
from dipstick.engine.quote import ident as ident
from dipstick.engine.quote import literal as literal
from dipstick.engine.rules import DUCKDB, Column, Rule, table_rules, value_rules_of
from dipstick.errors import Problem
from dipstick.textfile import not_utf8

MAX_ROWS_PER_PROBLEM = 20
# A package's CSV tables are UTF-8 (docs/data-package.md); the importer reads the rest
_NOT_UTF8 = ("a data package's CSV tables are UTF-8: save it as UTF-8, or bring the export in "
             "with `dipstick import`, which reads Windows-1252 and UTF-16")


def connect(path: str = ":memory:", memory_limit: str | None = None,
            temp_directory: str | None = None) -> duckdb.DuckDBPyConnection:
    """A connection; with ``memory_limit`` (e.g. ``"1GB"``) DuckDB spills to
    ``temp_directory`` instead of growing, as the importer does (connectors/folder.py), so a
    package larger than memory is still checked (``benchmarks/scale.py`` measures it)."""
    con = duckdb.connect(path)
    try:
        run(con, "SET TimeZone = 'UTC'")
        run(con, "SET enable_progress_bar = false")  # dipstick draws its own progress
        if memory_limit:
            run(con, "SET memory_limit = ?", [memory_limit])   # rows keep their order: results
        if temp_directory:
            run(con, "SET temp_directory = ?", [temp_directory])
    except duckdb.Error:
        con.close()
        raise
    return con


def run(con: duckdb.DuckDBPyConnection, sql: str,
        params: Sequence[object] | Mapping[str, object] | None = None) -> list[tuple[Any, ...]]:
    """Execute and drain: DuckDB 2 refuses new work while a result is left unread. Values go
    in ``params`` (``?`` or ``$name`` in ``sql``), never into the SQL text."""
    return con.execute(sql, params).fetchall()


def _typed(col: Column, raw_type: str) -> str:
    x = ident(col.name)
    raw = raw_type.upper()
    text = raw.startswith("VARCHAR")
    if col.kind == "text":
        return x if text else f"CAST({x} AS VARCHAR)"
    if col.kind in ("timestamp", "month"):   # a month's text may be 2026-03
        inner = (f"CASE WHEN length({x}) = 7 THEN {x} || '-01' ELSE {x} END"
                 if text and col.kind == "month" else x)
        cast = (iso_sql(inner) if text else _utc(x) if raw in _ZONED
                else f"TRY_CAST({inner} AS TIMESTAMP)")
        return cast if col.kind == "timestamp" else f"date_trunc('month', {cast})"
    if col.kind == "boolean" and text:
        return (f"CASE lower(trim({x})) WHEN 'yes' THEN true WHEN 'no' THEN false "
                f"ELSE TRY_CAST({x} AS BOOLEAN) END")
    if col.kind == "integer" and text:
        return whole_sql(x)
    return f"TRY_CAST({x} AS {col.sql_type})"


_ZONED = {"TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"}


def _utc(x: str) -> str:
    """A zoned timestamp (Parquet's UTC-adjusted ones) as the UTC wall time the connection's
    ``TimeZone = 'UTC'`` cast gives, from its microseconds: the cast goes through ICU's
    calendar per value (1.2 s of 5.3 M tickets' two dates, the epoch 0.25 s); ±infinity,
    which has no microseconds, still takes the cast."""
    return (f"CASE WHEN isfinite({x}) THEN make_timestamp(epoch_us({x})) "
            f"ELSE TRY_CAST({x} AS TIMESTAMP) END")


@dataclass(frozen=True)
class Check:
    """One rule over a raw table: the rows where ``condition`` holds are reported."""

    field: str
    condition: str
    message: str
    value: str


def _ref_table(con: duckdb.DuckDBPyConnection, kind: str, ids: Iterable[str]) -> str:
    """Known ids as a temp table: ``NOT IN (SELECT …)`` is a hash join, while a literal list of
    2,000 ids is compared row by row (measured: 0.02 s vs 7.8 s on 5 M tickets)."""
    name = f"_ref_{kind}"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT unnest($ids::VARCHAR[]) AS id",
                {"ids": sorted(set(ids))}).fetchall()
    return f"(SELECT id FROM {name})"


def load_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    path: Path | str,
    columns: Sequence[Column],
    refs: Mapping[str, Iterable[str]],
    display: str,
    keys_of: Callable[[Iterable[str]], tuple[tuple[str, ...], bool]] | None = None,
    folder: bool = False,
    coded: bool = False,
    omit: Collection[str] = (),
) -> list[Problem]:
    """Load one signal file into the typed DuckDB table ``table``; return its problems.
    ``path`` may be a URL DuckDB reads; with ``folder`` it is a Parquet dataset (every
    ``*.parquet`` below it, Hive partitions as columns) and a problem names the file in it.

    ``refs`` maps a reference kind to the known ids; for ``dimension`` and ``touchpoint`` the ids
    are ``"group\\x1fdimension"`` / ``"journey\\x1ftouchpoint"`` pairs; no two rows may share
    a key (``keys_of`` the columns found: ``package.tables.keys_of``). Nothing is created when
    there is a problem, so a bad package never yields a half-loaded engine. With ``coded``,
    the text columns of a known set of values are stored as ENUMs and ``table`` is a view
    giving them back as text (:mod:`dipstick.engine.coded`): nothing may append to it.
    The ``omit`` columns are judged by every rule but not stored (no reader wants them).
    """
    raw = f"_raw_{table}"
    csv = not folder and str(path).endswith(".csv")
    meta = {"file_row_number", "filename"} if folder else {"file_row_number"}
    try:
        if csv:
            run(con, f"CREATE OR REPLACE TEMP TABLE {raw} AS SELECT * FROM read_csv("
                        "?, header = true, all_varchar = true)", [str(path)])
            rownum = "(rowid + 1)"
        elif folder:   # a view: DuckDB cannot bind its path, so it is a literal
            run(con, f"CREATE OR REPLACE TEMP VIEW {raw} AS SELECT * FROM read_parquet("
                        f"{literal(str(path).rstrip('/') + '/**/*.parquet')}, hive_partitioning "
                        "= true, file_row_number = true, filename = true)")
            rownum = "(file_row_number + 1)"
        else:
            run(con, f"CREATE OR REPLACE TEMP VIEW {raw} AS SELECT * FROM read_parquet("
                        f"{literal(path)}, file_row_number = true)")
            rownum = "(file_row_number + 1)"
        described = run(con, f"DESCRIBE SELECT * FROM {raw}")
    except duckdb.Error as e:
        found = csv and not_utf8(display, Path(path), str(e), _NOT_UTF8)
        return [found or Problem(display, f"cannot be read as a {'csv' if csv else 'parquet'} "
                                 f"table: {str(e).splitlines()[0]}")]
    types = {r[0]: str(r[1]) for r in described}
    header = [c for c in types if c not in meta]
    # a row's identity: its number, in a folder with its file (numbers restart per file)
    rowkey = f"row(filename, {rownum})" if folder else rownum
    problems = [Problem(display, "required column is missing (columns found: "
                        f"{', '.join(header) or 'none'})", field=c.name)
                for c in columns if c.required and c.name not in types]
    if problems:
        _drop(con, raw, csv)
        return problems

    present = [c for c in columns if c.name in types]
    typed = {c.name: _typed(c, types[c.name]) for c in present}
    rules = table_rules(table, columns, typed, lambda n: may_be_infinite(types[n]),
                        lambda n, kind: always_casts(types[n], kind))
    known = {c.ref: _ref_table(con, c.ref, refs.get(c.ref, ())) for c in present if c.ref}
    checks = [Check(r.field, DUCKDB.condition(r, typed, known.__getitem__), r.message,
                    ident(r.field)) for r in rules]

    keys, unique = keys_of(typed) if keys_of else ((), False)
    unique_key = unique and set(keys) <= typed.keys()
    # each column made: its name and expression (the file's extra columns kept as they are)
    made = {c.name: typed[c.name] for c in present if c.name not in omit} | {
        c: ident(c) for c in header if c not in typed}
    made |= {c.name: rownum if (table, c.name) == ("events", "seq")
             else f"CAST(NULL AS {c.sql_type})" for c in columns if c.name not in types}
    codes: Mapping[str, Sequence[str]] = coded_columns(rules, typed, refs) if coded else {}
    # Typed first when no rule needs the raw text (a typed Parquet file: no "not a valid"
    # rule): the rules' counts then read the new in-memory table instead of decoding and
    # casting the file a second time (5.3 M tickets: 1.8 → 0.5 s of CPU). A CSV is all text,
    # so its values are judged on the raw table before anything is made.
    first = not csv and all(r.test != "type" for r in rules)
    new = f"_new_{table}"
    if first:
        codes = _create(con, new, made, codes, raw)
        mine = {c.name: ident(c.name) for c in present if c.name not in omit}
        on = ident(new)
        # a text column kept as read: its value rules are counted on the file's values;
        # one cast to an ENUM of exactly the rule's set has found every value in it
        on_file = [i for i, r in enumerate(rules) if as_read(r, typed)]
        # a rule of a column not stored is counted on the file (a null test from its
        # statistics: 5.3 M ticket ids, 0.27 s of CPU as a count_if)
        aside = [i for i, r in enumerate(rules)
                 if i not in on_file and not mine.keys() >= set(read_columns(r))]
        counted, rows_in = count_rows(con, on, {
            i: DUCKDB.condition(r, mine, known.__getitem__) for i, r in enumerate(rules)
            if i not in on_file and i not in aside})
        if aside:
            got = run(con, "SELECT " + ", ".join(
                f"count(*) - count({ident(rules[i].field)})" if rules[i].test == "required"
                else f"count_if({checks[i].condition})" for i in aside) + f" FROM {raw}")[0]
            counted |= dict(zip(aside, (int(n or 0) for n in got), strict=True))
        cast = {i for i in on_file if coded_.judged(rules[i], codes, refs)}
        counted |= dict.fromkeys(cast, 0)
        on_file = [i for i in on_file if i not in cast]
        for names in dict.fromkeys(read_columns(rules[i]) for i in on_file):
            counted |= count_by_value(con, raw, names, {
                i: checks[i].condition for i in on_file if read_columns(rules[i]) == names})
        counts = [counted[i] for i in range(len(rules))]
    else:
        mine, on = typed, raw
        counted, rows_in = count_rows(con, raw, dict(enumerate(ch.condition for ch in checks)))
        counts = list(counted.values())
    optional = [c.name for c in columns if c.name in keys and not c.required]

    def key_on(x: Mapping[str, str]) -> tuple[str, str]:   # the key, and "the row has one"
        return key_sql([x[k] for k in keys]), has_key([x[n] for n in optional])

    screen, cols = (on, mine) if mine.keys() >= set(keys) else (raw, typed)   # a key omitted
    if unique_key and repeated_keys(con, screen, *key_on(cols), rows_in):
        raw_key, raw_keyed = key_on(typed)
        condition, n = duplicate_rows(con, raw, raw_key, rowkey, raw_keyed)
        if n:
            kinds = {c.name: c.kind for c in columns}
            checks.append(Check(keys[0], condition, duplicate_message(keys),
                                key_text([(typed[k], kinds[k]) for k in keys])))
            counts.append(n)
    for ch, n in zip(checks, counts, strict=True):
        if not n:
            continue
        file, order = ("filename", "f, r") if folder else ("NULL", "r")
        rows = _rows_where(con, f"SELECT {rownum} AS r, {ch.value}, {file} AS f FROM {raw} "
                                f"WHERE {ch.condition} ORDER BY {order} "
                                f"LIMIT {MAX_ROWS_PER_PROBLEM}", csv)
        for r, v, f in rows:
            problems.append(Problem(in_folder(display, path, f) if folder else display,
                                    ch.message, row=int(r), field=ch.field, value=v,
                                    line=int(r) + 1 if csv else None))
        if n > len(rows):
            problems.append(Problem(display, f"{ch.message}: {n - len(rows):,} more rows like "
                                    "the ones above", field=ch.field))
    if problems:
        run(con, f"DROP TABLE IF EXISTS {ident(new)}")
    else:
        if not first:
            codes = _create(con, new, made, codes, raw)
        coded_.drop_kept(con, table)
        run(con, f"ALTER TABLE {ident(new)} RENAME TO "
                 f"{ident(coded_.stored(table) if codes else table)}")
        if codes:
            run(con, coded_.view_sql(table, list(made), codes))
    _drop(con, raw, csv)
    return problems


def coded_columns(rules: Sequence[Rule], typed: Mapping[str, str],
                  refs: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    """:func:`dipstick.engine.coded.codes_of` of a table's rules."""
    return coded_.codes_of(rules, {i: read_columns(r) for i, r in enumerate(rules)},
                           {i: as_read(r, typed) for i, r in enumerate(rules)}, refs)


def _create(con: duckdb.DuckDBPyConnection, new: str, made: Mapping[str, str],
            codes: Mapping[str, Sequence[str]], raw: str) -> Mapping[str, Sequence[str]]:
    """Make ``new`` from ``raw``, the ``codes`` columns as ENUMs; return the columns coded.
    Before the rules are judged (typed first) a value outside its set cannot be cast: the
    table is then made plain, and the rules name the value.

    Why ``TRY_CAST`` and a count: DuckDB's ``CAST`` to an ENUM looks up every row's text,
    ``TRY_CAST`` each distinct value of a Parquet dictionary once (5.3 M tickets' service,
    type and group: 0.77 → 0.35 s of CPU). It makes a value outside the set NULL instead of
    failing, so the values of each coded column are counted in ``raw`` (a Parquet file's
    statistics) and in ``new``: one lost, and the table is made plain as a failed cast made
    it."""
    def make(codes: Mapping[str, Sequence[str]]) -> None:
        cols = [f"TRY_CAST({x} AS {coded_.enum_type(codes[n])}) AS {ident(n)}" if n in codes
                else f"{x} AS {ident(n)}" for n, x in made.items()]
        run(con, f"CREATE OR REPLACE TABLE {ident(new)} AS SELECT {', '.join(cols)} FROM {raw}")

    def counts(relation: str, exprs: Iterable[str]) -> tuple[Any, ...]:
        return run(con, f"SELECT {', '.join(f'count({x})' for x in exprs)} FROM {relation}")[0]

    make(codes)
    if codes and counts(raw, (made[n] for n in codes)) != counts(ident(new), map(ident, codes)):
        codes = {}
        make(codes)
    return codes


_BY_VALUE = {"choices", "ref", "pair_ref"}


def read_columns(rule: Rule) -> tuple[str, ...]:
    """The columns a rule's condition reads (its field; a pair's owner, the column compared
    with too)."""
    if rule.test in ("before", "more_than"):
        return (rule.field, str(rule.arg))
    return (str(rule.arg), rule.field) if rule.test == "pair_ref" else (rule.field,)


def as_read(rule: Rule, typed: Mapping[str, str]) -> bool:
    """Whether ``rule`` tests a value against a set (a choice, a reference) on text columns
    kept as read (a Parquet string column): it is then counted on the file's distinct
    values (:func:`count_by_value`), not on the typed table. A null test is left to the
    table, whose statistics answer it without a scan."""
    return rule.test in _BY_VALUE and all(typed.get(n) == ident(n) for n in read_columns(rule))


def count_rows(con: duckdb.DuckDBPyConnection, relation: str,
               conditions: Mapping[int, str]) -> tuple[dict[int, int], int]:
    """How many rows of ``relation`` each condition holds on, and how many rows it has: one
    aggregate scan (``count_if`` of no rows is NULL: an empty file counts 0)."""
    got = run(con, "SELECT " + ", ".join([f"count_if({c})" for c in conditions.values()]
                                         + ["count(*)"]) + f" FROM {relation}")[0]
    return dict(zip(conditions, (int(n or 0) for n in got[:-1]), strict=True)), int(got[-1])


def count_by_value(con: duckdb.DuckDBPyConnection, relation: str, columns: Sequence[str],
                   conditions: Mapping[int, str]) -> dict[int, int]:
    """:func:`count_rows` of conditions that read only ``columns``, judged once per distinct
    value: the rows of each value are counted, then the values where a condition holds
    summed, the same number as a row-by-row count for any condition of those columns.

    Why: DuckDB reads a Parquet string column as dictionary vectors and groups them by their
    few distinct values almost for free, while a row-by-row test of a reference (a hash
    probe) or a choice runs on every one of the table's strings (5.3 M tickets' two
    references and type: 0.52 s of CPU on the table, 0.28 s row by row on the file, 0.17 s
    grouped)."""
    names = ", ".join(ident(c) for c in columns)
    got = run(con, "SELECT " + ", ".join(f"coalesce(sum(_rows) FILTER ({c}), 0)"
                                         for c in conditions.values())
              + f" FROM (SELECT {names}, count(*) AS _rows FROM {relation} GROUP BY ALL)")[0]
    return dict(zip(conditions, map(int, got), strict=True))


def in_folder(display: str, folder: Path | str, file: str) -> str:
    """A problem's file in a folder dataset: the folder's name and the file's path in it
    (``tickets/month=2026-03/part-0.parquet``), whichever engine names the file (Spark gives
    ``file:`` URLs)."""
    root = str(folder).rstrip("/")
    for prefix in ("file://", "file:"):
        if file.startswith(prefix) and not root.startswith(prefix):
            file = file[len(prefix):]
            break
    root = root.removeprefix("file://").removeprefix("file:")
    return f"{display}/{file[len(root):].lstrip('/')}" if file.startswith(root) else file


def _rows_where(con: duckdb.DuckDBPyConnection, sql: str, csv: bool) -> list[tuple[Any, ...]]:
    """The rows a check names. Not pushed into a Parquet scan: DuckDB prunes row groups by
    their min/max statistics, which leave NaN out, so a column's only NaN went unnamed (the
    count, an aggregate, saw it). Only run when there are problems, so it costs nothing."""
    if csv:
        return run(con, sql)
    run(con, "SET disabled_optimizers = 'filter_pushdown'")
    try:
        return run(con, sql)
    finally:
        run(con, "RESET disabled_optimizers")


def value_rules(c: Column, v: str, may_be_infinite: bool = True) -> list[tuple[str, str]]:
    """(condition on the typed value ``v``, message) for every rule of column ``c``'s values
    (:func:`dipstick.engine.rules.value_rules_of`, in DuckDB's SQL): what the importer
    (``connectors.pipeline``) compiles, so validate, check and import agree.
    ``may_be_infinite`` is False for a typed column that cannot hold inf or NaN."""
    return [(DUCKDB.condition(r, {c.name: v}, _no_refs), r.message)
            for r in value_rules_of(c, may_be_infinite)]


def _no_refs(kind: str) -> str:
    raise AssertionError(f"a value rule names no reference ({kind})")


def key_sql(exprs: Sequence[str]) -> str:
    """One value per row for a key of one or more columns (a struct compares field by field,
    NULLs alike)."""
    return exprs[0] if len(exprs) == 1 else f"row({', '.join(exprs)})"


def key_text(parts: Sequence[tuple[str, str]]) -> str:
    """A key's typed values (expression, column kind) as one text, ``2026-03-01 | crm``: what
    the loader and the importer both show of a repeated key (the import keeps no source text
    of a clean date)."""
    def text(x: str, kind: str) -> str:
        if kind == "month":
            return f"strftime({x}, '%Y-%m')"
        if kind == "timestamp":
            return (f"CASE WHEN CAST({x} AS TIME) = TIME '00:00:00' THEN strftime({x}, "
                    f"'%Y-%m-%d') ELSE strftime({x}, '%Y-%m-%d %H:%M:%S') END")
        return f"CAST({x} AS VARCHAR)"

    return " || ' | ' || ".join(f"coalesce({text(x, k)}, '')" for x, k in parts)


def duplicate_message(keys: Sequence[str]) -> str:
    return f"the key ({', '.join(keys)}) is on more than one row of this file"


def has_key(optional: Sequence[str]) -> str:
    """The condition of a row having a key of its own: its optional key columns (a survey's
    ``respondent``) are not empty. An answer without a respondent is anonymous: several may
    share their slice (date, service, group, dimension)."""
    return " AND ".join(f"{x} IS NOT NULL" for x in optional) or "true"


def memory_limit(con: duckdb.DuckDBPyConnection) -> int | None:
    """The connection's ``memory_limit`` in bytes (None when it is not a size): what the
    memory-bound choices (sets of services, the key screen) are made against."""
    from dipstick.engine.parts import memory_bytes

    return memory_bytes(str(run(con, "SELECT current_setting('memory_limit')")[0][0]))


HASHES_IN_MEMORY = 256 * 2**20   # bytes of key hashes sorted in NumPy at most (32 M rows)


def repeated_keys(con: duckdb.DuckDBPyConnection, relation: str, key: str, keyed: str,
                  rows: int) -> int:
    """How many rows of ``relation`` (``rows`` in all) repeat another row's ``key`` by its
    64-bit hash: a screen, confirmed on the values by :func:`duplicate_rows` (a collision
    costs a look-up, never a false problem). Rows sharing an empty key repeat it, as the
    confirmation and the Spark loader judge them.

    Why NumPy: DuckDB's ``count(DISTINCT …)`` hashes each hash again into a table (5.3 M
    ticket ids: 0.9 s of CPU); sorting the fetched hashes and comparing neighbours costs a
    third of that. Above :data:`HASHES_IN_MEMORY` (or a quarter of DuckDB's memory bound)
    the count stays in DuckDB, which spills to disk."""
    limit = memory_limit(con)
    if rows * 8 > min(HASHES_IN_MEMORY, (limit or HASHES_IN_MEMORY * 4) // 4):
        return int(run(con, f"SELECT count(*) - count(DISTINCT hash({key})) FROM {relation} "
                            f"WHERE {keyed}")[0][0])
    import numpy as np

    # fetched from a relation, not a DB-API result, which is materialised first and then
    # converted (5.3 M tickets: 0.31 → 0.28 s of CPU for the whole screen; Arrow is quicker
    # still, but importing pyarrow costs ``validate`` more than it saves)
    hashes = con.sql(f"SELECT hash({key}) AS h FROM {relation} WHERE {keyed}"
                     ).fetchnumpy()["h"]
    hashes.sort()
    return int(np.count_nonzero(hashes[1:] == hashes[:-1]))


def duplicate_rows(con: duckdb.DuckDBPyConnection, relation: str, key: str,
                   row: str, keyed: str = "true") -> tuple[str, int]:
    """A condition on ``relation`` true for the rows whose ``key`` (:func:`key_sql`) another
    row carries too, and how many rows: the loader's and the importer's one check of unique
    keys, over the rows that have a key (``keyed``, :func:`has_key`). A hash aggregate finds
    the repeated keys; the rows are looked up only when any."""
    run(con, f"CREATE OR REPLACE TEMP TABLE _dupkeys AS SELECT {key} AS k FROM {relation} "
             f"WHERE {keyed} GROUP BY ALL HAVING count(*) > 1")
    # the row number and key are named inside the scan: ``rowid`` is every table's column
    run(con, f"CREATE OR REPLACE TEMP TABLE _dup AS SELECT x.r FROM (SELECT {row} AS r, {key} "
             f"AS k FROM {relation} WHERE {keyed}) x SEMI JOIN _dupkeys d "
             "ON x.k IS NOT DISTINCT FROM d.k")
    return f"{row} IN (SELECT r FROM _dup)", int(run(con, "SELECT count(*) FROM _dup")[0][0])


def _drop(con: duckdb.DuckDBPyConnection, raw: str, csv: bool) -> None:
    run(con, f"DROP {'TABLE' if csv else 'VIEW'} IF EXISTS {raw}")


_SMALL_INTS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}
_LOSSLESS = {
    "number": _SMALL_INTS | {"UBIGINT", "HUGEINT", "UHUGEINT", "FLOAT", "DOUBLE"},
    "integer": _SMALL_INTS,
    "timestamp": {"TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "DATE"},
    "boolean": {"BOOLEAN"},
}


def may_be_infinite(raw_type: str) -> bool:
    """Whether a column of ``raw_type`` can hold inf or NaN: text and floating point can, a
    typed (Parquet) integer or decimal cannot (its finite check is not run)."""
    raw = raw_type.upper()
    return not (raw in _SMALL_INTS or raw in {"UBIGINT", "HUGEINT", "UHUGEINT"}
                or raw.startswith("DECIMAL"))


def always_casts(raw_type: str, kind: str) -> bool:
    """Whether every non-null value of a typed (Parquet) column of ``raw_type`` casts to
    ``kind``: its "is not a valid" check could never fire, so it is not run (a third of the
    validation scan of 5.3 M tickets)."""
    raw = raw_type.upper()
    if kind == "number" and raw.startswith("DECIMAL"):
        return True
    return raw in _LOSSLESS.get(kind, set())


def latest_date(con: duckdb.DuckDBPyConnection, columns: Mapping[str, Sequence[str]]) -> object:
    """The latest value over the given date columns of the given tables (the default as-of)."""
    parts = [f"SELECT max({ident(c)}) AS d FROM {ident(t)}" for t, cs in columns.items()
             for c in cs]
    if not parts:
        return None
    return run(con, f"SELECT max(d) FROM ({' UNION ALL '.join(parts)})")[0][0]
