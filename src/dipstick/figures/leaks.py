"""Leak per month by service: where the money goes, largest first.

Only leaking services with a money estimate appear; each bar's hover names the cause whose
estimate it is and the formula that produced it, so no number stands without its reasoning.
"""

from __future__ import annotations

import plotly.graph_objects as go

from dipstick.check import CheckResult, ServiceVerdict
from dipstick.figures._common import (
    LAYOUT,
    STATUS_COLOURS,
    cause_title,
    money,
    plotly_text,
    short_label,
)
from dipstick.findings import Status

#: Bars beyond this many are not readable; the report says how many were left out.
LEAK_BARS_LIMIT = 40

ROW_PX = 26


def leaking_verdicts(result: CheckResult) -> list[ServiceVerdict]:
    """Leaking services with a money estimate, largest leak first."""
    leaking = [v for v in result.verdicts if v.status is Status.LEAK and v.leak.money > 0]
    return sorted(leaking, key=lambda v: (-v.leak.money, -v.leak.hours, v.service.id))


def leak_bars(result: CheckResult, limit: int = LEAK_BARS_LIMIT) -> go.Figure:
    """Horizontal bars of each leaking service's monthly leak in money."""
    shown = leaking_verdicts(result)[:limit]
    cur = result.currency
    hover = [[plotly_text(v.service.name), plotly_text(cause_title(v.leak_cause or "")),
              money(v.leak.money, cur), f"{v.leak.hours:,.0f}",
              plotly_text(v.leak.formula or "no formula given")] for v in shown]
    trace = go.Bar(
        x=[round(v.leak.money, 2) for v in shown],
        y=list(range(len(shown))),
        orientation="h",
        marker={"color": STATUS_COLOURS[Status.LEAK]},
        text=[money(v.leak.money, cur) for v in shown],
        textposition="outside",
        cliponaxis=False,
        customdata=hover,
        hovertemplate=("<b>%{customdata[0]}</b><br>cause: %{customdata[1]}<br>"
                       "%{customdata[2]} / month · %{customdata[3]} h / month<br>"
                       "<i>%{customdata[4]}</i><extra></extra>"),
    )
    fig = go.Figure(trace)
    fig.update_layout(
        height=max(200, 90 + ROW_PX * len(shown)),
        margin={"l": 10, "r": 90, "t": 20, "b": 50},
        **LAYOUT,
        bargap=0.3,
        meta={"shown": len(shown), "total": len(leaking_verdicts(result)),
              "service_ids": [v.service.id for v in shown]},
    )
    fig.update_xaxes(title_text=f"estimated leak per month ({plotly_text(cur)})",
                     gridcolor="#eaeef2", zeroline=False, rangemode="tozero", fixedrange=True)
    fig.update_yaxes(tickvals=list(range(len(shown))),
                     ticktext=[short_label(v.service.name) for v in shown],
                     autorange="reversed", showgrid=False, fixedrange=True, automargin=True)
    return fig
