"""A customer journey as an emotion curve: satisfaction at each touchpoint in journey order,
now (solid) against the baseline (dashed), with the drop-off rate as bars beneath.

Where the solid line dips below the dashed one and the red bar outgrows the grey one, customers
are less happy and give up more often than they used to: the touchpoint to walk first. Stage
bands group the touchpoints the way the journey map does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

from dipstick.figures._common import LAYOUT, STATUS_COLOURS, plotly_text, short_label
from dipstick.findings import Status
from dipstick.indicators.customer_experience import CustomerExperienceSpec
from dipstick.journeys import JourneyMeasures, TouchpointMeasures

_SPEC = CustomerExperienceSpec()
#: The indicator's watch levels: a touchpoint past either is marked (the check's defaults).
FALL = _SPEC.touchpoint_satisfaction_drop.watch
RISE = _SPEC.drop_off_growth.watch

#: At most this many journeys are drawn in the report (each curve costs ~10 KB of JSON).
JOURNEYS_LIMIT = 24

BAND_FILLS = ("#f3f5f8", "#ffffff")
BASELINE_GREY = "#8c959f"


def got_worse(t: TouchpointMeasures) -> bool:
    """Satisfaction fell, or the drop-off rate rose, by at least the indicator's watch level."""
    drop, growth = t.satisfaction_drop, t.drop_off_growth
    return (drop is not None and drop >= FALL) or (growth is not None and growth >= RISE)


def _num(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def _hover(stage: str, t: TouchpointMeasures) -> str:
    head = plotly_text(f"{stage} › {t.name}" + (f" ({t.channel})" if t.channel else ""), 60)
    lines = [f"<b>{head}</b>"]
    if t.services:
        lines.append(plotly_text("services: " + ", ".join(t.services), 60))
    if t.current is None:
        lines.append("no data in the current window")
    else:
        drop = t.satisfaction_drop
        change = "" if drop is None else f", {round(-drop, 1) + 0.0:+.1f}"
        lines.append(f"satisfaction {_num(t.satisfaction, '.1f')} (baseline "
                     f"{_num(t.baseline_satisfaction, '.1f')}{change})")
        growth = t.drop_off_growth
        lines.append(f"drop-off {_num(t.drop_off_rate, '.1%')} (baseline "
                     f"{_num(t.baseline_drop_off_rate, '.1%')}"
                     + ("" if growth is None else f", {growth:.2f}×") + ")")
        lines.append(f"visitors {_num(t.visitors, ',.0f')}")
    return "<br>".join(lines)


def journeys_to_draw(journeys: Sequence[JourneyMeasures]) -> list[JourneyMeasures]:
    """Journeys with data, those with a touchpoint that got worse first (otherwise in the
    model's order), at most :data:`JOURNEYS_LIMIT`."""
    with_data = [j for j in journeys if j.has_data]
    ordered = sorted(with_data, key=lambda j: not any(got_worse(t) for t in j.touchpoints))
    return ordered[:JOURNEYS_LIMIT]


def journey_figure(j: JourneyMeasures) -> go.Figure:
    """The emotion curve of one journey; a touchpoint without data leaves a gap, not a zero."""
    rows = [(s.name, t) for s in j.stages for t in s.touchpoints]
    xs = list(range(len(rows)))
    hover = [_hover(stage, t) for stage, t in rows]
    fig = go.Figure()
    rates = [t.drop_off_rate for _, t in rows]
    base_rates = [t.baseline_drop_off_rate for _, t in rows]
    fig.add_bar(x=xs, y=base_rates, name="drop-off rate, baseline", yaxis="y2",
                marker_color=BASELINE_GREY, opacity=0.35, hovertext=hover, hoverinfo="text")
    fig.add_bar(x=xs, y=rates, name="drop-off rate, now", yaxis="y2",
                marker_color=STATUS_COLOURS[Status.LEAK], opacity=0.35, hovertext=hover,
                hoverinfo="text")
    fig.add_scatter(x=xs, y=[t.baseline_satisfaction for _, t in rows], name="satisfaction, "
                    "baseline", mode="lines+markers", connectgaps=False,
                    line={"color": BASELINE_GREY, "dash": "dash", "width": 2},
                    marker={"size": 6}, hovertext=hover, hoverinfo="text")
    colours = [STATUS_COLOURS[Status.WATCH if got_worse(t) else Status.OK] for _, t in rows]
    fig.add_scatter(x=xs, y=[t.satisfaction for _, t in rows], name="satisfaction, now",
                    mode="lines+markers", connectgaps=False,
                    line={"color": "#1f6feb", "width": 3},
                    marker={"size": 11, "color": colours, "line": {"color": "#ffffff",
                                                                   "width": 1}},
                    hovertext=hover, hoverinfo="text")
    shapes, notes = [], []
    start = 0
    for k, stage in enumerate(j.stages):
        n = len(stage.touchpoints)
        if not n:
            continue
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": start - 0.5,
                       "x1": start + n - 0.5, "y0": 0, "y1": 1, "layer": "below",
                       "line": {"width": 0}, "fillcolor": BAND_FILLS[k % 2]})
        notes.append({"x": start + (n - 1) / 2, "y": 1.0, "xref": "x", "yref": "paper",
                      "yanchor": "bottom", "showarrow": False, "font": {"size": 12},
                      "text": f"<b>{short_label(stage.name, 24)}</b>"})
        start += n
    top = max((r for r in rates + base_rates if r is not None), default=0.0)
    # bars in the lower third, on whole 5 % steps, so they never hide the curve
    y2_top = max(math.ceil(top * 3 * 20) / 20, 0.05)
    who = f" ({j.persona})" if j.persona else ""
    title = (f"{j.name}{who}: satisfaction at each touchpoint, {j.period} against the baseline "
             f"{j.baseline_period}; markers in amber: satisfaction fell ≥ {FALL:g} points or "
             f"drop-off rose ≥ {RISE:g}×")
    fig.update_layout(
        title={"text": plotly_text(title, 110), "font": {"size": 13}}, barmode="group",
        height=440, margin={"l": 10, "r": 10, "t": 90, "b": 40}, shapes=shapes,
        annotations=notes, hovermode="closest", legend={"orientation": "h", "y": -0.15},
        meta={"journey": j.id, "touchpoints": [t.id for _, t in rows]}, **LAYOUT,
        xaxis={"tickvals": xs, "ticktext": [plotly_text(t.name, 16) for _, t in rows],
               "automargin": True, "range": [-0.5, len(rows) - 0.5], "showgrid": False},
        yaxis={"title": "satisfaction (0–10)", "range": [0, 10.4], "gridcolor": "#eceff3",
               "zeroline": False},
        yaxis2={"title": "drop-off rate", "overlaying": "y", "side": "right",
                "tickformat": ".0%", "range": [0, y2_top], "dtick": y2_top / 5, "showgrid": False,
                "zeroline": False})
    return fig
