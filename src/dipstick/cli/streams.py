"""``dipstick streams``: value stream maps, hand-given and discovered from event logs.

A log file is read and discovered on DuckDB alone — with NumPy from 50 k events
(streams/on_numpy.py): no Narwhals, pyarrow, pydantic, pandas or the package loader is imported
on that path (its whole-process time is measured against pm4py's, benchmarks/discovery_e2e.py;
tests/test_discovery_sql.py guards the import list)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dipstick.cli.app import (
    FormatOpt,
    _check_format,
    _fail,
    _print_json,
    _progress,
    app,
    err,
    one_shot,
    out,
    stderr_is_terminal,
)
from dipstick.errors import DipstickError, UsageError
from dipstick.waiting import WAITING_PREFIXES

if TYPE_CHECKING:
    from dipstick.streams import StreamMetrics
    from dipstick.streams.found import Discovery

Col = Annotated[str | None, typer.Option(help="Column to read it from (event log files).")]


@app.command()
def streams(
    path: Annotated[Path, typer.Argument(
        help="A data package folder, or an event log file (.csv, .csv.gz, .tsv, .txt, "
             ".parquet, .xes, .xes.gz) to discover a process from.")],
    fmt: FormatOpt = "table",
    case: Annotated[str, typer.Option(
        help="Case id column; by default case_id, else case:concept:name, Case ID, CaseID or "
             "Case.")] = "case_id",
    activity: Annotated[str, typer.Option(
        help="Activity column; by default activity, else concept:name or Activity "
             "Name.")] = "activity",
    timestamp: Annotated[str, typer.Option(
        help="Timestamp column; by default timestamp, else time:timestamp, Complete Timestamp "
             "or End Timestamp.")] = "timestamp",
    lifecycle: Col = None,
    start_timestamp: Annotated[str | None, typer.Option(
        "--start-timestamp", help="Column of each row's start time, beside its completion "
                                  "(--timestamp): a row is then a start and a complete event, "
                                  "as Disco exports them ('Start Timestamp'); by default "
                                  "start_timestamp when the file has one.")] = None,
    resource: Col = None,
    process: Col = None,
    service: Col = None,
    order: Annotated[str | None, typer.Option(
        help="Column ordering events with equal timestamps (e.g. sys_mod_count); default: "
             "file order.")] = None,
    time_format: Annotated[str | None, typer.Option(
        help="strptime format of the timestamps, e.g. '%d/%m/%Y %H:%M' or "
             "'%m/%d/%Y %I:%M %p' (without it: ISO 8601, slash dates in the order their values "
             "tell, and a month name (01-MAR-2016 09:30) in the form the first time shows).")
    ] = None,
    dayfirst: Annotated[bool, typer.Option(
        help="Dates like 01/03/2016 09:30 are day-first (without it, slash dates are read in "
             "the order the log's values tell: 29/2/2016 day-first, 2/29/2016 month-first).")
    ] = False,
    skip_bad_rows: Annotated[bool, typer.Option(
        "--skip-bad-rows", help="Leave out the events with a problem (no case, activity or "
                                "time, a time that does not parse …) and list them on stderr, "
                                "instead of exit 2.")] = False,
    encoding: Annotated[str | None, typer.Option(
        help="Text encoding of a CSV log: utf-8, utf-16, utf-16-be or latin-1 (read as "
             "windows-1252, as browsers do); default: detected (UTF-16 by its mark or its NUL "
             "bytes, else UTF-8 if the first MiB is, else Windows-1252).")] = None,
    only: Annotated[str | None, typer.Option(
        help="Only the events of this process (the process column's value).")] = None,
    waiting: Annotated[list[str] | None, typer.Option(
        help="Activity name prefix marking a waiting state (repeatable; default: "
             f"{', '.join(WAITING_PREFIXES)}).")] = None,
    collapse: Annotated[bool, typer.Option(
        help="Merge consecutive events of one activity in a case into one visit (audit "
             "trails that log every update).")] = False,
    top_variants: Annotated[str, typer.Option(
        "--top-variants", help="How many variants to list, most frequent first: a number or "
                               "'all'.")] = "10",
) -> None:
    """Show value stream maps: lead time, process and wait time, activity ratio, rolled %C&A,
    the bottleneck — and, for event logs, the process map (directly-follows pairs with
    durations), variants, waiting states and rework. Exit 2 on a bad package or log."""
    _check_format(fmt)
    top = _top(top_variants, fmt)
    if path.is_dir():
        measured = _package_streams(path, fmt)
    else:
        from dipstick.streams.logs import LogMapping

        mapping = LogMapping(case_id=case, activity=activity, timestamp=timestamp,
                             lifecycle=lifecycle, start_timestamp=start_timestamp,
                             resource=resource, process=process,
                             service=service, seq=order, timestamp_format=time_format,
                             dayfirst=dayfirst, encoding=encoding,
                             skip_bad_rows=skip_bad_rows)
        measured = [_log_stream(path, mapping, only, tuple(waiting or WAITING_PREFIXES),
                                collapse, fmt, top)]
    if fmt == "json":
        _print_json([_json(m, d) for m, d in measured])
        return
    if not measured:
        out.print("No value stream in this package (neither hand-given steps nor an event log "
                  "with cases).")
    from dipstick import render

    for m, d in measured:
        if d is not None:
            out.print(render.discovery_tables(d))
            if not d.events:
                continue   # no stream to tabulate: the line above says why
        out.print(render.stream_table(m))


def _json(m: StreamMetrics, d: Discovery | None) -> dict[str, Any]:
    data = m.to_json()
    if d is not None:
        data["discovery"] = d.to_json()
    return data


def _package_streams(path: Path, fmt: str) -> list[tuple[StreamMetrics, Discovery | None]]:
    from dipstick.package import load_package
    from dipstick.streams.package import package_streams

    try:
        with _progress("Reading") as step:
            package = load_package(path, progress=lambda t: step(f"loading {t}"))
            try:
                step("discovering")
                found = package_streams(package.model, package.signals)
            finally:
                package.close()
    except DipstickError as e:
        raise _fail(e, fmt) from None
    return [(ps.metrics, ps.discovery) for ps in found]


def _top(text: str, fmt: str) -> int:
    """``--top-variants``: a positive number, or ``all`` (every variant)."""
    if text.strip().lower() == "all":
        return 2**62
    if text.strip().isdigit() and int(text) > 0:
        return int(text)
    raise _fail(UsageError(f"--top-variants: {text!r} is neither a positive number nor 'all'"),
                fmt)


def _log_stream(path: Path, mapping: Any, only: str | None, waiting: tuple[str, ...],
                collapse: bool, fmt: str, top: int) -> tuple[StreamMetrics, Discovery | None]:
    from dipstick.engine.memory import bounded
    from dipstick.streams.logs import load_event_log
    from dipstick.streams.on_duckdb import discover_relation

    one_shot()
    try:   # DIPSTICK_MEMORY_LIMIT: DuckDB spills, and a log too large for NumPy's arrays under
        con = bounded()   # it is discovered in SQL (streams/on_duckdb.numpy_fits)
    except DipstickError as e:
        raise _fail(e, fmt) from None
    # This connection's queries are scans, one sort and single-row aggregates side by side:
    # nothing to reorder, and the join-order search over the aggregates' dozen subqueries
    # cost more planning than a 15 k-event log's whole discovery (measured: 56 → 31 ms CPU).
    con.execute("SET disabled_optimizers = 'join_order'").fetchall()
    try:
        with _steps("Discovering") as step:
            step(f"reading {path.name}")
            loaded = load_event_log(con, path, mapping, table="events", ordered=False,
                                    canonical=False)
            step("discovering")
            d = discover_relation(con.table("events"), process=only, waiting=waiting,
                                  collapse=collapse, top_variants=top)
    except DipstickError as e:
        raise _fail(e, fmt) from None
    finally:
        con.close()
    dropped, skipped = loaded.dropped, loaded.skipped
    if dropped:   # said on stderr in both formats: the JSON on stdout stays as it was
        err.print(f"[yellow]note[/yellow]: {dropped:,} event{'s' * (dropped != 1)} of "
                  f"{path.name} left out: lifecycle:transition neither start nor complete "
                  "(schedule, suspend, …; docs/event-logs.md)")
    # Rich only for a note: a clean log's JSON imports none
    if loaded.known or skipped or loaded.start_unread or loaded.dates:
        from rich.markup import escape  # the file's own names, printed inside markup
    if loaded.known:   # a column found by another tool's name: perhaps not the one meant
        found = ", ".join(f"{c!r} as the {f.replace('_id', '').replace('_', ' ')}"
                          for f, c in loaded.known)
        err.print(f"[yellow]note[/yellow]: read {escape(found)} (known export headers; --case, "
                  "--activity, --timestamp, --start-timestamp, --resource name others)",
                  highlight=False)
    if loaded.start_unread:   # Disco's two times per row, read as completions only
        col = loaded.start_unread
        err.print(f"[yellow]note[/yellow]: {escape(repr(col))} not read: each row is its "
                  f"completion only; --start-timestamp {escape(repr(col))} reads a row as a "
                  "start and a complete, giving steps their work time", highlight=False)
    if loaded.dates:   # slash dates whose order the log's own values told
        err.print(f"[yellow]note[/yellow]: {escape(loaded.dates)}", highlight=False)
    if skipped:
        err.print(f"[yellow]note[/yellow]: {skipped:,} event{'s' * (skipped != 1)} of "
                  f"{escape(path.name)} left out for a problem (--skip-bad-rows):")
        for p in loaded.problems:
            err.print(f"  {p}", markup=False, highlight=False)
    name = only or path.name.split(".")[0]
    return d.stream(name, name), d


@contextmanager
def _steps(label: str) -> Iterator[Callable[[str], None]]:
    """The progress spinner on a terminal; elsewhere (piped JSON, a benchmark) nothing, and
    Rich's progress machinery is not even imported."""
    if stderr_is_terminal():
        with _progress(label) as step:
            yield step
    else:
        yield lambda _: None
