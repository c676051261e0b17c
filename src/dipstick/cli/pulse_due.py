"""``dipstick pulse overdue`` and ``dipstick pulse due``: who was not asked for too long, and
the scheduled check-ins whose day has come — the commands cron runs (split from
:mod:`dipstick.cli.pulse`, whose ``pulse`` group they join)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from dipstick.cli.app import (
    DatabaseOpt,
    FormatOpt,
    _check_format,
    _fail,
    _print_json,
    err,
    open_store,
    out,
    sane_day,
)
from dipstick.cli.pulse import PackageOpt, _model, _package, app
from dipstick.errors import DipstickError, ExitCode, UsageError


@app.command()
def overdue(
    package: PackageOpt = None,
    alert: Annotated[bool, typer.Option(
        "--alert", help="Notify the `alerts:` targets of pairs newly overdue.")] = False,
    database: DatabaseOpt = None,
    fmt: FormatOpt = "table",
) -> None:
    """Service × group pairs not asked for longer than checkin_max_age_days (last asked:
    the latest survey answer or check-in started). Exit 1 when any is overdue."""
    from dipstick.findings import CommonSpec
    from dipstick.indicators.registry import split_settings
    from dipstick.package import load_package
    from dipstick.pulse.campaigns import last_asked
    from dipstick.pulse.overdue import alert_overdue, checkins, survey_dates
    from dipstick.pulse.overdue import overdue as late_pairs

    _check_format(fmt)
    today = datetime.now(UTC).date()
    with open_store(database, fmt) as store:
        try:
            path = _package(store, package)
            loaded = load_package(path)
            try:
                model = loaded.model
                surveyed = survey_dates(loaded.signals)
            finally:
                loaded.close()
            max_age = split_settings(model.settings, CommonSpec).checkin_max_age_days
            pairs = checkins(model, surveyed, last_asked(store, model.organisation.name), today)
            if not pairs:   # nothing judged is not an all-clear
                raise UsageError(
                    f"nothing to judge: no live service of {path} has a consuming stakeholder "
                    "group (services[].consumers)"
                    + ("; it is the latest stored check's package: --package names another"
                       if package is None else ""))
            late = late_pairs(pairs, max_age)
            report = None
            if alert:
                from dipstick.cli.commands import _notifiers

                runs = store.runs(limit=1)
                if not runs:
                    raise UsageError("--alert needs a stored check (alerts name their run)")
                report = alert_overdue(store, runs[0].id, model.organisation.name, late,
                                       _notifiers(model.alerts, fmt), max_age, today)
        except DipstickError as e:
            raise _fail(e, fmt) from None
    rows: list[dict[str, Any]] = [
            {"service": p.service_id, "service_name": p.service_name, "owner": p.owner,
             "group": p.group, "group_name": p.group_name,
             "last_asked": p.last_asked.isoformat() if p.last_asked else None,
             "days": p.days} for p in late]
    if fmt == "json":
        _print_json({"max_age_days": max_age, "as_of": today.isoformat(), "overdue": rows})
    else:
        table = Table(title=f"Overdue check-ins today, {today} (not asked for more than "
                            f"{max_age} days)", box=box.SIMPLE_HEAD,
                      caption=f"{len(pairs)} service × group pairs of {escape(str(path))} "
                              f"judged; {len(late)} overdue")
        for col in ("Service", "Group", "Owner", "Last asked", "Days", "Start one"):
            table.add_column(col, overflow="fold")
        for r in rows:
            start = f"dipstick pulse start {r['service']} --group {r['group']}"
            table.add_row(*map(escape, (   # names from the data, printed as typed
                r["service_name"], r["group_name"], r["owner"] or "—",
                r["last_asked"] or "never", str(r["days"] or "—"), start)))
        out.print(table)
    if report is not None:
        for line in report.lines():
            err.print(line.replace("new leak(s), 0 resolved", "newly overdue"), markup=False)
    raise typer.Exit(int(ExitCode.LEAK if late else ExitCode.OK))


@app.command()
def due(database: DatabaseOpt = None, fmt: FormatOpt = "table",
        today: Annotated[datetime | None, typer.Option(
            formats=["%Y-%m-%d"], callback=sane_day,
            help="As of this date (default: today).")] = None) -> None:
    """Open the scheduled check-ins whose date has come (run it daily, e.g. from cron)."""
    from dipstick.pulse.schedules import open_due

    _check_format(fmt)
    day: date = today.date() if today else datetime.now(UTC).date()
    with open_store(database, fmt) as store:
        try:
            opened = open_due(store, lambda pkg: _model(
                store, Path(pkg) if pkg else None)[0], day)
        except DipstickError as e:
            raise _fail(e, fmt) from None
    if fmt == "json":
        _print_json({"opened": [c.id for c in opened]})
    else:
        out.print(f"{len(opened)} scheduled check-in(s) opened"
                  + "".join(f"\n  #{c.id} {c.service_id}: {', '.join(c.groups)} until "
                            f"{c.closes_on}" for c in opened), markup=False)
