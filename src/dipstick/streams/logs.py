"""Reading event logs (CSV, gzip CSV, Parquet, XES) into the canonical DuckDB events table.

Value stream discovery reads one table shape whatever the source, so every format is turned into
the same columns here: ``case_id, activity, timestamp`` (naive UTC), ``lifecycle`` (start or
complete), ``resource, process, service``, ``seq`` (the tie-break order within a case) and
``_row`` (the data row in the file, for messages). A bad log raises :class:`PackageError` with
every problem found and creates nothing. See docs/event-logs.md.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from tempfile import TemporaryDirectory

import duckdb

from dipstick.engine import logs_sql
from dipstick.engine.log_times import (
    BOTH_OPTIONS,
    DMY,
    Slash,
    Told,
    form,
    is_slash,
    named_form,
    named_note,
    tell_values,
)
from dipstick.errors import PackageError, Problem
from dipstick.textfile import (
    SAMPLE,
    encoding_of,
    head,
    named_encoding,
    not_utf8,
    readable,
)

FORMATS = ("csv", "csv.gz", "parquet", "xes", "xes.gz")
# delimited text under other names (tab-separated exports): read as CSV, whose staged read
# sniffs the delimiter
_AS_CSV = {"tsv": "csv", "tsv.gz": "csv.gz", "txt": "csv", "txt.gz": "csv.gz"}
_OPTIONAL = ("lifecycle", "resource", "process", "service", "seq", "start_timestamp")
# What other tools name a field's column (matched case-insensitively), tried in this order when
# the field is left at its default and the file has no column of the canonical name: pm4py's
# CSV export and other XES-shaped tables, Disco's export and the Helpdesk log. Not
# ``lifecycle:transition``: a CSV's lifecycle must be start or complete, and BPI Challenge
# 2013 writes sub-states there, a state log when the column is left unread (docs/event-logs.md)
KNOWN_HEADERS = {"case_id": ("case:concept:name", "Case ID", "CaseID", "Case"),
                 "activity": ("concept:name", "Activity Name"),
                 "timestamp": ("time:timestamp", "Complete Timestamp", "End Timestamp"),
                 "resource": ("org:resource",)}
# Where other tools write each row's start time (Disco: ``Start Timestamp``). Not read unless
# named: pm4py reads a start only from a column named ``start_timestamp`` (as dipstick does)
# and the maps must stay equal to pm4py's; when the file has one, the command says how to read
# it (``Loaded.start_unread``)
START_HEADERS = ("Start Timestamp", "Start Time", "StartTimestamp", "start_time")


@dataclass(frozen=True)
class LogMapping:
    """Which column of a CSV or Parquet log holds each canonical field, and how to read it.

    Unmapped optional fields are taken from a column of their canonical name when the file has
    one (an ``events`` table from a data package reads without a mapping). XES logs use the
    standard attributes instead (docs/event-logs.md).
    """

    case_id: str = "case_id"
    activity: str = "activity"
    timestamp: str = "timestamp"
    lifecycle: str | None = None
    resource: str | None = None
    process: str | None = None
    service: str | None = None
    seq: str | None = None
    # each row's start time beside its completion (``timestamp``), as Disco and other tools
    # export one row per activity instance: the row is read as a start and a complete event
    start_timestamp: str | None = None
    timestamp_format: str | None = None   # a strptime format, e.g. "%d/%m/%Y %H:%M"
    dayfirst: bool = False                # day-first dates like 29/2/2016 01:16 without a format
    missing: tuple[str, ...] = field(default=("", "?"))  # values read as missing
    encoding: str | None = None   # of a CSV (utf-8, latin-1); None: UTF-8 if its first MiB
    #                               decodes as UTF-8, else Latin-1 (textfile.encoding_of)
    skip_bad_rows: bool = False   # leave out the events with a problem instead of refusing


@dataclass(frozen=True)
class LogInfo:
    """What was read: enough for a one-line summary and for sanity checks."""

    table: str
    format: str
    rows: int
    cases: int
    first: datetime | None
    last: datetime | None
    dropped: int = 0   # XES events with a lifecycle other than start/complete (schedule, …)
    skipped: int = 0   # events with a problem, left out (``LogMapping.skip_bad_rows``)


@dataclass(frozen=True)
class Loaded:
    """What :func:`load_event_log` read: the format, the XES events dropped for their
    lifecycle, and with ``skip_bad_rows`` the events left out for a problem (``skipped``)
    and those problems (the first rows of each kind, as the refusal would list them)."""

    format: str
    dropped: int = 0
    skipped: int = 0
    problems: tuple[Problem, ...] = ()
    known: tuple[tuple[str, str], ...] = ()   # (field, column) found by KNOWN_HEADERS
    start_unread: str | None = None   # a START_HEADERS column left unread
    dates: str | None = None   # how slash dates read without an option were told apart


def read_event_log(con: duckdb.DuckDBPyConnection, path: Path,
                   mapping: LogMapping = LogMapping(), table: str = "events",
                   ordered: bool = True) -> LogInfo:
    """Read the log at ``path`` into the table ``table`` (replaced) of ``con``, stored in case
    order unless ``ordered`` is false (a log discovered once: see ``logs_sql.load_events``).

    Raises PackageError naming file, row (and line), field and value of each problem; the
    table is then left as it was. With ``mapping.skip_bad_rows`` those events are left out
    and counted (``LogInfo.skipped``) instead.
    """
    loaded = load_event_log(con, path, mapping, table, ordered)
    with logs_sql.utc(con):
        rows, cases, first, last = logs_sql.summary(con, table)
    return LogInfo(table, loaded.format, rows, cases, first, last, loaded.dropped,
                   loaded.skipped)


def load_event_log(con: duckdb.DuckDBPyConnection, path: Path,
                   mapping: LogMapping = LogMapping(), table: str = "events",
                   ordered: bool = True, canonical: bool = True) -> Loaded:
    """:func:`read_event_log` without its summary (a scan counting the distinct cases: 45 ms
    CPU of a 1.27 M-event log, which the ``streams`` command never shows): what was read.
    ``canonical`` false lets a clean CSV's table lack the optional columns the log has not,
    and be a view numbering the rows by their rowid when ``ordered`` is false
    (``logs_sql.load_csv_direct``): for a table only discovery reads, on a connection of its
    own."""
    path = Path(path)
    display = str(path)
    fmt = log_format(path)
    if fmt is None:
        raise PackageError([Problem(display, "is not an event log dipstick reads (use .csv, "
                                    ".csv.gz, .tsv, .txt, .parquet, .xes or .xes.gz)")])
    if not path.is_file():
        raise PackageError([Problem(display, "file not found")])
    if mapping.timestamp_format is not None:
        bad = logs_sql.check_format(con, mapping.timestamp_format)
        if bad:
            raise PackageError([Problem(display, f"the time format {mapping.timestamp_format!r} "
                                        f"is not a valid strptime format: {bad}")])
    relation = f"_raw_log_{abs(hash((display, table))):x}"
    dropped = 0
    with logs_sql.utc(con), ExitStack() as stack:
        sample, enc = b"", "utf-8"
        if fmt.startswith("csv"):   # the file's first MiB, read once: encoding, header, row 1
            with suppress(OSError, EOFError):   # DuckDB's read then says what is wrong
                sample = head(path)
            enc = named_encoding(mapping.encoding) or encoding_of(sample)
            read, enc = readable(path, enc, lambda: Path(stack.enter_context(
                TemporaryDirectory(prefix="dipstick-log-"))) / "log.csv", display)
            if read != path:   # a UTF-8 copy, removed once the log is in its table
                path, sample = read, head(read)
        header = _csv_header(sample, enc) if fmt.startswith("csv") else None
        direct = _direct(con, path, display, mapping, table, ordered, canonical, enc, sample,
                         header)
        if direct is not None:
            return Loaded(fmt, known=_known(direct[0], mapping),
                          start_unread=_start_unread(header or {}, direct[0]), dates=direct[1])
        if fmt.startswith("xes"):
            from dipstick.streams.xes import stage_xes

            staged, dropped = stage_xes(con, relation, path, display, mapping.skip_bad_rows)
            options = LogMapping(missing=mapping.missing)
        else:
            staged = _stage_table(con, relation, path, display, mapping, fmt == "parquet",
                                  enc, header)
            options = mapping
        try:
            slash, dates, time_form = None, None, options.timestamp_format
            if time_form is None:
                first = logs_sql.first_time(con, staged, options.missing)
                told = logs_sql.told_dates(con, staged, first, scan=not options.dayfirst)
                order, dates = ((DMY, None) if options.dayfirst else
                                _slash_order(told, staged, display))
                slash = None if order is None else Slash(order, told.first[1] if told else "")
                if slash is None:   # a month name: the first time's form
                    time_form, dates = _named_at(con, first, staged.labels["timestamp"])
            problems, skipped = logs_sql.load_events(
                con, staged, table, display, options.missing, time_form, slash, ordered,
                skip_bad=mapping.skip_bad_rows)
        finally:
            logs_sql.drop(con, relation, staged.view)
        if problems and not skipped:
            raise PackageError(problems)
    xes = fmt.startswith("xes")
    return Loaded(fmt, dropped, skipped, tuple(problems),
                  () if xes else _known(staged.columns, mapping),
                  None if xes else _start_unread(staged.types, staged.columns), dates)


def _named_at(con: duckdb.DuckDBPyConnection, at: tuple[int, str] | None,
              label: str) -> tuple[str | None, str | None]:
    """The form of a log's times whose first one (``at``: its row and value) names its month
    (``named_form``), and a sentence saying so; (None, None) for any other."""
    fmt = None if at is None else named_form(con, at[1])
    return (None, None) if at is None or fmt is None else (fmt, named_note(label, at, fmt))


def _slash_order(told: Told | None, staged: logs_sql.Staged,
                 display: str) -> tuple[str | None, str | None]:
    """The order slash dates read without an option are in, as their values tell it, and a
    sentence saying so; (None, None) for a log whose times are no slash dates. A log whose
    values tell no order, or both, is refused (docs/event-logs.md, "Times and time zones")."""
    if told is None:
        return None, None
    label = staged.labels["timestamp"]

    def problem(message: str, at: tuple[int, str]) -> PackageError:
        line = at[0] + 1 if staged.csv_lines else None
        return PackageError([Problem(display, message, row=at[0], field=label, value=at[1],
                                     line=line)])

    order = told.order
    if told.day and told.month:
        raise problem(f"the dates are month-first here but day-first in row {told.day[0]} "
                      f"({told.day[1]!r}): give their form with --time-format", told.month)
    if order is None:
        raise problem("slash dates whose first two parts are 12 or less on every row, so each "
                      f"could be day- or month-first: {BOTH_OPTIONS}", told.first)
    return order, told.note(label)


def _start_unread(names: Iterable[str], columns: Mapping[str, str]) -> str | None:
    """A column of the file that other tools write start times in, when no start (or
    lifecycle) column was read: the user may want each row read as a start and a complete."""
    if "start_timestamp" in columns or "lifecycle" in columns:
        return None
    found = {n.lower(): n for n in names}
    return next((found[h.lower()] for h in START_HEADERS if h.lower() in found), None)


def _known(columns: Mapping[str, str], mapping: LogMapping) -> tuple[tuple[str, str], ...]:
    """The fields left at their default that a known header, not the canonical name, gave:
    said to the user, who may have meant another column."""
    return tuple((f, c) for f, c in columns.items() if f in KNOWN_HEADERS and c.lower() != f
                 and getattr(mapping, f) in (None, f))


def log_format(path: Path) -> str | None:
    """The log format by file name: one of FORMATS (``.tsv`` and ``.txt`` are CSV), or None."""
    name = path.name.lower()
    known = {**{f: f for f in FORMATS}, **_AS_CSV}
    return next((known[f] for f in sorted(known, key=len, reverse=True)
                 if name.endswith("." + f)), None)


def _direct(con: duckdb.DuckDBPyConnection, path: Path, display: str, mapping: LogMapping,
            table: str, ordered: bool, canonical: bool, enc: str, sample: bytes,
            header: dict[str, str] | None) -> tuple[dict[str, str], str | None] | None:
    """A clean plain CSV read and typed in one statement (``logs_sql.load_csv_direct``): the
    columns it read, and how its slash dates were told apart (``Loaded.dates``); None when the
    staged path must read it (a header DuckDB must sniff, slash dates whose order the first
    MiB does not tell, any bad value: the staged path then names every problem). ``sample``
    and ``header``: the file's first MiB and the header read from it (None: not a plain
    one)."""
    if header is None:
        return None
    columns, problems = _mapped(header, mapping, display)
    if problems:
        return None
    seq = columns.pop("seq", None)
    names = list(header)
    first = _csv_line(sample, 1, enc)
    first_time = (first[names.index(columns["timestamp"])]
                  if first is not None and len(first) == len(names) else None)
    fmt, dates = mapping.timestamp_format, None
    if fmt is None and (mapping.dayfirst or first_time is None or is_slash(first_time)):
        # slash dates in one form, as the first MiB tells their order: the reader takes that
        # form (a third of the staged read's time); any other form fails it, and the staged
        # path reads them all (docs/event-logs.md, "Times and time zones")
        col = names.index(columns["timestamp"])
        told = tell_values(_sample_times(sample, enc, col), mapping.missing)
        if told is not None:
            order = DMY if mapping.dayfirst else told.order
            if order is None or (told.day and told.month):
                return None
            fmt = form(told.first[1], order)
            dates = None if mapping.dayfirst else told.note(columns["timestamp"])
        elif mapping.dayfirst:
            return None
        elif first_time is None:   # a quoted first record: its time as read record by record
            at = next(((r, v.strip()) for r, v in _sample_times(sample, enc, col)
                       if v.strip() not in mapping.missing), None)
            fmt, dates = _named_at(con, at, columns["timestamp"])
    elif fmt is None and first_time is not None:   # a month name: the first time's form
        fmt, dates = _named_at(con, (1, first_time.strip()), columns["timestamp"])
    done = logs_sql.load_csv_direct(con, path, names, columns, seq, table, mapping.missing,
                                    fmt, ordered, first_time, canonical, enc)
    return (columns, dates) if done else None


def _sample_times(sample: bytes, enc: str, at: int) -> Iterator[tuple[int, str]]:
    """The (row, value) of column ``at`` in a CSV's first MiB, record by record as read (quoted
    fields and line breaks in them too), its whole records only."""
    whole = len(sample) < SAMPLE
    end = len(sample) if whole else sample.rfind(b"\n") + 1
    try:
        text = sample[:end].decode(_codec(enc, True))
    except UnicodeDecodeError:
        return
    records = csv.reader(io.StringIO(text, newline=""))
    next(records, None)   # the header
    held: list[str] | None = None
    for row, fields in enumerate(records, 1):
        if held is not None and len(held) > at:
            yield row - 1, held[at]
        held = fields
    if held is not None and len(held) > at and whole:   # the last record may be cut
        yield row, held[at]


def _stage_table(con: duckdb.DuckDBPyConnection, relation: str, path: Path, display: str,
                 mapping: LogMapping, parquet: bool, enc: str,
                 header: dict[str, str] | None) -> logs_sql.Staged:
    kind = "Parquet" if parquet else "CSV"
    if header is not None:   # a plain comma-separated header: DuckDB need not sniff it twice
        columns, problems = _mapped(header, mapping, display)
        if not problems:
            try:
                rownum = logs_sql.stage_file(con, relation, path, True, list(columns.values()),
                                             enc)
                return _staged(relation, False, header, columns, rownum)
            except duckdb.Error as e:   # DuckDB read the file otherwise: ask it, below
                logs_sql.drop(con, relation, False)
                if isinstance(e, duckdb.OutOfMemoryException):
                    raise   # not the file's fault (exit 3, whose message names the bound)
    try:
        types = logs_sql.describe_file(con, path, not parquet, enc)
    except duckdb.Error as e:
        raise PackageError([_unreadable(display, path, kind, e)]) from None
    columns, problems = _mapped(types, mapping, display)
    if problems:
        raise PackageError(problems)
    try:
        rownum = logs_sql.stage_file(con, relation, path, not parquet, list(columns.values()),
                                     enc)
    except duckdb.Error as e:
        logs_sql.drop(con, relation, parquet)
        raise PackageError([_unreadable(display, path, kind, e)]) from None
    return _staged(relation, parquet, types, columns, rownum)


def _unreadable(display: str, path: Path, kind: str, e: duckdb.Error) -> Problem:
    """DuckDB's read error as a problem; bytes that are not UTF-8 (a file whose first MiB is)
    named by their line, with the option that reads them. DuckDB out of memory is raised as
    it is: the log is not at fault (exit 3, whose message names DIPSTICK_MEMORY_LIMIT)."""
    if isinstance(e, duckdb.OutOfMemoryException):
        raise e
    found = kind == "CSV" and not_utf8(display, path, str(e), "give its encoding with "
                                       "--encoding latin-1 (Windows exports), or save it as UTF-8")
    return found or Problem(display, f"cannot be read as {kind}: {str(e).splitlines()[0]}")


def _csv_line(sample: bytes, n: int, enc: str) -> list[str] | None:
    """The fields of line ``n`` (0: the header) of a file's first MiB (``sample``) when it is
    a plain one-line CSV record there, whole, else None."""
    lines = sample.split(b"\n", n + 1)
    if len(lines) <= n or (len(lines) == n + 1 and len(sample) == SAMPLE):
        return None   # not in the sample, or cut by its end
    try:
        text = lines[n].decode(_codec(enc, n == 0)).rstrip("\r\n")
    except UnicodeDecodeError:
        return None
    return None if '"' in text or "\r" in text else next(csv.reader([text]), [])


def _codec(enc: str, header: bool) -> str:
    """Python's codec for DuckDB's encoding name; a UTF-8 header may start with a BOM."""
    return ("utf-8-sig" if header else "utf-8") if enc == "utf-8" else enc


def _csv_header(sample: bytes, enc: str) -> dict[str, str] | None:
    """The column names of a CSV whose first line (in ``sample``, its first MiB) splits
    cleanly on commas (all text, as the stage reads it), or None: then DuckDB's sniffer is
    asked (``describe_file``), which reads a sample of the file — a sixth of the time the
    streams command spends on a 36-column gzip export. A header DuckDB reads otherwise fails
    the stage and falls back to the sniffer."""
    line = sample.split(b"\n", 1)[0]
    try:
        text = line.decode(_codec(enc, True)).rstrip("\r\n")
    except UnicodeDecodeError:
        return None
    if "\r" in text:   # lines ended by CR alone (Excel's "CSV (Macintosh)"): DuckDB's sniffer
        return None
    names = next(csv.reader([text]), [])
    if len(names) < 2 or any(not n or n != n.strip() for n in names) or len(set(names)) < len(
            names):
        return None
    return {n: "VARCHAR" for n in names}


def _mapped(types: dict[str, str], mapping: LogMapping,
            display: str) -> tuple[dict[str, str], list[Problem]]:
    """The file's column for each canonical field, or the mapped ones it lacks. A field left
    at its default takes its canonical column, else the first of its ``KNOWN_HEADERS`` the
    file has; a field mapped to another name takes that column only."""
    found = {c.lower(): c for c in types}
    wanted = {"case_id": mapping.case_id, "activity": mapping.activity,
              "timestamp": mapping.timestamp, **{f: getattr(mapping, f) for f in _OPTIONAL}}
    columns: dict[str, str] = {}
    problems = []
    for name, col in wanted.items():
        tried = (name, *KNOWN_HEADERS.get(name, ())) if col in (None, name) else (col,)
        hit = next((found[k.lower()] for k in tried if k.lower() in found), None)
        if hit is not None:
            columns[name] = hit
        elif col is not None:
            also = f"; names tried: {', '.join(tried)}" if len(tried) > 1 else ""
            problems.append(Problem(display, f"the column mapped as {name} is missing (columns "
                                    f"found: {', '.join(types) or 'none'}{also})", field=col))
    if "start_timestamp" in columns and "lifecycle" in columns:
        # one row is one event (its lifecycle) or a start and a complete (its two times): a
        # column found by its name gives way to one the user named
        if mapping.start_timestamp is None:
            del columns["start_timestamp"]
        elif mapping.lifecycle is None:
            del columns["lifecycle"]
        else:
            problems.append(Problem(display, "a lifecycle column and a start-time column: a row "
                                    "is one event (its lifecycle) or a start and a complete (its "
                                    "two times), so map one of them", field=mapping.lifecycle))
    if columns.get("start_timestamp") == columns.get("timestamp") is not None:
        problems.append(Problem(display, "the start-time column is the timestamp column: name "
                                "the column of each row's start", field=mapping.start_timestamp))
    return columns, problems


def _staged(relation: str, parquet: bool, types: dict[str, str], columns: dict[str, str],
            rownum: str) -> logs_sql.Staged:
    labels = _labels(columns)
    seq = columns.pop("seq", None)
    return logs_sql.Staged(relation, parquet, types, columns, labels, rownum=rownum,
                           csv_lines=not parquet, seq=seq)


def _labels(columns: dict[str, str]) -> dict[str, str]:
    return {f: columns.get(f, f) for f in ("case_id", "activity", "timestamp", *_OPTIONAL)}
