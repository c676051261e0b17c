"""The process map of a discovered stream: activities left to right in the order cases reach
them, directly-follows pairs as arrows — forward above the line, back (loops, rework, returns
from waiting) below — as thick as they are frequent, labelled with count and median time.

Drawn with plain Plotly shapes rather than a graph-layout library, so the report stays one
self-contained file and the picture reads like a value stream: left is early, right is late.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go

from dipstick.figures._common import (
    LAYOUT,
    STATUS_COLOURS,
    plotly_text,
    short_label,
)
from dipstick.findings import Status
from dipstick.spoken import duration
from dipstick.streams.discover import Discovery

EDGES_LIMIT = 24
START, END = "▶ start", "■ end"


def _duration(seconds: float) -> str:
    return duration(seconds / 60)


def _arc(x0: float, x1: float, height: float, n: int = 24) -> tuple[list[float], list[float]]:
    """A half-ellipse from x0 to x1 on the line y = 0, above (height > 0) or below."""
    xs, ys = [], []
    for i in range(n + 1):
        t = math.pi * i / n
        xs.append(x0 + (x1 - x0) * (1 - math.cos(t)) / 2)
        ys.append(height * math.sin(t))
    return xs, ys


def process_map_figure(d: Discovery, title: str | None = None,
                       limit: int = EDGES_LIMIT) -> go.Figure:
    names = [START, *(a.name for a in d.activities), END]
    x = {n: float(i) for i, n in enumerate(names)}
    pairs: list[tuple[str, str, int, float]] = [
        (e.source, e.target, e.count, e.median_seconds) for e in d.edges[:limit]]
    pairs += [(START, a, n, 0.0) for a, n in d.start_activities.items()]
    pairs += [(a, END, n, 0.0) for a, n in d.end_activities.items()]
    top = max((p[2] for p in pairs), default=1)
    fig = go.Figure()
    mid_x, mid_y, hover = [], [], []
    for src, tgt, count, median in pairs:
        x0, x1 = x[src], x[tgt]
        span = abs(x1 - x0) or 0.6
        back = x1 <= x0
        height = (-1 if back else 1) * (0.25 + 0.22 * span)
        if src == tgt:  # a self-loop: a small arc below its node
            x0, x1 = x0 - 0.25, x0 + 0.25
        xs, ys = _arc(x0, x1, height)
        width = 1 + 7 * math.sqrt(count / top)
        colour = "#c4cbd4" if START in (src, tgt) or END in (src, tgt) else (
            STATUS_COLOURS[Status.LEAK] if back else "#4a6fa5")
        fig.add_scatter(x=xs, y=ys, mode="lines", line={"width": width, "color": colour},
                        hoverinfo="skip", showlegend=False, opacity=0.75)
        fig.add_annotation(x=xs[-1], y=ys[-1], ax=xs[-3], ay=ys[-3], xref="x", yref="y",
                           axref="x", ayref="y", showarrow=True, arrowhead=2, arrowsize=1,
                           arrowwidth=max(1.0, width / 2), arrowcolor=colour, text="")
        label = f"{count:,}" + ("" if START in (src, tgt) or END in (src, tgt)
                               else f" · {_duration(median)}")
        fig.add_annotation(x=xs[len(xs) // 2], y=ys[len(ys) // 2], text=label,
                           showarrow=False, font={"size": 10, "color": "#1f2328"},
                           bgcolor="rgba(255,255,255,0.8)")
        mid_x.append(xs[len(xs) // 2])
        mid_y.append(ys[len(ys) // 2])
        hover.append(plotly_text(f"{src} → {tgt}: {count:,} times"
                                 + ("" if START in (src, tgt) or END in (src, tgt) else
                                    f", median {_duration(median)}")))
    fig.add_scatter(x=mid_x, y=mid_y, mode="markers", marker={"size": 14, "opacity": 0},
                    hovertext=hover, hoverinfo="text", showlegend=False)
    stats = {a.name: a for a in d.activities}
    node_text, node_colour = [], []
    for n in names:
        a = stats.get(n)
        if a is None:
            node_text.append(plotly_text(f"{n}: {d.cases:,} cases"))
            node_colour.append("#1f2328")
            continue
        node_text.append(plotly_text(
            f"{n}{' (waiting state)' if a.waiting else ''}: {a.visits:,} visits in "
            f"{a.cases:,} cases; {a.work_seconds / 3600:,.0f} h work, "
            f"{a.wait_seconds / 3600:,.0f} h wait; {a.rework_visits:,} rework visits, "
            f"%C&A {a.complete_accurate:.0%}"))
        node_colour.append(STATUS_COLOURS[Status.LEAK] if a.waiting
                           else STATUS_COLOURS[Status.OK])
    for n, colour in zip(names, node_colour, strict=True):
        fig.add_annotation(x=x[n], y=0, text=short_label(n, 18), showarrow=False,
                           bgcolor="#ffffff", bordercolor=colour, borderwidth=2, borderpad=4,
                           font={"size": 11, "color": colour})
    fig.add_scatter(x=[x[n] for n in names], y=[0.0] * len(names), mode="markers",
                    marker={"size": 30, "opacity": 0}, hovertext=node_text, hoverinfo="text",
                    showlegend=False)
    shown = min(limit, len(d.edges))
    t = d.throughput
    heading = title or (d.process or "Process map")
    if t is not None:
        heading += (f": {d.cases:,} cases, lead time median {_duration(t.quantile(0.5))}, "
                    f"p90 {_duration(t.quantile(0.9))}; {shown} of {len(d.edges)} "
                    f"directly-follows pairs (the most frequent). Red: waiting states and "
                    f"back arrows (loops, returns, rework)")
    span = max(len(names) - 1, 1)
    fig.update_layout(
        title={"text": plotly_text(heading, 120), "font": {"size": 13}},
        height=460, margin={"l": 20, "r": 20, "t": 70, "b": 20}, **LAYOUT,
        xaxis={"visible": False, "range": [-0.6, span + 0.6]},
        yaxis={"visible": False, "range": [-(0.3 + 0.22 * span), 0.35 + 0.22 * span]},
        meta={"edges_shown": shown, "edges_total": len(d.edges)})
    return fig
