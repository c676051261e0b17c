"""What the figures share: the status colours, the worst-first order and safe hover text.

Plotly renders a subset of HTML (links included) in every text it draws: labels, hover text,
``customdata`` a hover template shows, tick text, annotations, titles, legend names — *and the
category values of an axis*, which ``%{x}``/``%{y}`` put into a hover template unescaped. So
every string from data (names of services, steps, activities, groups, outcomes, touchpoints,
journeys, the currency, summaries, formulas) passes through :func:`plotly_text` — directly or
through :func:`short_label`, :func:`money` — before it reaches a figure: a step called
``<a href=…>`` is shown as typed, never a live link. Data is never used as an axis category:
rows sit at numeric positions with escaped ``ticktext`` (the value stream map once drew its
step names as categories, the one path that skipped the escaping; issue 17).
"""

from __future__ import annotations

import html
import json
import textwrap
from collections.abc import Iterable
from typing import Any

import plotly.io as pio
from markupsafe import Markup

from dipstick.check import CheckResult, ServiceVerdict
from dipstick.findings import Status
from dipstick.indicators.registry import CAUSES, INDICATORS

#: One colour per status, the same in every figure and in the report's pills.
STATUS_COLOURS: dict[Status, str] = {
    Status.OK: "#2f9e5b",
    Status.WATCH: "#f2a900",
    Status.LEAK: "#d64545",
    Status.UNKNOWN: "#a3a9b1",
    Status.NA: "#eef0f2",   # n/a: the cause cannot apply — paler than unknown, never a colour
}

#: Discrete order of the heatmap's colour scale (z = index + 0.5).
STATUS_ORDER: tuple[Status, ...] = (Status.OK, Status.WATCH, Status.LEAK, Status.UNKNOWN,
                                    Status.NA)

FONT = ('-apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, '
        'sans-serif')

# The look every dipstick chart shares (the report and, later, the web pages).
LAYOUT: dict[str, object] = {
    "font": {"family": FONT, "size": 12, "color": "#1f2328"},
    "plot_bgcolor": "#ffffff",
    "paper_bgcolor": "#ffffff",
    "hoverlabel": {"align": "left"},
}


def worst_first(verdicts: Iterable[ServiceVerdict]) -> list[ServiceVerdict]:
    """The order of :func:`dipstick.check.run_check`, re-applied so that a result built by
    other means (a stored one, a test's) is shown the same way."""
    return sorted(verdicts, key=lambda v: (-v.status.rank, -v.leak.money, -v.score,
                                           v.service.id))


def causes_of(result: CheckResult) -> list[str]:
    """The registry's causes in PRODUCT.md order, then any other cause found in the result
    (an older stored result may carry a cause that was renamed since)."""
    seen = list(CAUSES)
    for v in result.verdicts:
        seen += [f.cause for f in v.findings if f.cause not in seen]
    return seen


def cause_title(cause: str) -> str:
    return next((i.title for i in INDICATORS if i.cause == cause),
                cause.replace("_", " ").capitalize())


def plotly_text(text: str, width: int = 72) -> str:
    """Escape for Plotly's HTML subset and wrap long text onto ``<br>``-separated lines."""
    lines = textwrap.wrap(text, width) or [""]
    return "<br>".join(html.escape(line, quote=False) for line in lines)


def short_label(text: str, width: int = 34) -> str:
    """An axis label: long names are cut (the hover shows them in full), then escaped."""
    cut = text if len(text) <= width else text[: width - 1].rstrip() + "…"
    return plotly_text(cut, max(width, len(cut)) + 1)


def money(value: float, currency: str) -> str:
    """An amount for a figure's text, the currency (from data) escaped."""
    return f"{value:,.0f} {plotly_text(currency)}"


def json_island(fig: Any) -> Markup:
    """Figure JSON for a ``<script type="application/json">`` island (the report and the web
    pages): ``<``, ``>`` and ``&`` become JSON escapes, so no string in it can close the element
    or open a tag."""
    text = pio.to_json(fig, validate=False, pretty=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    json.loads(text)  # still valid JSON: those characters only ever occur inside strings
    return Markup(text)
