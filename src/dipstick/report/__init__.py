"""The self-contained HTML report: one file that opens on an air-gapped server.

Everything the page needs travels inside it: the CSS, a few lines of vanilla JavaScript and the
plotly.js bundle from the installed Plotly wheel, embedded exactly once. Nothing is fetched, so
the report reads the same in a browser with no network, in an e-mail attachment or in an archive
years later. All user-provided text goes through Jinja2 autoescaping; the figures come from
:mod:`dipstick.figures`, shared with the web app.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from dipstick.check import CheckResult, ServiceVerdict
from dipstick.figures import (
    HEATMAP_LIMIT,
    JOURNEYS_LIMIT,
    LEAK_BARS_LIMIT,
    STATUS_COLOURS,
    TRENDS_LIMIT,
    cause_title,
    journey_figure,
    journeys_to_draw,
    json_island,
    leak_bars,
    leaking_verdicts,
    process_map_figure,
    status_heatmap,
    trend_figure,
    vsm_figure,
    worst_first,
)
from dipstick.files import require_folder, write_atomic
from dipstick.findings import Status
from dipstick.indicators.registry import INDICATORS

__all__ = ["render_report", "write_report"]

#: How the portfolio total is computed, stated on the page next to it.
TOTAL_RULE = ("Sum over services of the largest leaking cause's estimate; causes are not added "
              "because they may count the same money twice.")

#: Plotly's own marker for its bundle; lets tests and readers check it is embedded once.
PLOTLY_MARKER = "* plotly.js v"


@dataclass(frozen=True)
class _Figure:
    """A figure as the template embeds it: a JSON island plus what was left out."""

    json: Markup
    shown: int
    total: int


def render_report(result: CheckResult) -> str:
    """The whole report as one HTML string (about 5 MB, mostly plotly.js)."""
    ordered = worst_first(result.verdicts)
    heat = status_heatmap(result)
    bars = leak_bars(result)
    leaking = leaking_verdicts(result)
    return _env().get_template("report.html.j2").render(
        r=result,
        Status=Status,
        statuses=[Status.LEAK, Status.WATCH, Status.UNKNOWN, Status.OK],
        colours={s.value: c for s, c in STATUS_COLOURS.items()},
        total_rule=TOTAL_RULE,
        attention=[v for v in ordered if v.status is not Status.OK],
        healthy=[v for v in ordered if v.status is Status.OK],
        heatmap=_Figure(json_island(heat), min(len(ordered), HEATMAP_LIMIT), len(ordered)),
        bars=_Figure(json_island(bars), min(len(leaking), LEAK_BARS_LIMIT), len(leaking)),
        unpriced=sum(1 for v in ordered if v.status is Status.LEAK and v.leak.money <= 0),
        indicators=INDICATORS,
        trends=_trends(result, ordered),
        streams=[json_island(vsm_figure(m)) for m in result.streams],
        processes=[json_island(process_map_figure(d, m.name)) for m, d in result.processes],
        journeys=[(j, json_island(journey_figure(j))) for j in journeys_to_draw(result.journeys)],
        journeys_total=len(result.journeys),
        journeys_limit=JOURNEYS_LIMIT,
        trends_shown=min(len(result.trends), TRENDS_LIMIT),
        plotlyjs=_plotlyjs(),
        version=_version(),
    )


def _trends(result: CheckResult, ordered: list[ServiceVerdict]) -> dict[tuple[str, str], Markup]:
    """Trend charts of the leaking signals, largest leaks first, at most TRENDS_LIMIT (each
    costs ~15 KB of JSON; a 2,000-service organisation would otherwise make a 50 MB file)."""
    out: dict[tuple[str, str], Markup] = {}
    for v in ordered:
        for f in v.findings:
            trend = result.trends.get((v.service.id, f.cause))
            if trend is not None and len(out) < TRENDS_LIMIT:
                title = f"{v.service.name}: {trend.label}"
                out[(v.service.id, f.cause)] = json_island(trend_figure(trend, title))
    return out


def write_report(result: CheckResult, path: str | os.PathLike[str]) -> Path:
    """Render, then write atomically: a temp file in the target folder moved into place, so a
    failed or interrupted write never leaves a half report (or clobbers the previous one)."""
    target = Path(path)
    require_folder(target, "report")
    return write_atomic(target, render_report(result).encode("utf-8"))


@cache
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("dipstick.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=_num, qty=_qty, money=_money, hours=_hours, cause_title=cause_title,
                       action=_action)
    env.globals.update(anchor=_anchor, cause_question=_question)
    return env


@cache
def _plotlyjs() -> Markup:
    """The bundle, made safe to sit inside a ``<script>`` element."""
    js: str = get_plotlyjs()
    return Markup(js.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT"))


def _version() -> str:
    try:
        return version("dipstick")
    except PackageNotFoundError:  # running from a source tree
        return "dev"


def _anchor(v: ServiceVerdict) -> str:
    """A stable, URL-safe anchor for a service, whatever characters its id contains."""
    sid = v.service.id
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in sid)
    return f"svc-{safe}" if safe == sid else f"svc-{safe}-{zlib.crc32(sid.encode()):08x}"


def _question(cause: str) -> str:
    return next((i.question for i in INDICATORS if i.cause == cause), "")


def _action(text: str, cause: str) -> str:
    """The finding's own action, else the indicator's general remedy."""
    return text or next((i.action for i in INDICATORS if i.cause == cause), "")


def _num(value: float | str | None) -> str:
    """Numbers as people read them: thousands separated, no needless decimals."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    mag = abs(value)
    digits = 0 if mag >= 100 or value == int(value) else 1 if mag >= 10 else 2 if mag >= 0.01 else 4
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _qty(value: float | str | None, unit: str) -> str:
    """A value with its unit; symbols such as ``%`` stick to the number, words do not."""
    if value is None or not unit:
        return _num(value)
    glue = "" if not unit[0].isalpha() else " "
    return f"{_num(value)}{glue}{unit}"


def _money(value: float, currency: str) -> str:
    return f"{value:,.0f} {currency}"


def _hours(value: float) -> str:
    return f"{value:,.0f} h"
