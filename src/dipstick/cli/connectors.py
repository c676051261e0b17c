"""``dipstick import KIND SOURCE --into PACKAGE``: an export into a data package.

A thin edge over :func:`dipstick.connectors.imports.import_file`: options become
``ImportOptions``, the core reads, checks and writes; here only the progress bar and the summary
(docs/connectors.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from dipstick.cli.app import FormatOpt, _check_format, _fail, _print_json, app, err, out, real
from dipstick.defaults import IMPORT_KINDS as KINDS
from dipstick.errors import DipstickError, UsageError

if TYPE_CHECKING:   # imported where used: start-up stays light (tests/test_startup.py)
    from dipstick.connectors.imports import ImportSummary


@app.command("import")
def import_(
    kind: Annotated[str, typer.Argument(help=f"What the file holds: {', '.join(KINDS)}.")],
    source: Annotated[Path, typer.Argument(
        help="The export: .csv, .csv.gz, .tsv, .xlsx or .parquet.")],
    into: Annotated[Path, typer.Option(
        "--into", help="The data package folder (created when missing).")],
    preset: Annotated[str | None, typer.Option(
        help="servicenow (tickets: incident export or audit trail; services: cmdb_ci_service) "
             "or jira (tickets: Jira CSV export).")] = None,
    map_: Annotated[list[str] | None, typer.Option(
        "--map", help="field=column: which source column fills a dipstick field "
                      "(repeatable; wins over the preset).")] = None,
    mapping: Annotated[Path | None, typer.Option(
        "--mapping", help="A YAML file of field: column pairs (like --map).")] = None,
    service_from: Annotated[str | None, typer.Option(
        "--service-from", help="The source column naming the service, e.g. cmdb_ci, "
                               "business_service or assignment_group.")] = None,
    service_map: Annotated[Path | None, typer.Option(
        "--service-map", help="CSV value,service: source values mapped to service ids.")] = None,
    starter_services: Annotated[bool, typer.Option(
        "--starter-services", help="Add one service per unmapped value (and 'unassigned' for "
                                   "empty ones) and write service-map.csv: a starting point to "
                                   "edit.")] = False,
    starter_groups: Annotated[bool, typer.Option(
        "--starter-groups", help="Add one stakeholder group (internal) per group value "
                                 "dipstick.yaml lacks (requester_group, group): a starting "
                                 "point to edit.")] = False,
    dayfirst: Annotated[bool, typer.Option(
        "--dayfirst", help="Slash dates are day-first: 3/4/2026 is 3 April.")] = False,
    date_format: Annotated[str | None, typer.Option(
        "--date-format", help="strptime format of the dates, e.g. '%m/%d/%Y %H:%M'.")] = None,
    encoding: Annotated[str | None, typer.Option(
        help="utf-8, utf-8-sig, utf-16, utf-16-be or latin-1 (read as windows-1252, as "
             "browsers do); default: detected.")] = None,
    delimiter: Annotated[str | None, typer.Option(
        help="CSV delimiter (default: detected).")] = None,
    sheet: Annotated[str | None, typer.Option(
        help="Excel sheet (default: the first).")] = None,
    skip_bad_rows: Annotated[bool, typer.Option(
        "--skip-bad-rows", help="Skip bad rows and list them in KIND.rejects.csv in the "
                                "package, instead of stopping.")] = False,
    replace: Annotated[bool, typer.Option(
        "--replace", help="Replace the whole table (default: merge, replacing rows with the "
                          "same key).")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Read, map and check the export and say what would be written "
                          "(the mapping with fill rates, rows, services); write nothing.")] = False,
    fmt: FormatOpt = "table",
) -> None:
    """Import an export (ServiceNow, Jira, CSV, Excel, Parquet) into a data package: every row
    checked, all-or-nothing, idempotent. Exit 0 done, 2 bad input (nothing written)."""
    from dipstick.connectors.imports import ImportOptions, import_file

    _check_format(fmt)
    try:
        options = ImportOptions(
            preset=preset, mapping=_mapping(map_ or [], mapping), service_from=service_from,
            service_map=service_map, starter_services=starter_services,
            starter_groups=starter_groups, dayfirst=dayfirst,
            date_format=date_format, encoding=encoding, skip_bad_rows=skip_bad_rows,
            replace=replace, delimiter=_delimiter(delimiter), sheet=sheet, dry_run=dry_run)
        with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                      TimeElapsedColumn(), console=real(err), transient=True) as bar:
            task = bar.add_task(f"Importing {source.name}", total=100)
            summary = import_file(kind, source, into, options,
                                  progress=lambda pct: bar.update(task, completed=pct))
    except DipstickError as e:
        raise _fail(e, fmt) from None
    if fmt == "json":
        _print_json(summary.to_json())
    else:
        if summary.dry_run:
            out.print(mapping_table(summary))
        out.print(summary_table(summary))


def _mapping(pairs: list[str], file: Path | None) -> dict[str, str]:
    import yaml

    out: dict[str, str] = {}
    if file is not None:
        try:
            raw = yaml.safe_load(file.read_text(encoding="utf-8-sig"))
        # ValueError: not UTF-8, or a number of more than 4,300 digits (were tracebacks)
        except (OSError, ValueError, RecursionError, yaml.YAMLError) as e:
            raise UsageError(f"--mapping {file}: cannot be read as YAML: {e}") from None
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            raise UsageError(f"--mapping {file}: expected field: column pairs, e.g. "
                             "`opened_at: Created`")
        out.update({str(k): v for k, v in raw.items()})
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise UsageError(f"--map {pair!r}: expected field=column, e.g. opened_at=Created")
        out[field.strip()] = column.strip()
    return out


def _delimiter(d: str | None) -> str | None:
    if d is None:
        return None
    d = {"\\t": "\t", "tab": "\t"}.get(d, d)
    if len(d) != 1:
        raise UsageError(f"--delimiter {d!r}: one character, e.g. ';' or tab")
    return d


def summary_table(s: ImportSummary) -> Table:
    """The summary of one import, as the terminal shows it. Values from the export (file
    names, unmapped values, notes quoting them) are escaped: Rich would read ``[...]`` as
    markup and fail on a value like ``[/red]``."""
    title = (f"Dry run: {s.source} would be imported → {s.target} (nothing written)"
             if s.dry_run else f"Imported {s.source} → {s.target}")
    t = Table(title=escape(title), show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    t.add_row("table", s.table)
    t.add_row("rows read", f"{s.rows_read:,}")
    t.add_row("rows written", f"{s.rows_written:,}")
    t.add_row("rows rejected", f"[red]{s.rows_rejected:,}[/red]" if s.rows_rejected else "0")
    if s.rejects_file:
        t.add_row("rejects file", escape(str(s.rejects_file)))
    if not s.dry_run:
        t.add_row("rows in the table",
                  f"{s.rows_in_table:,} ({s.rows_replaced:,} replaced by key)")
    if s.first_date or s.last_date:
        t.add_row("date range", f"{s.first_date} … {s.last_date}")
    if s.unmapped:
        shown = ", ".join(s.unmapped[:12]) + (f" … (+{len(s.unmapped) - 12})"
                                              if len(s.unmapped) > 12 else "")
        label = "unmapped service values" + (" (now starter services)" if s.service_map_file
                                             else "")
        t.add_row(label, escape(f"{len(s.unmapped)}: {shown}"))
    if s.services_added:
        t.add_row("services added", f"{len(s.services_added)} (to dipstick.yaml)")
    if s.groups_added:
        t.add_row("groups added", escape(f"{len(s.groups_added)}: "
                                         f"{', '.join(s.groups_added[:12])}"
                                         + (" …" if len(s.groups_added) > 12 else "")))
    if s.service_map_file:
        t.add_row("service map", escape(f"{s.service_map_file} (edit it, then "
                                        "--service-map)"))
    for note in s.notes:
        t.add_row("note", escape(note))
    for warning in s.warnings:
        t.add_row("[yellow]warning[/yellow]", escape(warning))
    return t


def mapping_table(s: ImportSummary) -> Table:
    """Which export column feeds each field, how it was chosen, and how filled it is."""
    t = Table(title=escape(f"Mapping of {s.source} to {s.table}"), title_justify="left",
              header_style="bold")
    for col in ("Field", "Column", "Chosen by", "Filled", "Values"):
        t.add_column(col, justify="right" if col in ("Filled", "Values") else "left")
    for f in s.fields:
        t.add_row(f.field, escape(f.column) if f.column else "[dim]—[/dim]", escape(f.how),
                  "" if f.filled is None else f"{f.filled:.1%}",
                  "" if f.distinct is None else f"{f.distinct:,}")
    return t
