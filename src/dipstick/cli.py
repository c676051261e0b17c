"""The ``dipstick`` command: thin Typer commands over the same core functions the web uses.

Exit codes (``dipstick.errors.ExitCode``): 0 no leak, 1 at least one leak, 2 bad input (nothing
stored), 3 dipstick could not do its job (e.g. the database is unreachable).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from dipstick import render
from dipstick.check import CheckResult, run_check
from dipstick.errors import DipstickError, ExitCode, PackageError, UsageError
from dipstick.indicators.registry import INDICATORS
from dipstick.model import ValueModel
from dipstick.model.alerts import AlertTarget
from dipstick.package import Package, load_package

app = typer.Typer(
    name="dipstick",
    help="The value leakage indicator for IT services: which services leak value, why, how "
    "much per month, and since when.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def _console(stderr: bool = False) -> Console:
    """Piped or captured output gets a wide page instead of Rich's 80 columns: the lights
    table and the problems table must not be squeezed into unreadable wraps."""
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        width = max(160, int(os.environ.get("COLUMNS", "0") or 0))
        console = Console(stderr=stderr, highlight=False, width=width)
    return console


out = _console()
err = _console(stderr=True)

PackageArg = Annotated[Path, typer.Argument(help="The data package folder (with dipstick.yaml).")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table or json.")]
AsOfOpt = Annotated[datetime | None, typer.Option(
    "--as-of", formats=["%Y-%m-%d"],
    help="Check as of this date (default: organisation.as_of or the latest signal date).")]
ServiceOpt = Annotated[list[str] | None, typer.Option(
    "--service", "-s", help="Only this service id (repeatable).")]
DatabaseOpt = Annotated[str | None, typer.Option(
    "--database", envvar="DIPSTICK_DATABASE_URL",
    help="App database URL (default: SQLite file dipstick.db here; env DIPSTICK_DATABASE_URL).")]
StoreOpt = Annotated[bool, typer.Option("--store/--no-store", help="Keep the run in the history.")]


def main() -> None:
    app()


@contextmanager
def _progress(label: str) -> Iterator[Any]:
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def step(what: str) -> None:
            bar.update(task, description=f"{label}: {what}", advance=1)

        yield step


def _fail(e: DipstickError, fmt: str) -> typer.Exit:
    """Report an error the way the chosen format expects; nothing has been stored."""
    problems = e.problems if isinstance(e, PackageError) else []
    if fmt == "json":
        _print_json({"error": type(e).__name__, "message": str(e).splitlines()[0],
                             "problems": [p.as_dict() for p in problems]})
    elif problems:
        err.print(render.problems_table(problems))
    else:
        err.print(f"[red]error:[/red] {e}")
    return typer.Exit(int(e.exit_code))


def _print_json(data: Any) -> None:
    """Plain JSON on stdout: Rich's highlighter takes seconds on a 2,000-service result, and
    so does indenting (it forces json's pure-Python encoder), so only a terminal gets indents."""
    indent = 2 if sys.stdout.isatty() else None
    sys.stdout.write(json.dumps(data, indent=indent, default=str, ensure_ascii=False) + "\n")


def _check_format(fmt: str) -> None:
    if fmt not in ("table", "json"):
        err.print(f"[red]error:[/red] --format must be table or json, not {fmt!r}")
        raise typer.Exit(int(ExitCode.BAD_INPUT))


def _as_date(v: datetime | None) -> date | None:
    return v.date() if v else None


def _run(path: Path, as_of: date | None, services: list[str] | None,
         fmt: str) -> tuple[CheckResult, ValueModel]:
    """The check, and the value model it read (for what the edges need of it, e.g. alerts)."""
    package: Package | None = None
    try:
        with _progress("Checking") as step:
            package = load_package(path, progress=lambda t: step(f"loading {t}"))
            return run_check(package, as_of, services or None,
                             progress=lambda c: step(f"indicator {c}")), package.model
    except DipstickError as e:
        raise _fail(e, fmt) from None
    finally:
        if package is not None:
            package.close()


def _store(result: CheckResult, database: str | None, started: datetime, command: str) -> int:
    from dipstick.store import Store  # the database layer only when a run is kept

    try:
        with Store.open(database) as store:
            store.migrate()
            return store.save_run(result, started_at=started, finished_at=datetime.now(UTC),
                                  command=command)
    except DipstickError as e:
        err.print(f"[red]error:[/red] the run was not stored: {e}")
        raise typer.Exit(int(ExitCode.FAILURE)) from None


@app.command()
def validate(path: PackageArg, fmt: FormatOpt = "table") -> None:
    """Check a data package and list every problem (file, row, field, value). Exit 2 if any."""
    _check_format(fmt)
    try:
        load_package(path).close()
    except PackageError as e:
        raise _fail(e, fmt) from None
    if fmt == "json":
        _print_json({"valid": True, "problems": []})
    else:
        out.print(f"[green]✔[/green] {path} is a valid data package")


@app.command()
def check(
    path: PackageArg,
    fmt: FormatOpt = "table",
    service: ServiceOpt = None,
    as_of: AsOfOpt = None,
    database: DatabaseOpt = None,
    store: StoreOpt = True,
    limit: Annotated[int, typer.Option(help="Show at most N services in the table (0 = all).")]
    = 0,
    alert: Annotated[bool, typer.Option(
        "--alert", help="Notify the `alerts:` targets of new and ended leaks (needs --store).")]
    = False,
) -> None:
    """Run every leak indicator and show the lights. Exit 0 no leak, 1 leak, 2 bad input."""
    _check_format(fmt)
    if alert and not store:
        raise _fail(UsageError("--alert needs the run history: it cannot be used with "
                               "--no-store"), fmt)
    started = datetime.now(UTC)
    result, model = _run(path, _as_date(as_of), service, fmt)
    notifiers = _notifiers(model.alerts, fmt) if alert else None
    run_id = _store(result, database, started, "check " + " ".join(sys.argv[2:])) if store \
        else None
    if fmt == "json":
        _print_json(result.to_json())
    else:
        render.print_check(out, result, limit)
    if notifiers is not None and run_id is not None:
        _alert(result, run_id, notifiers, database)
    raise typer.Exit(int(ExitCode.LEAK if result.has_leak else ExitCode.OK))


def _notifiers(targets: tuple[AlertTarget, ...], fmt: str) -> Any:
    """The alert targets with their secrets from the environment; exit 2 if one is missing."""
    from dipstick.alerts import build_notifiers

    try:
        return build_notifiers(targets, os.environ)
    except DipstickError as e:
        raise _fail(e, fmt) from None


def _alert(result: CheckResult, run_id: int, notifiers: Any, database: str | None) -> None:
    """Log and send this run's alerts; a failed delivery is reported and stays pending, it
    never changes the exit code. A database failure here is exit 3."""
    from dipstick.alerts import run_alerts
    from dipstick.store import Store

    try:
        with Store.open(database) as db:
            report = run_alerts(db, run_id, result, notifiers)
    except DipstickError as e:
        err.print(f"[red]error:[/red] alerts were not recorded: {e}")
        raise typer.Exit(int(ExitCode.FAILURE)) from None
    for line in report.lines():
        err.print(line, markup=False)


@app.command()
def report(
    path: PackageArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")]
    = Path("report.html"),
    service: ServiceOpt = None,
    as_of: AsOfOpt = None,
    database: DatabaseOpt = None,
    store: StoreOpt = True,
) -> None:
    """Write one self-contained HTML report (opens with no network). Exit codes as `check`."""
    from dipstick.report import write_report

    started = datetime.now(UTC)
    result, _ = _run(path, _as_date(as_of), service, "table")
    if store:
        _store(result, database, started, "report " + " ".join(sys.argv[2:]))
    written = write_report(result, output)
    out.print(f"Report written to [bold]{written}[/bold]")
    raise typer.Exit(int(ExitCode.LEAK if result.has_leak else ExitCode.OK))


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Where to write the demo package.")]
    = Path("dipstick-demo"),
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same files.")]
    = 7,
    size: Annotated[str, typer.Option(help="default (60+ services) or large (2,000+).")]
    = "default",
    run: Annotated[bool, typer.Option("--check/--no-check", help="Run the check afterwards.")]
    = True,
    database: DatabaseOpt = None,
) -> None:
    """Write a synthetic demo organisation, check it and write its report. Exit 0 on success."""
    from dipstick.demo import generate
    from dipstick.report import write_report

    if size not in ("default", "large"):
        err.print("[red]error:[/red] --size must be default or large")
        raise typer.Exit(int(ExitCode.BAD_INPUT))
    with _progress("Generating the demo organisation") as step:
        truth = generate(directory, seed=seed, size=size, progress=step)  # type: ignore[arg-type]
    out.print(f"Demo organisation written to [bold]{directory}[/bold] "
              f"({len(truth.leaks)} seeded leaks listed in ground_truth.json)")
    if not run:
        return
    started = datetime.now(UTC)
    result, _ = _run(directory, None, None, "table")
    _store(result, database, started, f"demo {directory}")
    render.print_check(out, result, 0)
    written = write_report(result, directory / "report.html")
    out.print(f"Report written to [bold]{written}[/bold]")


@app.command()
def runs(
    database: DatabaseOpt = None,
    fmt: FormatOpt = "table",
    limit: Annotated[int, typer.Option(help="How many of the latest runs.")] = 20,
) -> None:
    """List the stored check runs, newest first (the history behind trends)."""
    from dipstick.store import Store

    _check_format(fmt)
    try:
        with Store.open(database) as store:
            store.migrate()
            rows = [asdict(r) for r in store.runs(limit=limit)]
    except DipstickError as e:
        raise _fail(e, fmt) from None
    if fmt == "json":
        _print_json(json.loads(json.dumps(rows, default=str)))
    else:
        out.print(render.runs_table(rows))


@app.command()
def alerts(
    database: DatabaseOpt = None,
    fmt: FormatOpt = "table",
    limit: Annotated[int, typer.Option(help="How many of the latest alerts.")] = 50,
    status: Annotated[str | None, typer.Option(help="Only pending or sent.")] = None,
) -> None:
    """List sent and pending alerts (one row per event and target), newest first."""
    from dipstick.alerts import alerts_table, list_alerts
    from dipstick.store import Store

    _check_format(fmt)
    try:
        with Store.open(database) as store:
            store.migrate()
            rows = list_alerts(store, limit, status)
    except DipstickError as e:
        raise _fail(e, fmt) from None
    if fmt == "json":
        _print_json(json.loads(json.dumps(rows, default=str)))
    else:
        out.print(alerts_table(rows))


@app.command()
def streams(path: PackageArg, fmt: FormatOpt = "table") -> None:
    """Show the value stream maps of a package: lead time, process time, activity ratio,
    rolled %C&A and the bottleneck, step by step."""
    from dipstick.streams import measure_stream

    _check_format(fmt)
    try:
        package = load_package(path)
    except DipstickError as e:
        raise _fail(e, fmt) from None
    package.close()
    measured = [measure_stream(v) for v in package.model.value_streams if v.steps]
    if fmt == "json":
        _print_json([m.to_json() for m in measured])
        return
    if not measured:
        out.print("No value stream with hand-given steps in this package.")
    for m in measured:
        out.print(render.stream_table(m))


@app.command()
def indicators(fmt: FormatOpt = "table") -> None:
    """List the leak indicators, what each asks and the remedy it points to."""
    _check_format(fmt)
    rows = [{"cause": i.cause, "title": i.title, "question": i.question, "action": i.action,
             "settings": {k: str(f.default) for k, f in i.spec.model_fields.items()}}
            for i in INDICATORS]
    if fmt == "json":
        _print_json(rows)
    else:
        out.print(render.indicators_table(rows))
