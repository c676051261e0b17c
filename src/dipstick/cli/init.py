"""``dipstick init PACKAGE``: a starter value model from what was imported, and what to add next.

A thin edge over :mod:`dipstick.package.starter` (the model) and
:mod:`dipstick.package.nextsteps` (the ranked list and the money in sight); see docs/init.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from dipstick.cli.app import FormatOpt, PackageArg, _check_format, _fail, _print_json, app, out
from dipstick.defaults import DEFAULT_LOST_SHARE
from dipstick.errors import DipstickError, PackageError, Problem, UsageError

if TYPE_CHECKING:   # imported where used: start-up stays light (tests/test_startup.py)
    from dipstick.package import Package
    from dipstick.package.nextsteps import Estimate, NextStep
    from dipstick.package.starter import Starter


@app.command()
def init(
    path: PackageArg,
    force: Annotated[bool, typer.Option(
        "--force", help="Add the missing entries to a dipstick.yaml that holds more than an "
                        "import wrote (everything in it is kept).")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Show what would be written and the list; write nothing.")] = False,
    lost_share: Annotated[float, typer.Option(
        "--lost-share", help="Assumed share of the time a ticket is open that its requester "
                             "cannot work (prices lost time when tickets carry no "
                             "lost_minutes).")] = DEFAULT_LOST_SHARE,
    fmt: FormatOpt = "table",
) -> None:
    """Write a starter dipstick.yaml from the package's tables (services, groups, outcomes
    they name; TODO placeholders for the rest), then list what to add next, what each addition
    unlocks, and the money already in sight. Exit 0 done, 2 bad input or a dipstick.yaml with
    your own content and no --force (nothing written)."""
    import yaml

    from dipstick.package import MODEL_FILE, load_package
    from dipstick.package.nextsteps import estimates, facts_of, next_steps
    from dipstick.package.starter import found_in, starter_text, write_model

    _check_format(fmt)
    try:
        if not 0 < lost_share <= 1:
            raise UsageError(f"--lost-share must be in (0, 1], not {lost_share:g}")
        if not path.is_dir():
            raise UsageError(f"{path} is not a folder (a data package is a folder; "
                             "`dipstick import … --into` creates one)")
        file = path / MODEL_FILE
        text = file.read_text(encoding="utf-8-sig") if file.is_file() else None
        try:
            starter = starter_text(text, found_in(path), path.resolve().name)
        except yaml.YAMLError as e:
            raise PackageError([Problem(MODEL_FILE, f"is not valid YAML: {e}")]) from None
        if starter.text is not None and text is not None and not starter.imported_only \
                and not force:
            raise UsageError(f"{file} holds more than an import wrote, so init will not change "
                             f"it on its own; it would add {_added(starter)}. Run again with "
                             "--force to add them (everything in the file is kept).")
        package = load_package(path) if starter.text is None else \
            write_model(path, starter.text, dry_run)
        try:
            facts = facts_of(package)
            steps = next_steps(package.model, facts)
            money = estimates(package.model, facts, lost_share)
        finally:
            package.close()
    except DipstickError as e:
        raise _fail(e, fmt) from None
    written = starter.text is not None and not dry_run
    if fmt == "json":
        _print_json({"package": str(path), "model_file": str(file), "written": written,
                     "dry_run": dry_run, "added": {k: list(v) for k, v in starter.added.items()},
                     "placeholder_group": starter.placeholder_group,
                     "services": len(package.model.services),
                     "next_steps": [s.to_json() for s in steps],
                     "estimates": [e.to_json() for e in money]})
        return
    _print(path, file, starter, written, dry_run, package, steps, money)


def _added(s: Starter) -> str:
    return "; ".join(f"{len(ids)} {key.replace('_', ' ')} ({', '.join(ids[:3])}"
                     f"{' …' if len(ids) > 3 else ''})" for key, ids in s.added.items()) \
        or "nothing"


def _print(path: Path, file: Path, starter: Starter, written: bool, dry_run: bool,
           package: Package, steps: list[NextStep], money: list[Estimate]) -> None:
    if written:
        out.print(f"Wrote [bold]{escape(str(file))}[/bold]: {len(package.model.services)} "
                  f"services, added {escape(_added(starter))}. Fill in its TODOs; "
                  f"`dipstick check {escape(str(path))}` runs on it now.")
    elif dry_run and starter.text is not None:
        out.print(f"[bold]--dry-run[/bold]: would write {escape(str(file))}, adding "
                  f"{escape(_added(starter))}:")
        out.print(starter.text, markup=False, highlight=False)
    else:
        out.print(f"{file} already names everything the tables do; nothing written.",
                  markup=False)
    if starter.placeholder_group:
        out.print("No table names a requester group: one group, [bold]all-users[/bold], "
                  "stands in until you name the real ones.")
    out.print(steps_table(steps))
    if money:
        out.print(money_table(money))


def steps_table(steps: list[NextStep]) -> Table:
    t = Table(title="What to add next (most unlocked first)", title_justify="left")
    for col in ("#", "add", "services", "groups", "unlocks", "why"):
        t.add_column(col, justify="right" if col in ("#", "services", "groups") else "left")
    for i, s in enumerate(steps, 1):
        unlocks = ", ".join(s.unlocks) + (" + money" if s.money else "") or "—"
        t.add_row(*map(escape, (str(i), s.add, str(len(s.services)), str(len(s.groups)),
                                unlocks, s.why)))   # names from the exports, as typed
    return t


def money_table(money: list[Estimate]) -> Table:
    t = Table(title="Money already in sight (a month)", title_justify="left")
    for col in ("what", "per month", "hours", "formula", "assumption"):
        t.add_column(col, justify="right" if col in ("per month", "hours") else "left")
    for e in money:
        t.add_row(*map(escape, (e.label, f"{e.monthly:,.0f} {e.currency}",
                                f"{e.hours:,.0f}" if e.hours else "—", e.formula,
                                e.assumption)))
    return t
