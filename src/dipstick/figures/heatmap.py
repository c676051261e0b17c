"""The portfolio heatmap: services × leak causes, one coloured cell per finding.

The colours are discrete (a light is on or off, not a gradient) and each non-green cell shows
its score, so the chart also reads in greyscale and for colour-blind readers. Rows are placed at
numeric positions with the names as tick text: two services with the same name stay two rows.
"""

from __future__ import annotations

import plotly.graph_objects as go

from dipstick.check import CheckResult, ServiceVerdict
from dipstick.figures._common import (
    LAYOUT,
    STATUS_COLOURS,
    STATUS_ORDER,
    cause_title,
    causes_of,
    plotly_text,
    short_label,
    worst_first,
)
from dipstick.findings import Finding, Status

#: Beyond this many services the chart shows the worst ones only: a 2,000-row heatmap is
#: neither readable nor light enough to render; the report says what was left out.
HEATMAP_LIMIT = 150

ROW_PX = 22


def heatmap_verdicts(result: CheckResult, limit: int = HEATMAP_LIMIT) -> list[ServiceVerdict]:
    """The services the heatmap shows, worst first."""
    return worst_first(result.verdicts)[:limit]


def _colorscale() -> list[tuple[float, str]]:
    """A stepped scale: z = i + 0.5 falls in band i of ``STATUS_ORDER``."""
    n = len(STATUS_ORDER)
    scale: list[tuple[float, str]] = []
    for i, status in enumerate(STATUS_ORDER):
        scale += [(i / n, STATUS_COLOURS[status]), ((i + 1) / n, STATUS_COLOURS[status])]
    return scale


def _cell(v: ServiceVerdict, cause: str) -> tuple[float, str, list[str]]:
    """z value, cell text and hover data for one service and cause."""
    found: Finding | None = next((f for f in v.findings if f.cause == cause), None)
    status = found.status if found else Status.UNKNOWN
    score = found.score if found else 0.0
    summary = found.summary if found else "not assessed"
    text = {Status.OK: "", Status.UNKNOWN: "?", Status.NA: "–"}.get(status, f"{score:.0f}")
    label = status.value
    if found is not None and found.self_assessed:   # the owner's answers, not data: marked S
        text, label = f"S {text}".strip(), f"{status.value} (self-assessed)"
    hover = [plotly_text(v.service.name), plotly_text(cause_title(cause)), label,
             f"{score:.0f}", plotly_text(summary)]
    return STATUS_ORDER.index(status) + 0.5, text, hover


def status_heatmap(result: CheckResult, limit: int = HEATMAP_LIMIT) -> go.Figure:
    """Services (rows, worst on top) × causes (columns), coloured by status."""
    shown = heatmap_verdicts(result, limit)
    causes = causes_of(result)
    cells = [[_cell(v, c) for c in causes] for v in shown]
    columns = [plotly_text(cause_title(c), 12) for c in causes]
    trace = go.Heatmap(
        z=[[c[0] for c in row] for row in cells],
        x=list(range(len(causes))),
        y=list(range(len(shown))),
        text=[[c[1] for c in row] for row in cells],
        customdata=[[c[2] for c in row] for row in cells],
        texttemplate="%{text}",
        textfont={"size": 11},  # colour: plotly picks one that contrasts with each cell
        colorscale=_colorscale(),
        zmin=0,
        zmax=len(STATUS_ORDER),
        showscale=False,
        xgap=2,
        ygap=2,
        hovertemplate=("<b>%{customdata[0]}</b><br>%{customdata[1]}: <b>%{customdata[2]}</b>"
                       " · score %{customdata[3]}<br>%{customdata[4]}<extra></extra>"),
    )
    fig = go.Figure(trace)
    fig.update_layout(
        height=max(240, 110 + ROW_PX * len(shown)),
        margin={"l": 10, "r": 10, "t": 70, "b": 10},
        **LAYOUT,
        meta={"shown": len(shown), "total": len(result.verdicts),
              "service_ids": [v.service.id for v in shown]},
    )
    fig.update_xaxes(side="top", tickvals=list(range(len(causes))), ticktext=columns,
                     showgrid=False, zeroline=False, fixedrange=True)
    fig.update_yaxes(tickvals=list(range(len(shown))),
                     ticktext=[short_label(v.service.name) for v in shown],
                     autorange="reversed", showgrid=False, zeroline=False, fixedrange=True,
                     automargin=True)
    return fig
