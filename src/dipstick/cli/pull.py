"""The ``dipstick pull`` commands: live pulls from ServiceNow and Jira into a data package.

Thin edges over ``dipstick.connectors.pull``: options become a query and import options, the
core does the pages, the import and the watermark; here only the progress bar and the summary.
Credentials come from environment variables only (docs/pull.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from dipstick.cli.app import (
    FormatOpt,
    _check_format,
    _fail,
    _print_json,
    app,
    err,
    out,
    real,
    sane_day,
)
from dipstick.errors import DipstickError, UsageError

if TYPE_CHECKING:   # imported where used: start-up stays light (tests/test_startup.py)
    from dipstick.connectors.imports import ImportOptions
    from dipstick.connectors.pull import PullSummary, RetryPolicy

pull_app = typer.Typer(name="pull", no_args_is_help=True, rich_markup_mode="rich",
                       help="Pull tickets live from ServiceNow or Jira into a data package "
                       "(incremental: each pull starts where the last one ended).")
app.add_typer(pull_app, name="pull")

DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M",
                "%Y-%m-%d %H:%M"]
IntoOpt = Annotated[Path, typer.Option("--into", help="The data package folder to import into "
                                       "(created when missing).")]
SinceOpt = Annotated[datetime | None, typer.Option(
    "--since", formats=DATE_FORMATS, callback=sane_day,
    help="Pull what was updated since then (the first pull; later pulls resume from the "
    "stored watermark, never before --since).")]
MapOpt = Annotated[list[str] | None, typer.Option(
    "--map", help="field=column: which pulled column fills a dipstick field (repeatable).")]
ServiceFromOpt = Annotated[str | None, typer.Option(
    "--service-from", help="The pulled column that names the service.")]
ServiceMapOpt = Annotated[Path | None, typer.Option(
    "--service-map", help="CSV value,service: the column's values mapped to service ids.")]
StarterOpt = Annotated[bool, typer.Option(
    "--starter-services", help="Add one starter service per unmapped value.")]
SkipOpt = Annotated[bool, typer.Option(
    "--skip-bad-rows", help="List bad pulled rows in a rejects file instead of stopping.")]
OverlapOpt = Annotated[float, typer.Option(
    "--overlap", help="Minutes re-read before the watermark (the import drops duplicates).")]
FullOpt = Annotated[bool, typer.Option(
    "--full", help="Ignore the stored watermark and pull from --since (or everything).")]
AttemptsOpt = Annotated[int, typer.Option(
    "--attempts", help="Tries per request on 429, 5xx or a dropped connection.")]
BackoffOpt = Annotated[float, typer.Option(
    "--backoff", help="First wait in seconds, doubled each retry (Retry-After wins).")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds per request.")]


def _mapping(items: list[str] | None) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items or []:
        name, sep, column = item.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise UsageError(f"--map takes field=column, not {item!r}")
        mapping[name.strip()] = column.strip()
    return mapping


def _policy(attempts: int, backoff: float, timeout: float) -> RetryPolicy:
    from dipstick.connectors.pull import RetryPolicy

    if attempts < 1 or backoff < 0 or timeout <= 0:
        raise UsageError("--attempts must be at least 1, --backoff at least 0 and --timeout "
                         "more than 0")
    return RetryPolicy(attempts=attempts, backoff=backoff, timeout=timeout)


def _overlap(minutes: float) -> timedelta:
    if minutes < 0:
        raise UsageError(f"--overlap must be 0 or more minutes, not {minutes}")
    return timedelta(minutes=minutes)


@dataclass
class _Bars:
    """The pull's bar (records out of X-Total-Count or Jira's total) and, once every page has
    arrived, the import's (percent), on stderr so ``--format json`` stays clean."""

    bar: Progress
    pulling: TaskID
    importing: TaskID | None = None

    def pulled(self, done: int, total: int | None) -> None:
        self.bar.update(self.pulling, completed=done, total=total)

    def imported(self, percent: int) -> None:
        if self.importing is None:
            self.importing = self.bar.add_task("Importing", total=100)
        self.bar.update(self.importing, completed=percent)


@contextmanager
def _bars(label: str, fmt: str) -> Iterator[_Bars]:
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=real(err), transient=True,
                  disable=fmt == "json" and not err.is_terminal) as bar:
        yield _Bars(bar, bar.add_task(label, total=None))


def _show(summary: PullSummary, fmt: str) -> None:
    if fmt == "json":
        _print_json(summary.to_json())
        return
    table = Table(title=f"Pulled {summary.source}", show_header=False, title_justify="left")
    table.add_row("started from", (summary.started_from or "the beginning")
                  + (" (the stored watermark minus the overlap)" if summary.resumed else ""))
    table.add_row("records pulled", str(summary.records))
    table.add_row("requests", f"{summary.requests} ({summary.retries} retried)")
    table.add_row("watermark", summary.watermark or "unchanged")
    for note in summary.notes:
        table.add_row("note", note)
    imported = summary.imported
    if imported is None:
        table.add_row("import", "nothing new: the package was not touched")
    else:
        table.add_row("rows written", f"{imported.rows_written} into {imported.table} "
                      f"({imported.rows_in_table} rows now, {imported.rows_replaced} updated)")
        if imported.rows_rejected:
            table.add_row("rows rejected", f"{imported.rows_rejected} → {imported.rejects_file}")
        if imported.first_date or imported.last_date:
            table.add_row("dates", f"{imported.first_date} … {imported.last_date}")
        if imported.services_added:
            table.add_row("services added", ", ".join(imported.services_added[:20])
                          + (" …" if len(imported.services_added) > 20 else ""))
        elif imported.unmapped and imported.service_map_file is None:   # starters map them
            table.add_row("unmapped services", ", ".join(imported.unmapped[:20])
                          + (" …" if len(imported.unmapped) > 20 else ""))
        for note in imported.notes:
            table.add_row("note", note)
    out.print(table)


def _options(mapping: list[str] | None, service_from: str | None, service_map: Path | None,
             starter: bool, skip: bool) -> ImportOptions:
    from dipstick.connectors.imports import ImportOptions

    return ImportOptions(mapping=_mapping(mapping), service_from=service_from,
                         service_map=service_map, starter_services=starter, skip_bad_rows=skip)


@pull_app.command("servicenow")
def servicenow(
    instance: Annotated[str, typer.Option(
        "--instance", help="The instance URL, e.g. https://acme.service-now.com.")],
    into: IntoOpt,
    table: Annotated[str, typer.Option("--table", help="The table to pull.")] = "incident",
    since: SinceOpt = None,
    mapping: MapOpt = None,
    service_from: ServiceFromOpt = None,
    service_map: ServiceMapOpt = None,
    starter_services: StarterOpt = False,
    skip_bad_rows: SkipOpt = False,
    fields: Annotated[str | None, typer.Option(
        "--fields", help="More fields to pull, comma-separated (sysparm_fields always has "
        "those the import reads).")] = None,
    all_fields: Annotated[bool, typer.Option(
        "--all-fields", help="Pull every field of the table (no sysparm_fields).")] = False,
    page_size: Annotated[int, typer.Option("--page-size", help="Records per request.")] = 1000,
    overlap: OverlapOpt = 5.0,
    full: FullOpt = False,
    attempts: AttemptsOpt = 5,
    backoff: BackoffOpt = 1.0,
    timeout: TimeoutOpt = 30.0,
    fmt: FormatOpt = "table",
) -> None:
    """Pull a table from the ServiceNow Table API into the package's tickets.

    Auth: SERVICENOW_TOKEN (OAuth bearer) or SERVICENOW_USER + SERVICENOW_PASSWORD. Exit 0
    done, 2 bad input, 3 the instance failed (nothing written)."""
    from dipstick.connectors.pull import pull_servicenow

    _check_format(fmt)
    try:
        options = _options(mapping, service_from, service_map, starter_services,
                           skip_bad_rows)
        extra = [f.strip() for f in (fields or "").split(",") if f.strip()]
        with _bars(f"Pulling {table}", fmt) as bars:
            summary = pull_servicenow(
                instance, table, since, into, options, fields=extra, all_fields=all_fields,
                page_size=page_size, overlap=_overlap(overlap), full=full,
                policy=_policy(attempts, backoff, timeout), progress=bars.pulled,
                import_progress=bars.imported)
    except DipstickError as e:
        raise _fail(e, fmt) from None
    _show(summary, fmt)


@pull_app.command("jira")
def jira(
    url: Annotated[str, typer.Option(
        "--url", help="The Jira base URL, e.g. https://acme.atlassian.net.")],
    jql: Annotated[str, typer.Option("--jql", help="Which issues, e.g. 'project = OPS'.")],
    into: IntoOpt,
    since: SinceOpt = None,
    mapping: MapOpt = None,
    service_from: ServiceFromOpt = None,
    service_map: ServiceMapOpt = None,
    starter_services: StarterOpt = False,
    skip_bad_rows: SkipOpt = False,
    page_size: Annotated[int, typer.Option(
        "--page-size", help="Issues per request (the server may cap it).")] = 100,
    overlap: OverlapOpt = 5.0,
    full: FullOpt = False,
    attempts: AttemptsOpt = 5,
    backoff: BackoffOpt = 1.0,
    timeout: TimeoutOpt = 30.0,
    fmt: FormatOpt = "table",
) -> None:
    """Pull the issues a JQL query finds from Jira's REST search into the package's tickets.

    Auth: JIRA_BEARER (personal access token) or JIRA_USER + JIRA_TOKEN (API token). Exit 0
    done, 2 bad input, 3 Jira failed (nothing written)."""
    from dipstick.connectors.pull import pull_jira

    _check_format(fmt)
    try:
        options = _options(mapping, service_from, service_map, starter_services,
                           skip_bad_rows)
        with _bars("Pulling issues", fmt) as bars:
            summary = pull_jira(url, jql, since, into, options, page_size=page_size,
                                overlap=_overlap(overlap), full=full,
                                policy=_policy(attempts, backoff, timeout),
                                progress=bars.pulled, import_progress=bars.imported)
    except DipstickError as e:
        raise _fail(e, fmt) from None
    _show(summary, fmt)
