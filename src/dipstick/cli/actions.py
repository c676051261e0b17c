"""``dipstick actions``: act on leaks and see whether it worked (docs/actions.md).

Thin edges over :mod:`dipstick.store.actions` (the web and the API call the same functions).
Exit codes: 0 done, 2 bad input (an unknown action, a move the loop forbids; nothing changed),
3 the database could not be reached.
"""

from __future__ import annotations

from datetime import date, datetime
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
    open_store,
    out,
    sane_day,
)
from dipstick.cli.app import app as root
from dipstick.errors import DipstickError, UsageError

app = typer.Typer(name="actions", no_args_is_help=True, rich_markup_mode="rich",
                  help="Actions on leaks: owner, due date, expected saving, status; what a done "
                  "action recovered; the portfolio ledger.")
root.add_typer(app)

DateOpt = Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"], callback=sane_day)]
ById = Annotated[int, typer.Argument(help="The action's number (dipstick actions list).")]
ByOpt = Annotated[str, typer.Option("--by", help="Who makes the change (kept in the history).")]


def _status(value: str | None) -> str | None:
    """``in-progress`` and ``in_progress`` are ``in progress`` on a command line."""
    from dipstick.actions import STATUSES

    if value is None:
        return None
    norm = value.strip().lower().replace("-", " ").replace("_", " ")
    if norm not in STATUSES:
        raise UsageError(f"--status must be one of {', '.join(STATUSES)}, not {value!r}")
    return norm


def _day(v: datetime | None) -> date | None:
    return v.date() if v else None


@app.command("list")
def list_(database: DatabaseOpt = None, fmt: FormatOpt = "table",
          service: Annotated[str | None, typer.Option(help="Only this service id.")] = None,
          status: Annotated[str | None, typer.Option(help="Only this status.")] = None) -> None:
    """List the actions, newest first, with what each done one recovered."""
    from dipstick.store.actions import list_actions

    _check_format(fmt)
    with open_store(database, fmt) as store:
        try:
            rows = list_actions(store, service_id=service, status=_status(status))
        except DipstickError as e:
            raise _fail(e, fmt) from None
    if fmt == "json":
        _print_json(rows)
    else:
        out.print(_table(rows))


@app.command()
def add(service: Annotated[str, typer.Argument(help="The leaking service's id.")],
        cause: Annotated[str, typer.Argument(help="The leak's root cause.")],
        database: DatabaseOpt = None, fmt: FormatOpt = "table",
        owner: Annotated[str | None, typer.Option(help="Who acts (default: the service's "
                                                       "owner).")] = None,
        due: DateOpt = None, note: Annotated[str | None, typer.Option()] = None,
        run: Annotated[int | None, typer.Option(help="The run the leak is read from "
                                                     "(default: the latest).")] = None,
        by: ByOpt = "cli") -> None:
    """Give a leak (a service's root cause at leak) an action, status proposed; its expected
    saving is the leak's estimate with its range."""
    from dipstick.store.actions import create_action
    from dipstick.store.audit import Actor

    _check_format(fmt)
    with open_store(database, fmt) as store:
        try:
            action = create_action(store, service, cause, by, owner=owner, due=_day(due),
                                   note=note, run_id=run, actor=Actor.cli())
        except DipstickError as e:
            raise _fail(e, fmt) from None
    _show(action, fmt)


@app.command("set")
def set_(action_id: ById, database: DatabaseOpt = None, fmt: FormatOpt = "table",
         status: Annotated[str | None, typer.Option(
             help="proposed, in-progress, done or dismissed.")] = None,
         on: Annotated[datetime | None, typer.Option(
             "--on", formats=["%Y-%m-%d"], callback=sane_day,
             help="The done or dismissal date (default: today).")] = None,
         reason: Annotated[str | None, typer.Option(help="Why dismissed (required).")] = None,
         owner: Annotated[str | None, typer.Option()] = None, due: DateOpt = None,
         note: Annotated[str | None, typer.Option()] = None, by: ByOpt = "cli") -> None:
    """Change an action's status, owner, due date or note; the change is kept in its history."""
    from dipstick.store.actions import update_action
    from dipstick.store.audit import Actor

    _check_format(fmt)
    with open_store(database, fmt) as store:
        try:
            action = update_action(store, action_id, by, status=_status(status), on=_day(on),
                                   owner=owner, due=_day(due), reason=reason, note=note,
                                   actor=Actor.cli())
        except DipstickError as e:
            raise _fail(e, fmt) from None
    _show(action, fmt)


@app.command()
def show(action_id: ById, database: DatabaseOpt = None, fmt: FormatOpt = "table") -> None:
    """One action: its leak, expected saving, status, recovery and history."""
    from dipstick.store.actions import get_action

    _check_format(fmt)
    with open_store(database, fmt) as store:
        try:
            action = get_action(store, action_id)
        except DipstickError as e:
            raise _fail(e, fmt) from None
    _show(action, fmt)


@app.command()
def ledger(database: DatabaseOpt = None, fmt: FormatOpt = "table",
           organisation: Annotated[str | None, typer.Option(
               help="Default: the latest run's organisation.")] = None) -> None:
    """Per stored run: value at risk, value recovered (with its range) and open actions."""
    from dipstick.store.actions import ledger as read

    _check_format(fmt)
    with open_store(database, fmt) as store:
        doc = read(store, organisation)
    if fmt == "json":
        _print_json(doc)
        return
    cur = doc["currency"] or ""
    table = Table(title=f"Ledger: {doc['organisation'] or 'no run stored'}", box=box.SIMPLE_HEAD)
    for col in ("As of", "Run", f"Value at risk ({cur}/month)",
                f"Value recovered ({cur}/month)", "Open actions"):
        table.add_column(col, justify="right" if "(" in col or col == "Open actions" else "left")
    for r in doc["rows"]:
        v = r["value_recovered"]
        table.add_row(r["as_of"], f"#{r['run_id']}", f"{r['value_at_risk']:,.0f}",
                      f"{v['money']:,.0f} ({v['low']:,.0f}–{v['high']:,.0f})",
                      str(r["open_actions"]))
    out.print(table)
    for name, formula in doc["formulas"].items():
        out.print(f"{name.replace('_', ' ')} = {formula}", markup=False, style="dim")


def _money(v: Any) -> str:
    return "–" if v is None else f"{v:,.0f}"


def _recovery(a: dict[str, Any]) -> str:
    rec = a.get("recovery")
    if rec is None:
        return ""
    if rec["state"] == "recovered":
        return f"recovered {_money(rec['money'])} ({_money(rec['low'])}–{_money(rec['high'])})"
    return f"{rec['state']}: {rec['reason']}"


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Actions (newest first)", box=box.SIMPLE_HEAD, header_style="bold")
    for col in ("#", "Service", "Cause", "Owner", "Due", "Status", "Expected / month",
                "Did it work?"):
        table.add_column(col, overflow="fold")
    for a in rows:
        e = a["expected"]
        low, high = (e[k] if e[k] is not None else e["money"] for k in ("low", "high"))
        table.add_row(*map(escape, (   # typed by people (owner, reason): printed as typed
            str(a["id"]), a["service_id"], a["cause"], a["owner"], a["due"] or "",
            a["status"] + (f" ({a['reason']})" if a["reason"] else ""),
            f"{_money(e['money'])} ({_money(low)}–{_money(high)})", _recovery(a))))
    return table


def _show(a: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        _print_json(a)
        return
    out.print(_table([a]))
    out.print(f"expected = the leak's estimate when the action was created (run "
              f"#{a['run_id']}, as of {a['expected']['as_of']}): {a['expected']['formula']}",
              markup=False, style="dim")
    if a.get("recovery"):
        out.print(a["recovery"]["formula"], markup=False, style="dim")
    for h in a.get("history", []):
        what = ", ".join(f"{k}: {v[0]} → {v[1]}" for k, v in h["changes"].items())
        out.print(f"{h['at'][:16].replace('T', ' ')} {h['by']}: {what}"
                  + (f" — {h['note']}" if h["note"] else ""), markup=False)
