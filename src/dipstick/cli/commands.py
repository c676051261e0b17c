"""The check commands: validate, check, report, demo, runs, alerts, indicators."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from dipstick.cli.app import (
    AsOfOpt,
    DatabaseOpt,
    EngineOpt,
    FormatOpt,
    PackageArg,
    ServiceOpt,
    StoreOpt,
    _check_format,
    _fail,
    _print_check_json,
    _print_json,
    _progress,
    app,
    err,
    one_shot,
    out,
)
from dipstick.errors import DipstickError, ExitCode, PackageError, UsageError

if TYPE_CHECKING:   # the core is imported by the commands that run it, not at start-up
    from dipstick.check import CheckResult
    from dipstick.model import ValueModel
    from dipstick.model.alerts import AlertTarget


def _as_date(v: datetime | None) -> date | None:
    return v.date() if v else None


def _run(path: Path, as_of: date | None, services: list[str] | None,
         fmt: str, database: str | None = None, engine: str = "duckdb",
         while_open: Callable[[Any, CheckResult], None] | None = None
         ) -> tuple[CheckResult, ValueModel]:
    """The check, and the value model it read (for what the edges need of it, e.g. alerts);
    ``while_open(package, result)`` is called before the package is closed (``check``
    stores the run there)."""
    from dipstick.database import sqlite_file_missing
    from dipstick.runs import check_package

    try:
        with _progress("Checking") as step:
            checked = check_package(path, as_of, services, progress=step,
                                    prepare=None if sqlite_file_missing(database)
                                    else _stored_answers(database), engine=engine,
                                    while_open=while_open)
            return checked.result, checked.model
    except DipstickError as e:
        raise _fail(e, fmt) from None


def _stored_answers(database: str | None) -> Callable[[Any], Any]:
    """What the app database adds to a package before its check: pulse answers join the
    surveys, the web's self-assessments their causes. Only called when there is a database:
    a check on a machine without one never imports the database layer."""
    from dipstick.pulse.feed import feed_stored_answers
    from dipstick.store.selfassess import feed_stored_self_assessment

    return lambda p: (feed_stored_answers(p, database), feed_stored_self_assessment(p, database))


def _store(result: CheckResult, database: str | None, started: datetime, command: str,
           context: Callable[[], object | None] | None = None) -> int:
    """Keep the run; ``context`` makes the pages' context stored with it, on PostgreSQL while
    the server writes the findings (``Store.save_run``'s ``build_extras``)."""
    from dipstick.store import Store  # the database layer only when a run is kept

    try:
        from dipstick.store.audit import Actor
        from dipstick.store.settle import settle

        with Store.open(database) as store:
            store.migrate()
            run_id = store.save_run(result, started_at=started, finished_at=datetime.now(UTC),
                                    command=command, build_extras=context, actor=Actor.cli())
            settle(store)    # a done action whose leak came back is reopened
            return run_id
    except DipstickError as e:
        err.print(f"[red]error:[/red] the run was not stored: {escape(str(e))}")
        raise typer.Exit(int(ExitCode.FAILURE)) from None


@app.command()
def validate(path: PackageArg, fmt: FormatOpt = "table") -> None:
    """Check a data package and list every problem (file, row, field, value). Exit 2 if any."""
    from dipstick.package import load_package

    _check_format(fmt)
    try:
        load_package(path).close()
    except PackageError as e:
        raise _fail(e, fmt) from None
    if fmt == "json":
        _print_json({"valid": True, "problems": []})
    else:
        out.print(f"[green]✔[/green] {escape(str(path))} is a valid data package")


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
    wide: Annotated[bool, typer.Option(
        "--wide", help="A light per cause, the hours and the whole action, however narrow "
        "the console.")] = False,
    engine: EngineOpt = "duckdb",
    alert: Annotated[bool, typer.Option(
        "--alert", help="Notify the `alerts:` targets of new and ended leaks (needs --store).")]
    = False,
) -> None:
    """Run every leak indicator and show the lights. Exit 0 no leak, 1 leak, 2 bad input."""
    from dipstick import render

    _check_format(fmt)
    if alert and not store:
        raise _fail(UsageError("--alert needs the run history: it cannot be used with "
                               "--no-store"), fmt)
    from dipstick.runs import stored_form_if_any

    started = datetime.now(UTC)
    notifiers: list[Any] = []
    run_ids: list[int] = []

    def keep(package: Any, result: CheckResult) -> None:
        """Stored while the package is open, with the pages' context built from it while
        PostgreSQL writes the rows (issue 16: in the wait for the server); the alert
        targets' secrets are looked up first, so a missing one stores nothing, as before."""
        if alert:
            notifiers.append(_notifiers(package.model.alerts, fmt))
        if store:
            run_ids.append(_store(result, database, started, "check " + " ".join(sys.argv[2:]),
                                  lambda: stored_form_if_any(package, result)))

    one_shot()   # before NumPy's import: the check's arrays, then the process ends
    result, _ = _run(path, _as_date(as_of), service, fmt, database, engine, keep)
    run_id = run_ids[0] if run_ids else None
    if fmt == "json":
        _print_check_json(result)
    else:
        render.print_check(out, result, limit, wide)
    if notifiers and run_id is not None:
        _alert(result, run_id, notifiers[0], database)
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
        err.print(f"[red]error:[/red] alerts were not recorded: {escape(str(e))}")
        raise typer.Exit(int(ExitCode.FAILURE)) from None
    for line in report.lines():
        err.print(line, markup=False)


@app.command()
def report(
    path: PackageArg,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="The file to write (default: report.html, or with --summary "
        "summary.html / summary.pdf).")] = None,
    service: ServiceOpt = None,
    as_of: AsOfOpt = None,
    database: DatabaseOpt = None,
    store: StoreOpt = True,
    summary: Annotated[bool, typer.Option(
        "--summary", help="One page for the executive instead of the full report: value at "
        "risk and recovered, the ten largest leaks, the leak over the stored checks, coverage "
        "(docs/summary.md).")] = False,
    fmt: Annotated[str, typer.Option(
        "--format", "-f", help="html, or pdf (with --summary).")] = "html",
) -> None:
    """Write one self-contained HTML report (opens with no network), or with --summary the
    one-page summary as HTML or PDF. Exit codes as `check`."""
    from dipstick.report import write_report

    if fmt not in ("html", "pdf") or (fmt == "pdf" and not summary):
        err.print("[red]error:[/red] --format must be html, or pdf with --summary "
                  f"(not {fmt!r})")
        raise typer.Exit(int(ExitCode.BAD_INPUT))
    from dipstick.runs import stored_form_if_any

    started = datetime.now(UTC)

    def keep(package: Any, result: CheckResult) -> None:   # stored as ``check`` stores
        _store(result, database, started, "report " + " ".join(sys.argv[2:]),
               lambda: stored_form_if_any(package, result))

    result, _ = _run(path, _as_date(as_of), service, "table", database,
                     while_open=keep if store else None)
    if summary:
        written = _write_summary(result, output or Path(f"summary.{fmt}"), fmt, database)
        out.print(f"Summary written to [bold]{escape(str(written))}[/bold]")
    else:
        written = write_report(result, output or Path("report.html"))
        out.print(f"Report written to [bold]{escape(str(written))}[/bold]")
    raise typer.Exit(int(ExitCode.LEAK if result.has_leak else ExitCode.OK))


def _write_summary(result: CheckResult, output: Path, fmt: str, database: str | None) -> Path:
    """The summary of this check with the organisation's stored runs as its history (none
    when there is no app database yet: a summary never creates one)."""
    from dipstick.summary import build_summary
    from dipstick.summary.write import write_summary

    history: list[Any] = []
    actions: dict[Any, Any] | None = None
    ledger: dict[str, Any] | None = None
    try:
        from dipstick.digest import actions_of
        from dipstick.store import Store, sqlite_file_missing

        if not sqlite_file_missing(database):
            with Store.open(database) as db:
                db.migrate()
                history = list(db.runs(limit=520))
                # the actions as the latest stored run of this organisation sees them
                mine = [r for r in history if r.organisation == result.organisation]
                if mine:
                    actions, ledger = actions_of(db, mine[0].id)
    except DipstickError as e:
        err.print(f"[yellow]warning:[/yellow] no run history on the summary: "
                  f"{escape(str(e))}")
    try:
        return write_summary(build_summary(result, history, actions, ledger), output,
                             "pdf" if fmt == "pdf" else "html")
    except DipstickError as e:
        raise _fail(e, "table") from None


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
    serve: Annotated[bool, typer.Option(
        "--serve", help="Then serve the web app on http://127.0.0.1:8000/ (Ctrl-C stops).")]
    = False,
) -> None:
    """Write a synthetic demo organisation, check it and write its report; a demo admin user
    is (re)created for the web app with a fresh password. Exit 0 on success."""
    from dipstick import render
    from dipstick.demo import generate
    from dipstick.report import write_report

    if size not in ("default", "large"):
        err.print("[red]error:[/red] --size must be default or large")
        raise typer.Exit(int(ExitCode.BAD_INPUT))
    with _progress("Generating the demo organisation") as step:
        truth = generate(directory, seed=seed, size=size, progress=step)  # type: ignore[arg-type]
    out.print(f"Demo organisation written to [bold]{escape(str(directory))}[/bold] "
              f"({len(truth.leaks)} seeded leaks listed in ground_truth.json)")
    if not run:
        return
    from dipstick.runs import stored_form_if_any

    started = datetime.now(UTC)
    contexts: list[Any] = []   # built while the package is open: stored after the early run
    result, _ = _run(directory, None, None, "table",
                     while_open=lambda p, r: contexts.append(stored_form_if_any(p, r)))
    _demo_fixes(directory, result, database)   # an earlier check and its actions (the loop)
    _store(result, database, started, f"demo {directory}", lambda: contexts[0])
    render.print_check(out, result, 0)
    written = write_report(result, directory / "report.html")
    out.print(f"Report written to [bold]{escape(str(written))}[/bold]")
    email, password = _demo_user(database)
    how = "" if serve else f" (serve it: dipstick serve --package {escape(str(directory))})"
    out.print(f"Web app: [bold]http://127.0.0.1:8000/[/bold] — sign in as {email} with "
              f"password [bold]{password}[/bold]{how}")
    if serve:
        from dipstick.cli.web import serve as serve_app

        serve_app(database=database, package=directory)


DEMO_USER = "demo@dipstick.example"


def _demo_fixes(directory: Path, final: CheckResult, database: str | None) -> None:
    """Store the demo's earlier check and seed actions on its leaks (dipstick.demo.fixes): the
    final check, stored after this, re-measures them."""
    from dipstick.demo.fixes import early_as_of, plan
    from dipstick.store import Store
    from dipstick.store.actions import create_action, latest_by_leak, update_action

    started = datetime.now(UTC)
    early, _ = _run(directory, early_as_of(final.as_of), None, "table")
    run_id = _store(early, database, started, f"demo {directory} (the early check)")
    fixes = plan(early.to_json(), final.to_json())
    with Store.open(database) as store:
        # a second demo on the same database keeps the first one's actions: seeding them again
        # was a UsageError traceback (a leak takes one open action), and done ones twice would
        # count their recovery twice in the ledger
        taken = latest_by_leak(store, early.organisation)
        fixes = [f for f in fixes if (f.service_id, f.cause) not in taken]
        for fix in fixes:
            action = create_action(store, fix.service_id, fix.cause, DEMO_USER, due=fix.due,
                                   note=fix.note, run_id=run_id)
            update_action(store, action["id"], DEMO_USER, status=fix.status, on=fix.on,
                          reason=fix.reason)
    where = "(dipstick actions list; the ledger: dipstick actions ledger)"
    if fixes or not taken:
        out.print(f"Seeded {len(fixes)} action(s) on the leaks of the check as of "
                  f"{early.as_of} {where}")
    else:   # a second demo on this database: "Seeded 0 action(s)" read as if none existed
        out.print(f"Kept the {len(taken)} action(s) already on the demo's leaks from an earlier "
                  f"run; none seeded again {where}")


def _demo_user(database: str | None) -> tuple[str, str]:
    """The demo's admin with a fresh random password: printed once, stored only as a hash."""
    import secrets

    from dipstick.store import Store
    from dipstick.store.audit import Actor
    from dipstick.store.users import set_password

    password = secrets.token_urlsafe(12)
    with Store.open(database) as store:
        store.migrate()
        set_password(store, DEMO_USER, password, role="admin", name="Demo admin",
                     actor=Actor.cli())
    return DEMO_USER, password


@app.command()
def runs(
    database: DatabaseOpt = None,
    fmt: FormatOpt = "table",
    limit: Annotated[int, typer.Option(help="How many of the latest runs.")] = 20,
) -> None:
    """List the stored check runs, newest first (the history behind trends)."""
    from dipstick import render
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


def plain_setting(value: object) -> str:
    """A default as a reader writes it: ``watch ≥ 7 · leak ≥ 6``, ``60``, not a repr."""
    from dipstick.findings import Threshold

    if isinstance(value, Threshold):
        return value.describe()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(plain_setting(v) for v in value) or "none"
    return str(value)


@app.command()
def indicators(fmt: FormatOpt = "table") -> None:
    """List the leak indicators, what each asks and the remedy it points to."""
    from dipstick import render
    from dipstick.indicators.registry import INDICATORS

    _check_format(fmt)
    rows = [{"cause": i.cause, "title": i.title, "question": i.question, "action": i.action,
             "settings": {k: plain_setting(f.default) for k, f in i.spec.model_fields.items()}}
            for i in INDICATORS]
    if fmt == "json":
        _print_json(rows)
    else:
        out.print(render.indicators_table(rows))
