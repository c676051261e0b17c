"""``dipstick journeys``: customer journey maps, touchpoint by touchpoint, now against before.

The package loader, the indicators and Rich's tables are imported when the command runs, not
when the CLI starts (every command's start-up pays for what its module imports)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from dipstick.cli.app import (
    AsOfOpt,
    FormatOpt,
    PackageArg,
    _check_format,
    _fail,
    _print_json,
    app,
    out,
)
from dipstick.errors import DipstickError

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

    from dipstick.findings import Threshold
    from dipstick.indicators.customer_experience import CustomerExperienceSpec
    from dipstick.journeys import JourneyMeasures, MonthPoint

SPARKS = "▁▂▃▄▅▆▇█"


@app.command()
def journeys(path: PackageArg, fmt: FormatOpt = "table", as_of: AsOfOpt = None) -> None:
    """Show the customer journey maps of a package: per touchpoint its satisfaction and
    drop-off rate now against the baseline, and its monthly satisfaction."""
    from dipstick.findings import CommonSpec
    from dipstick.indicators.customer_experience import CustomerExperienceSpec
    from dipstick.indicators.registry import split_settings
    from dipstick.journeys import measure_journeys
    from dipstick.package import load_package

    _check_format(fmt)
    try:
        package = load_package(path)
    except DipstickError as e:
        raise _fail(e, fmt) from None
    try:
        model = package.model
        day = (as_of.date() if as_of else None) or model.organisation.as_of or package.latest \
            or date.today()
        common = split_settings(model.settings, CommonSpec)
        spec = split_settings(model.settings, CustomerExperienceSpec)
        measured = measure_journeys(model, package.signals, day, common.window_days,
                                    common.baseline_days)
    finally:
        package.close()
    if fmt == "json":
        _print_json([j.to_json() for j in measured])
        return
    if not measured:
        out.print("No customer journey in this package.")
    for j in measured:
        out.print(journey_table(j, spec))


def journey_table(j: JourneyMeasures, spec: CustomerExperienceSpec) -> Table:
    """One journey map in text. A value past the `customer_experience` watch level is amber,
    past its leak level red, so the table and the check agree on what is worrying."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    who = " · ".join(x for x in (j.persona, j.stakeholder_group) if x)
    table = Table(title=escape(f"{j.name} ({j.id})" + (f" — {who}" if who else "")),
                  header_style="bold", box=box.SIMPLE_HEAD,
                  caption=f"now {j.period} · baseline {j.baseline_period} · satisfaction 0–10, "
                          "drop-off = drop-offs ÷ visitors"
                          + ("" if j.has_data else "\nno touchpoint data for this journey"))
    for col, justify in (("Stage", "left"), ("Touchpoint", "left"), ("Services", "left"),
                         ("Satisfaction", "right"), ("Baseline", "right"), ("Change", "right"),
                         ("Drop-off", "right"), ("Baseline", "right"), ("Growth", "right"),
                         ("Visitors", "right"), ("By month", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for stage in j.stages:
        for k, t in enumerate(stage.touchpoints):
            drop = t.satisfaction_drop
            table.add_row(
                escape(stage.name) if k == 0 else "", escape(t.name),   # names as typed
                escape(", ".join(t.services)),
                _cue(t.satisfaction, f"{t.satisfaction:.1f}" if t.satisfaction is not None
                     else "–", spec.touchpoint_satisfaction),
                _fmt(t.baseline_satisfaction, ".1f"),
                _cue(drop, "–" if drop is None else f"{round(-drop, 1) + 0.0:+.1f}",
                     spec.touchpoint_satisfaction_drop),
                _fmt(t.drop_off_rate, ".1%"), _fmt(t.baseline_drop_off_rate, ".1%"),
                _cue(t.drop_off_growth, "–" if t.drop_off_growth is None
                     else f"{t.drop_off_growth:.2f}×", spec.drop_off_growth),
                _fmt(t.visitors, ",.0f"), _spark(t.months))
    return table


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _cue(value: float | None, text: str, threshold: Threshold) -> Text:
    from rich.text import Text

    from dipstick.findings import Status
    from dipstick.render import STYLE

    if value is None:
        return Text(text, style=STYLE[Status.UNKNOWN])
    status, _ = threshold.grade(value)
    return Text(text, style=STYLE[status] if status is not Status.OK else "")


def _spark(months: tuple[MonthPoint, ...]) -> str:
    """Monthly mean satisfaction on the fixed 0–10 scale (a gap for a month without ratings):
    a fixed scale, so a flat line is a flat line and not noise blown up to full height."""
    return "".join(" " if m.satisfaction is None
                   else SPARKS[min(7, max(0, round(m.satisfaction / 10 * 7)))] for m in months)
