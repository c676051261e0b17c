"""The lights in the terminal: a table that fits the console (80 columns: the main cause per
service; wide: a light per cause), then the episodes, coverage and legend. Text from data goes
in escaped (``rich.markup.escape``) or as ``Text``: Rich would read ``[...]`` as markup."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from dipstick.check import CheckResult, ServiceVerdict
from dipstick.findings import Finding, Status
from dipstick.indicators.registry import INDICATORS

STYLE = {Status.LEAK: "bold red", Status.WATCH: "yellow", Status.OK: "green",
         Status.UNKNOWN: "grey50", Status.NA: "dim"}
# n/a (the cause cannot apply) is a dash, unknown (should apply, no data) a hollow light
GLYPH = {Status.LEAK: "●", Status.WATCH: "●", Status.OK: "●", Status.UNKNOWN: "○",
         Status.NA: "–"}
# without colour (piped, NO_COLOR) three same dots would say nothing: a shape per light
PLAIN_GLYPH = {Status.LEAK: "✖", Status.WATCH: "▲", Status.OK: "✓", Status.UNKNOWN: "○",
               Status.NA: "–"}
SHORT = {"perception": "Per", "training": "Trn", "change": "Chg", "retirement": "Ret",
         "employee_experience": "EmX", "customer_experience": "CuX", "alignment": "Aln",
         "flow": "Flw"}
# the main cause in the compact table: words, short enough for 80 columns
WORDS = {"employee_experience": "employee exp", "customer_experience": "customer exp"}
# the full table (a light per cause) only when its action column gets this many characters
MIN_ACTION = 12


# a self-assessed light (no data yet, the owner's answers): a letter, not the measured dot
SELF_GLYPH = "S"


def plural(n: int, word: str) -> str:
    """``1 service``, ``40 services``: never "service(s)"."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def light(status: Status, text: str | None = None, plain: bool = False) -> Text:
    """A light in its colour; ``plain`` (no colour to tell them apart): a shape per status."""
    glyph = (PLAIN_GLYPH if plain else GLYPH)[status]
    return Text(f"{glyph} {text}" if text else glyph, style=STYLE[status])


def plain(console: Console) -> bool:
    """True when the console shows no colour, so the lights need shapes."""
    return console.no_color or console.color_system is None


def cause_light(f: Finding, plain: bool = False) -> Text:
    """A cause's cell: its light, or ``S`` in the light's colour when self-assessed."""
    return (Text(SELF_GLYPH, style=STYLE[f.status]) if f.self_assessed
            else light(f.status, plain=plain))


def main_finding(v: ServiceVerdict) -> Finding | None:
    """The cause a reader acts on: the largest leaking root, else the worst watch."""
    if v.leak_cause:
        return v.finding(v.leak_cause)
    watching = [f for f in v.findings if f.status is Status.WATCH and f.symptom_of is None]
    return max(watching, key=lambda f: f.score) if watching else None


def short_action(f: Finding | None) -> str:
    """The remedy's verb phrase ("Retire or consolidate"), the part before its colon."""
    return f.action.split(":", 1)[0] if f and f.action else ""


def print_check(console: Console, result: CheckResult, limit: int = 0,
                wide: bool = False) -> None:
    """The lights table: a light per cause when the console is wide enough (or ``wide``),
    else a compact one (light, service, main cause, money, since, action) that fits 80
    columns; then the episodes, coverage and the legend."""
    shown = result.verdicts if limit <= 0 else result.verdicts[:limit]
    shapes = plain(console)
    if wide:
        # wider than the console on purpose (the terminal wraps or scrolls it): everything
        table = _full_table(result, shown, shapes, None)
        before, console.width = console.width, max(console.width, _natural(console, table))
        try:
            console.print(table)
        finally:
            console.width = before
        _print_notes(console, result, shown, shapes, True)
        return
    # a light per cause when it fits with at least a short action, else the compact table
    room = console.width - _natural(console, _full_table(result, shown, shapes, 0)) - 3
    full = room >= MIN_ACTION
    console.print(_full_table(result, shown, shapes, room) if full
                  else _compact_table(result, shown, shapes, console.width))
    _print_notes(console, result, shown, shapes, full)


def _natural(console: Console, table: Table) -> int:
    """The width a table takes when nothing limits it."""
    return Measurement.get(console, console.options.update_width(10_000), table).maximum


def _table(result: CheckResult) -> Table:
    return Table(title=escape(f"{result.organisation} — value leakage as of {result.as_of}"),
                 caption=f"current window {result.window.period}, baseline "
                         f"{result.window.baseline_period}",
                 header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)


def _money(x: float) -> str:
    return f"{x:,.0f}" if x else "–"


def _full_table(result: CheckResult, shown: Sequence[ServiceVerdict], shapes: bool,
                action: int | None) -> Table:
    """A light per cause; ``action``: the action column's width (``None``: all of it, the
    other columns uncut too; 0: no action column, to measure the rest)."""
    wide = action is None
    table = _table(result)
    table.add_column("", no_wrap=True)
    table.add_column("Service", overflow="ellipsis", no_wrap=True, min_width=14,
                     max_width=None if wide else 30)
    for ind in INDICATORS:
        table.add_column(SHORT.get(ind.cause, ind.cause), justify="center", no_wrap=True)
    table.add_column(escape(f"{result.currency}/month"), justify="right", no_wrap=True)
    table.add_column("h/month", justify="right", no_wrap=True)
    table.add_column("Main cause", no_wrap=True, overflow="ellipsis",
                     max_width=None if wide else 20)
    table.add_column("Since", no_wrap=True)
    if action != 0:
        table.add_column("Action", no_wrap=True, overflow="ellipsis", max_width=action)
    for v in shown:
        main = main_finding(v)
        table.add_row(
            light(v.status, plain=shapes), escape(v.service.name),
            *(cause_light(f, shapes) for f in v.findings),
            _money(v.leak.money), _money(v.leak.hours), v.leak_cause or "",
            v.since.isoformat() if v.since else "",
            *([] if action == 0 else [escape(main.action if wide else short_action(main))
                                      if main else ""]))
    table.add_section()
    table.add_row("", Text("Total", style="bold"), *("" for _ in INDICATORS),
                  Text(f"{result.leak_money:,.0f}", style="bold"),
                  Text(f"{result.leak_hours:,.0f}", style="bold"), "", "",
                  *([] if action == 0 else [""]))
    return table


def _compact_table(result: CheckResult, shown: Sequence[ServiceVerdict], shapes: bool,
                   width: int) -> Table:
    """What to act on in 80 columns: the service's light and its main cause, not a light
    per cause (``--wide`` shows them)."""
    table = _table(result)
    money = max([len(_money(v.leak.money)) for v in shown]
                + [len(f"{result.leak_money:,.0f}"), len(f"{result.currency}/month")])
    # light, cause and since keep their width; the service and the action give way
    # (six columns: two edges and five gaps of three characters)
    service = min(24, max(10, (width - 1 - 12 - money - 10 - 17) // 2))
    action = max(6, width - 1 - service - 12 - money - 10 - 17)
    table.add_column("", no_wrap=True, min_width=1)
    table.add_column("Service", overflow="ellipsis", no_wrap=True, max_width=service)
    table.add_column("Main cause", no_wrap=True, overflow="ellipsis", min_width=12,
                     max_width=12)
    table.add_column(escape(f"{result.currency}/month"), justify="right", no_wrap=True,
                     min_width=money)
    table.add_column("Since", no_wrap=True, min_width=10)
    table.add_column("Action", no_wrap=True, overflow="ellipsis", max_width=action)
    for v in shown:
        main = main_finding(v)
        cause = Text(WORDS.get(main.cause, main.cause),
                     style="" if main.status is Status.LEAK else "dim") if main else ""
        table.add_row(light(v.status, plain=shapes), escape(v.service.name), cause,
                      _money(v.leak.money), v.since.isoformat() if v.since else "",
                      escape(short_action(main)))
    table.add_section()
    table.add_row("", Text("Total", style="bold"), "",
                  Text(f"{result.leak_money:,.0f}", style="bold"), "", "")
    return table


def _print_notes(console: Console, result: CheckResult, shown: Sequence[ServiceVerdict],
                 shapes: bool, full: bool) -> None:
    cur = result.currency
    stories = [Text.assemble(light(Status.LEAK, v.service.name, shapes), f" — {e.story}",
                             (f" (explains {', '.join(e.symptoms)})" if e.symptoms else "",
                              "dim"))
               for v in shown for e in v.episodes if e.symptoms or e.change]
    if stories:
        console.print(Text("One event, one leak: the symptoms (watch) are counted in the "
                           "root's leak", style="bold"), *stories)
    if len(shown) < len(result.verdicts):
        console.print(f"… and {len(result.verdicts) - len(shown)} more services "
                      "(--limit 0 shows all, --format json gives everything)")
    console.print(coverage_lines(result))
    unpriced = sum(1 for v in result.verdicts
                   if v.status is Status.LEAK and not v.leak.money and not v.leak.hours)
    console.print(Group(
        Text.assemble(*[t for s in (Status.LEAK, Status.WATCH, Status.OK, Status.UNKNOWN)
                        for t in (light(s, f"{result.count(s)} {s.value}", shapes),
                                  Text("   "))]),
        Text(f"Leak per month: {result.leak_money:,.0f} {cur} and {result.leak_hours:,.0f} h "
             f"— per service the largest leaking cause's estimate (causes may overlap, so they "
             f"are not added); formulas in --format json, the report and docs/indicators.md."
             + (f" {plural(unpriced, 'leaking service')} not priced: the data has no cost or "
                "lost time for them (their formula says what is missing)." if unpriced else ""),
             style="dim"),
        Text(("Causes: " + ", ".join(f"{SHORT[i.cause]} = {i.cause}" for i in INDICATORS)
              + f". {GLYPH[Status.UNKNOWN]} unknown: no data (unknown is not green); "
              f"{GLYPH[Status.NA]} n/a: the cause cannot apply"
              + (f"; {SELF_GLYPH} self-assessed: the owner's answers, no data yet (no money "
                 "estimate; measured data replaces it)." if _self_assessed(result) else "."))
             if full else "Narrow console: the main cause per service; --wide shows a light "
             "per cause, the hours and the whole action.", style="dim"),
    ))


def coverage_lines(result: CheckResult) -> Group:
    """What the check judged: the as-of date and why, then each table's window and baseline,
    thin periods in yellow (coverage.py)."""
    lines = [Text.assemble(("As of ", "bold"), (str(result.as_of), "bold"),
                           f": {result.as_of_reason}." if result.as_of_reason else "")]
    for c in result.coverage:
        weeks = (f" ({c.window_weeks[0]}/{c.window_weeks[1]} weeks complete)"
                 if c.window_weeks[1] else "")
        lines.append(Text.assemble(f"  {c.table}: window {c.window}{weeks}; baseline "
                                   f"{c.baseline}", style="dim"))
        for thin in (c.thin_window, c.thin_baseline):
            if thin:
                lines.append(Text(f"    {thin}", style="yellow"))
    return Group(*lines)


def _self_assessed(result: CheckResult) -> bool:
    return any(f.self_assessed for v in result.verdicts for f in v.findings)
