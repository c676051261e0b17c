"""The DuckDB SQL that turns a staged event log into the canonical events table.

A log is first staged as raw text (CSV), as it is (Parquet) or as parsed XES columns; one scan
then counts every kind of bad value, the first rows of each kind are reported with their row
numbers, and only a clean log is written, inside one transaction, so a bad log never leaves a
half-written table behind. Helpers and limits are the package loader's (``engine.sql``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from dipstick.engine.casts import whole_sql
from dipstick.engine.log_times import Slash, Told, first_value, tell, timestamp_sql
from dipstick.engine.rules import DATES_OUTSIDE, dates_outside
from dipstick.engine.sql import MAX_ROWS_PER_PROBLEM, Check, ident, literal, run
from dipstick.errors import Problem

# The canonical table, in column order; `discover` and the indicators read exactly this shape.
EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("case_id", "VARCHAR NOT NULL"), ("activity", "VARCHAR NOT NULL"),
    ("timestamp", "TIMESTAMP NOT NULL"),
    ("lifecycle", "VARCHAR CHECK (lifecycle IN ('start', 'complete'))"),
    ("resource", "VARCHAR"), ("process", "VARCHAR"), ("service", "VARCHAR"),
    ("seq", "BIGINT NOT NULL"), ("_row", "BIGINT NOT NULL"),
)
TEXT_FIELDS = ("case_id", "activity", "lifecycle", "resource", "process", "service")
LIFECYCLE_EXPECTED = ("must be start or complete (other transitions, such as schedule: "
                      "--skip-bad-rows leaves them out; states, such as In Progress, are no "
                      "lifecycle: read the log without --lifecycle)")


@dataclass(frozen=True)
class Staged:
    """A raw log in DuckDB and where each canonical column comes from.

    ``columns`` maps a canonical name to its raw column (unmapped: NULL); ``labels`` names the
    column as the user knows it in messages; ``seq`` is the order column (None: file order);
    ``locate`` optionally prefixes messages with SQL text such as the XES trace and event.
    """

    relation: str
    view: bool
    types: Mapping[str, str]
    columns: Mapping[str, str]
    labels: Mapping[str, str]
    rownum: str
    csv_lines: bool
    seq: str | None = None
    locate: str | None = None


@contextmanager
def utc(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run with the session time zone at UTC: offset-free times are then read as UTC and
    TIMESTAMPTZ → TIMESTAMP gives UTC, whatever zone the caller's connection uses."""
    zone = run(con, "SELECT current_setting('TimeZone')")[0][0]
    run(con, "SET TimeZone = 'UTC'")
    try:
        yield
    finally:
        run(con, "SET TimeZone = ?", [zone])


def _scan(path: Path, csv: bool, encoding: str = "utf-8") -> str:
    """The file as a table function; its path a literal, as a Parquet file is staged in a
    view (which DuckDB cannot bind a parameter in)."""
    if csv:
        return f"read_csv({literal(path)}, header = true, all_varchar = true{_enc(encoding)})"
    return f"read_parquet({literal(path)}, file_row_number = true)"


def _enc(encoding: str) -> str:
    """``read_csv``'s encoding option: none for UTF-8, its default (the fast path's SQL as it
    was)."""
    return "" if encoding == "utf-8" else f", encoding = {literal(encoding)}"


def describe_file(con: duckdb.DuckDBPyConnection, path: Path, csv: bool,
                  encoding: str = "utf-8") -> dict[str, str]:
    """The columns of a CSV (all text, as written) or Parquet file and their types, from the
    header and a sample only. Raises duckdb.Error when the file cannot be read."""
    scan = _scan(path, csv, encoding)
    types = {str(r[0]): str(r[1]) for r in run(con, f"DESCRIBE SELECT * FROM {scan}")}
    types.pop("file_row_number", None)
    return types


def stage_file(con: duckdb.DuckDBPyConnection, relation: str, path: Path, csv: bool,
               columns: Sequence[str], encoding: str = "utf-8") -> str:
    """Stage the columns the mapping uses; return the SQL of the 1-based data row.

    CSV is copied to a temp table (its rowid is the file order); copying only the mapped
    columns halves the read of a 36-column ServiceNow export. Parquet stays a view.
    """
    cols = ", ".join(ident(c) for c in dict.fromkeys(columns))
    if csv:
        run(con, f"CREATE OR REPLACE TEMP TABLE {relation} AS SELECT {cols} FROM "
                 f"{_scan(path, csv, encoding)}")
        return "(rowid + 1)"
    run(con, f"CREATE OR REPLACE TEMP VIEW {relation} AS SELECT {cols}, file_row_number FROM "
             f"{_scan(path, csv)}")
    return "(file_row_number + 1)"


def drop(con: duckdb.DuckDBPyConnection, relation: str, view: bool) -> None:
    run(con, f"DROP {'VIEW' if view else 'TABLE'} IF EXISTS {relation}")


def _text(x: str, missing: Sequence[str]) -> str:
    """The value as text, NULL when it is one of the missing markers (compared trimmed)."""
    v = f"CAST({x} AS VARCHAR)"
    if not missing:
        return v
    marks = ", ".join(literal(m) for m in missing)   # built into a view: not bindable
    return f"CASE WHEN trim({v}) IN ({marks}) THEN NULL ELSE {v} END"


def typed_time(raw_type: str) -> bool:
    """A Parquet date or timestamp column, taken as it is (no text parsing)."""
    return raw_type.upper().startswith(("TIMESTAMP", "DATE"))


def check_format(con: duckdb.DuckDBPyConnection, fmt: str) -> str | None:
    """DuckDB's error for an unusable strptime format, or None when it is fine."""
    try:
        run(con, "SELECT try_strptime('2000-01-01', ?)", [fmt])
    except duckdb.Error as e:
        return str(e).splitlines()[0]
    return None


def told_dates(con: duckdb.DuckDBPyConnection, src: Staged, first: tuple[int, str] | None,
               scan: bool = True) -> Told | None:
    """What the staged log's time column, whose :func:`first_time` is ``first``, says of its
    slash dates' order (:func:`dipstick.engine.log_times.tell`); None for a typed column or
    another form."""
    col = src.columns["timestamp"]
    return None if first is None else tell(con, src.relation, src.rownum, ident(col), first,
                                           scan)


def first_time(con: duckdb.DuckDBPyConnection, src: Staged,
               missing: Sequence[str]) -> tuple[int, str] | None:
    """The staged log's first time as written and its row; None for a typed column or none."""
    col = src.columns["timestamp"]
    if typed_time(src.types.get(col, "VARCHAR")):
        return None
    return first_value(con, src.relation, src.rownum, _text(ident(col), missing))


def load_events(con: duckdb.DuckDBPyConnection, src: Staged, table: str, display: str,
                missing: Sequence[str], fmt: str | None, slash: Slash | None,
                ordered: bool = True, skip_bad: bool = False) -> tuple[list[Problem], int]:
    """(Re)create ``table`` in the canonical shape from the staged log, or return every problem
    of its values and leave the table as it was. Call inside :func:`utc`. With ``skip_bad``
    the rows with a problem are left out instead: the table holds the others, and the
    problems (the first rows of each kind) and the number of rows left out are returned.

    A clean log is parsed once: the typed rows go straight into the table, whose NOT NULL and
    CHECK constraints fail on any bad value; only then is the log scanned for its problems,
    with rows and values (before, every log paid that scan: a third of a 1.27 M-event load).
    ``ordered`` stores the rows in case order (by case, time, order, row), which later window
    functions over cases read faster; a log discovered once is faster unsorted (one sort, the
    discovery's, instead of two)."""
    cols = src.columns
    null = "CAST(NULL AS VARCHAR)"
    raw = {f: ident(cols[f]) if f in cols else null for f in (*TEXT_FIELDS, "timestamp")}
    text = {f: _text(raw[f], missing) if f in cols else null for f in (*TEXT_FIELDS, "timestamp")}
    typed = dict(text)
    if typed_time(src.types.get(cols["timestamp"], "VARCHAR")):
        text["timestamp"] = raw["timestamp"]
        typed["timestamp"], expected = f"CAST({raw['timestamp']} AS TIMESTAMP)", "a date"
    else:
        typed["timestamp"], expected = timestamp_sql(text["timestamp"], fmt, slash)
    typed["lifecycle"] = f"lower(trim({text['lifecycle']}))"
    if src.seq is None:
        seq_text, typed["seq"] = None, src.rownum
    else:
        seq_text = _text(ident(src.seq), missing)
        typed["seq"] = whole_sql(seq_text)

    label = src.labels
    checks = [Check(label[f], f"{text[f]} IS NULL", "is required but empty", raw[f])
              for f in ("case_id", "activity", "timestamp")]
    checks.append(Check(label["timestamp"], f"{text['timestamp']} IS NOT NULL AND "
                         f"{typed['timestamp']} IS NULL", f"is not a valid date: expected "
                         f"{expected}", raw["timestamp"]))
    checks.append(Check(label["timestamp"], dates_outside(typed["timestamp"]), DATES_OUTSIDE,
                        raw["timestamp"]))
    if "lifecycle" in cols:
        checks.append(Check(label["lifecycle"], f"{typed['lifecycle']} NOT IN "
                             "('start', 'complete')", LIFECYCLE_EXPECTED,
                             raw["lifecycle"]))
    if src.seq is not None and seq_text is not None:
        checks.append(Check(label["seq"], f"{seq_text} IS NULL",
                             "is empty: the order column needs a whole number on every row",
                             ident(src.seq)))
        checks.append(Check(label["seq"], f"{seq_text} IS NOT NULL AND {typed['seq']} IS NULL",
                             "is not a whole number", ident(src.seq)))

    typed["_row"] = src.rownum
    rows, start_checks = _rows_of(src, typed, missing, fmt, slash, expected)
    checks += start_checks
    schema = ", ".join(f"{ident(c)} {t}" for c, t in EVENT_COLUMNS)
    order = " ORDER BY case_id, timestamp, seq, _row" if ordered else ""
    into = f"CREATE OR REPLACE TABLE {ident(table)} ({schema})"
    con.begin()
    try:
        run(con, into)
        run(con, f"INSERT INTO {ident(table)} SELECT * FROM ({rows('true')}){order}")
        # a start is an event of its own here: the timestamp column holds every time
        if _outside(con, ident(table), ["timestamp"]):   # the checks name the rows
            raise duckdb.ConstraintException("a time outside the dates' range")
        con.commit()
        return [], 0
    except duckdb.ConstraintException:
        con.rollback()
        problems = _problems(con, src, checks, display)
        if not problems:   # a constraint the checks do not know: a bug, not the user's log
            raise
    except BaseException:
        con.rollback()
        raise
    if not skip_bad:
        return problems, 0
    bad = " OR ".join(f"coalesce({c.condition}, false)" for c in checks)
    con.begin()
    try:   # the good rows alone; one the checks do not know is still the bug above
        run(con, into)
        run(con, f"INSERT INTO {ident(table)} SELECT * FROM ({rows(f'NOT ({bad})')}){order}")
        left_out = int(run(con, f"SELECT count(*) FROM {src.relation} WHERE {bad}")[0][0])
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return problems, left_out


def _outside(con: duckdb.DuckDBPyConnection, table: str, times: Sequence[str]) -> bool:
    """Whether a stored log's ``times`` columns leave :mod:`dipstick.bounds`'s range: their
    least and greatest, not a CHECK on every row (which cost ~0.1 s of 1.27 M events:
    docs/benchmarks.md, session 29)."""
    ends = [f"{f}({ident(c)})" for c in times for f in ("min", "max")]
    return bool(run(con, f"SELECT {' OR '.join(dates_outside(e) for e in ends)} FROM {table}"
                    )[0][0])


def _rows_of(src: Staged, typed: dict[str, str], missing: Sequence[str], fmt: str | None,
             slash: Slash | None, expected: str) -> tuple[Callable[[str], str], list[Check]]:
    """The SQL of the canonical rows of the staged log whose raw row meets a condition, and
    the checks of the start times. With a start-time column (``start_timestamp``) a row is
    two events, a start at its start time and a complete at its time (:func:`_event_order`).
    A start time that is not a date is NULL and one after the completion an invalid
    lifecycle, so the table's constraints refuse a bad row on the clean-log insert as they
    refuse any other bad value."""
    start = src.columns.get("start_timestamp")
    if start is None:
        select = ", ".join(f"{typed[c]} AS {ident(c)}" for c, _ in EVENT_COLUMNS)
        return (lambda where: f"SELECT {select} FROM {src.relation} WHERE {where}"), []
    raw = ident(start)
    if typed_time(src.types.get(start, "VARCHAR")):
        text, begun = raw, f"CAST({raw} AS TIMESTAMP)"
    else:
        text = _text(raw, missing)
        begun, _ = timestamp_sql(text, fmt, slash)
    label = src.labels["start_timestamp"]
    checks = [Check(label, f"{text} IS NOT NULL AND {begun} IS NULL",
                    f"is not a valid date: expected {expected}", raw),
              Check(label, dates_outside(begun), DATES_OUTSIDE, raw),
              Check(label, f"{begun} > {typed['timestamp']}",
                    "is after the row's completion (the timestamp column)", raw)]
    done = {**typed, "lifecycle": "'complete'", "seq": _event_order(typed["seq"], False)}
    began = {**typed, "timestamp": begun, "seq": _event_order(typed["seq"], True),
             "lifecycle": f"CASE WHEN {begun} > {typed['timestamp']} THEN 'after completion' "
                          "ELSE 'start' END"}
    both = [", ".join(f"{d[c]} AS {ident(c)}" for c, _ in EVENT_COLUMNS) for d in (done, began)]
    return (lambda where: f"SELECT {both[0]} FROM {src.relation} WHERE {where} UNION ALL "
                          f"SELECT {both[1]} FROM {src.relation} WHERE {text} IS NOT NULL "
                          f"AND ({where})"), checks


def _event_order(seq: str, start: bool) -> str:
    """The order of a row's start or complete event when a row is both: the row's order
    doubled, its start first at a tie (the staged read and the one-pass read's view alike)."""
    return f"2 * ({seq}) + {0 if start else 1}"


_FAST_MISSING = frozenset({"", "?"})
# Optional columns a table only discovery reads may lack (``load_csv_direct``'s ``canonical``)
_ABSENT = ("lifecycle", "resource", "service")


def _blank_or_mark(x: str) -> str:
    """``_text(x, ("", "?"))`` for a text column, cheaper: a value that trims to "" or "?" is
    empty or starts with a space or "?" (below "@", not a digit) or with a Unicode space
    (non-ASCII: DuckDB's ``trim`` takes U+00A0, U+2003 …), so ``trim`` runs on those alone —
    not on an order column's numbers (0.03 s CPU of a 1.27 M-event read)."""
    return (f"CASE WHEN ({x} < '0' OR {x} >= ':') AND ({x} < '@' OR {x} >= chr(128)) AND "
            f"trim({x}) IN ('', '?') THEN NULL ELSE {x} END")


def load_csv_direct(con: duckdb.DuckDBPyConnection, path: Path, header: Sequence[str],
                    columns: Mapping[str, str], seq: str | None, table: str,
                    missing: Sequence[str], fmt: str | None, ordered: bool = True,
                    sample: str | None = None, canonical: bool = True,
                    encoding: str = "utf-8") -> bool:
    """The clean-log fast path of a plain CSV: (re)create ``table`` in one statement, the
    timestamps parsed by DuckDB's reader (no text staging, no second pass). True when done;
    False — the table left as it was — when the log is not one this path reads exactly as
    :func:`load_events` would (any reader or constraint error, a time-zone format, other
    missing markers), and the staged path must run (it also finds the problems). Call
    inside :func:`utc`.

    The reader parses the time as ``TIMESTAMPTZ`` (an offset or zone is honoured, as the staged
    ``TRY_CAST(… AS TIMESTAMPTZ)``; a plain ``TIMESTAMP`` read ignores it) and
    ``make_timestamp(epoch_us(…))`` gives the UTC wall time without the calendar cast. With a
    format, the reader's ``timestampformat`` is the staged ``try_strptime``. Texts and the
    order column are read as text and typed by the staged path's rules (a ``BIGINT`` read
    would take 5.5 or 1e3); ``row_number() OVER ()`` is the file order, as the staged table's rowid.

    ``sample``, the first row's time as written: when it is a plain ISO time without offset
    (``2026-03-01 09:30:00``, or with a ``T``) the reader first tries that strict format, which
    takes no offset, zone or fraction (those fail it, and the ``TIMESTAMPTZ`` read follows):
    a third less time parsing than through ``TIMESTAMPTZ`` (docs/decisions.md).

    ``canonical`` false leaves out the optional columns the log does not have (lifecycle,
    resource, service; ``process`` stays, as ``--only`` filters on it): a table that only
    discovery reads, which answers alike without them, need not write a column of NULLs per
    event (~0.012 s CPU each on 1.27 M events: docs/benchmarks.md, session 16). With the file
    order kept too (``ordered`` false), ``table`` is a view of the rows stored in
    ``_<table>_rows``, the file row their rowid (:func:`_with_rows`): the read then runs on
    every thread. ``table`` must then be new to the connection (or such a view).

    A time outside :mod:`dipstick.bounds`'s range (1900–2200) fails it: the reader's parse
    takes ``29/02/16`` as the year 29, and a slash form's ``%Y`` takes ``16``; the staged
    path then reads such a value as its rules say, or names it."""
    if not set(missing) <= _FAST_MISSING or (fmt is not None and ("%z" in fmt or "%Z" in fmt)):
        return False
    if fmt is None and sample is not None:
        naive = next((f for f, pattern in _NAIVE_ISO if re.fullmatch(pattern, sample)), None)
        if naive is not None and _load_csv_direct(con, path, header, columns, seq, table,
                                                  naive, ordered, canonical, encoding):
            return True
    return _load_csv_direct(con, path, header, columns, seq, table, fmt, ordered, canonical,
                            encoding)


# A first row's time in one of these forms: the reader tries the format (naive times only)
_NAIVE_ISO = (("%Y-%m-%d %H:%M:%S", r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"),
              ("%Y-%m-%dT%H:%M:%S", r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"))


def _load_csv_direct(con: duckdb.DuckDBPyConnection, path: Path, header: Sequence[str],
                     columns: Mapping[str, str], seq: str | None, table: str,
                     fmt: str | None, ordered: bool, canonical: bool, encoding: str) -> bool:
    time_col = columns["timestamp"]
    if any(f in columns and columns[f] == time_col for f in TEXT_FIELDS) or seq == time_col:
        return False   # one column read as time and as text: the staged path
    start_col = columns.get("start_timestamp")
    if start_col is not None and (canonical or ordered or start_col == seq):
        return False   # two events per row: only as a view of the stored rows (_with_rows)
    kinds = {c: "VARCHAR" for c in header}
    for c in filter(None, (time_col, start_col)):
        kinds[c] = "TIMESTAMP" if fmt is not None else "TIMESTAMPTZ"
    spec = "{" + ", ".join(f"{literal(c)}: {literal(t)}" for c, t in kinds.items()) + "}"
    fmt_opt = f", timestampformat = {literal(fmt)}" if fmt is not None else ""
    null = "CAST(NULL AS VARCHAR)"
    typed = {f: _blank_or_mark(ident(columns[f])) if f in columns else null for f in TEXT_FIELDS}
    typed["lifecycle"] = f"lower(trim({typed['lifecycle']}))"
    for name, col in (("timestamp", time_col), ("start_timestamp", start_col)):
        if col is not None:
            x = ident(col)
            typed[name] = x if fmt is not None else f"make_timestamp(epoch_us({x}))"
    if seq is None:
        typed["seq"] = "_rn"
    else:
        raw = ident(seq)
        # its number's own text first, as read: neither blank nor a marker, so no test of those
        # on the usual order column (0.013 s CPU of a 1.27 M-event read); the rest as staged
        typed["seq"] = (f"CASE WHEN CAST(TRY_CAST({raw} AS BIGINT) AS VARCHAR) = {raw} THEN "
                        f"TRY_CAST({raw} AS BIGINT) ELSE {whole_sql(_blank_or_mark(raw))} END")
    typed["_row"] = "_rn"
    used = ", ".join(ident(c) for c in dict.fromkeys([*columns.values(), *([seq] if seq else [])]))
    kept = [(c, t) for c, t in EVENT_COLUMNS if canonical or c in columns or c not in _ABSENT]
    # The file row (and the order without an order column) from the table's rowid, not from
    # row_number(), which runs the whole read on one thread: see _with_rows
    by_rowid = {"_row", *(() if seq else ("seq",))} if not (canonical or ordered) else set()
    # No sniffing (a sixth of a 36-column gzip log's read): RFC 4180 as written. A file in
    # another dialect fails it (strict mode: a row of another width is an error) and is read
    # by the staged path, which sniffs.
    source = (f"(SELECT {used}{'' if by_rowid else ', row_number() OVER () AS _rn'} FROM "
              f"read_csv({literal(path)}, header = true, auto_detect = false, delim = ',', "
              f"quote = '\"', escape = '\"', strict_mode = true, columns = {spec}{fmt_opt}"
              f"{_enc(encoding)}))")
    # in a view, a column the log has not (process) is a constant there, not a NULL per event
    unread = {c for c, _ in kept if c in TEXT_FIELDS and c not in columns} if by_rowid else set()
    stored = [(c, t) for c, t in kept if c not in by_rowid | unread]
    if start_col is not None:   # a start after its row's completion: the staged path names it
        stored.append(("start_timestamp", "TIMESTAMP CHECK (start_timestamp <= timestamp)"))
    select = ", ".join(typed[c] for c, _ in stored)
    schema = ", ".join(f"{ident(c)} {t}" for c, t in stored)
    order = (f" ORDER BY {typed['case_id']}, {typed['timestamp']}, {typed['seq']}, _rn"
             if ordered else "")
    into = ident(f"_{table}_rows" if by_rowid else table)
    con.begin()
    try:
        run(con, f"CREATE OR REPLACE TABLE {into} ({schema})")
        run(con, f"INSERT INTO {into} SELECT {select} FROM {source}{order}")
        # a time outside the dates' range: the staged path names it (the reader's ISO parse
        # and %Y take 29/02/16 as the year 29)
        if _outside(con, into, [c for c, _ in stored if "time" in c]):
            con.rollback()
            return False
        if by_rowid:
            _with_rows(con, table, into, [c for c, _ in kept], by_rowid, unread,
                       started=start_col is not None)
        con.commit()
        return True
    except duckdb.Error as e:
        con.rollback()
        if isinstance(e, duckdb.OutOfMemoryException):
            raise   # not the file's fault, and the staged path needs more (exit 3, its hint)
        return False
    except BaseException:
        con.rollback()
        raise


def _with_rows(con: duckdb.DuckDBPyConnection, view: str, rows: str, columns: Sequence[str],
               by_rowid: set[str], unread: set[str], started: bool = False) -> None:
    """``view``: the stored ``rows`` with the file row (``rowid + 1``: a table written in the
    file's order, as the staged path's rowid) for each column in ``by_rowid``. DuckDB keeps
    an insert's order on parallel threads, but ``row_number() OVER ()`` runs the read and the
    insert on one (measured: 0.32 s CPU all on the main thread, against 0.15 + 0.15 s on two
    for the 1.27 M-event log: half the wall on an idle two-core machine). A column in ``unread``
    (the log has none: ``process`` unmapped) is NULL in the view, not stored (~0.01 s CPU).
    ``started``: each stored row also has its ``start_timestamp`` and is two events, a start
    (where it has one) and a complete, the order doubled so the start comes first at a tie —
    one typed read of the file instead of the staged path's text and second pass (1.27 M rows:
    0.28 against 1.56 s, docs/benchmarks.md, session 27)."""
    names = [c for c, _ in EVENT_COLUMNS if c in columns or (started and c == "lifecycle")]

    def item(c: str, start: bool) -> str:
        if c == "seq":
            base = "rowid + 1" if c in by_rowid else ident(c)
            return f"{_event_order(base, start) if started else base} AS seq"
        if c in by_rowid:
            return f"rowid + 1 AS {ident(c)}"
        if started and c == "lifecycle":
            return f"{literal('start' if start else 'complete')} AS lifecycle"
        if start and c == "timestamp":
            return "start_timestamp AS timestamp"
        return f"CAST(NULL AS VARCHAR) AS {ident(c)}" if c in unread else ident(c)

    sql = f"SELECT {', '.join(item(c, False) for c in names)} FROM {rows}"
    if started:
        sql += (f" UNION ALL SELECT {', '.join(item(c, True) for c in names)} FROM {rows} "
                "WHERE start_timestamp IS NOT NULL")
    run(con, f"CREATE OR REPLACE VIEW {ident(view)} AS {sql}")


def _problems(con: duckdb.DuckDBPyConnection, src: Staged, checks: Sequence[Check],
              display: str) -> list[Problem]:
    """Every check counted in one scan; the first rows of each kind with their row numbers."""
    problems: list[Problem] = []
    counts = run(con, "SELECT " + ", ".join(f"count(*) FILTER (WHERE {c.condition})"
                                            for c in checks) + f" FROM {src.relation}")[0]
    where = src.locate or "NULL"
    for ch, n in zip(checks, counts, strict=True):
        if not n:
            continue
        rows = run(con, f"SELECT {src.rownum} AS r, {ch.value}, {where} FROM {src.relation} "
                        f"WHERE {ch.condition} ORDER BY r LIMIT {MAX_ROWS_PER_PROBLEM}")
        for r, v, loc in rows:
            message = f"{loc}: {ch.message}" if loc else ch.message
            problems.append(Problem(display, message, row=int(r), field=ch.field, value=v,
                                    line=int(r) + 1 if src.csv_lines else None))
        if n > len(rows):
            problems.append(Problem(display, f"{ch.message}: {n - len(rows):,} more rows like "
                                    "the ones above", field=ch.field))
    return problems


def summary(con: duckdb.DuckDBPyConnection,
            table: str) -> tuple[int, int, datetime | None, datetime | None]:
    """Rows, distinct cases, first and last timestamp of a loaded events table."""
    rows, cases, first, last = run(con, "SELECT count(*), count(DISTINCT case_id), "
                                        f"min(timestamp), max(timestamp) FROM {ident(table)}")[0]
    return int(rows), int(cases), first, last
