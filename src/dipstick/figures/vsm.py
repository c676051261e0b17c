"""A value stream map as a timeline: each step's process time and wait laid end to end, so
the long waits — and the bottleneck — are seen at a glance (the classic VSM ladder, in hours)."""

from __future__ import annotations

import plotly.graph_objects as go

from dipstick.figures._common import LAYOUT, STATUS_COLOURS, plotly_text, short_label
from dipstick.findings import Status
from dipstick.streams import StreamMetrics


def vsm_figure(m: StreamMetrics) -> go.Figure:
    """Rows at numeric positions with the step names as escaped tick text (and in the hover as
    ``customdata``): a step's name is data, never an axis category Plotly would show raw."""
    rows = list(range(len(m.steps)))
    names = [plotly_text(s.name, 60) for s in m.steps]
    starts, processes, waits = [], [], []
    clock = 0.0
    for s in m.steps:
        starts.append(clock)
        processes.append(s.process_minutes / 60)
        waits.append(s.wait_minutes / 60)
        clock += s.lead_minutes / 60
    fig = go.Figure()
    fig.add_bar(y=rows, x=processes, base=starts, orientation="h", name="process",
                marker_color=STATUS_COLOURS[Status.OK], customdata=names,
                hovertemplate="%{customdata}<br>process %{x:.1f} h<extra></extra>")
    fig.add_bar(y=rows, x=waits, base=[a + p for a, p in zip(starts, processes, strict=True)],
                orientation="h", name="wait", marker_color=STATUS_COLOURS[Status.LEAK],
                customdata=names, hovertemplate="%{customdata}<br>wait %{x:.1f} h<extra></extra>")
    ratio = m.activity_ratio
    neck = m.bottleneck
    title = (f"{m.name}: lead time {m.lead_minutes / 60:.1f} h, process "
             f"{m.process_minutes / 60:.1f} h, activity ratio "
             f"{'–' if ratio is None else f'{ratio:.1%}'}, rolled %C&A "
             f"{m.rolled_complete_accurate:.0%}" + (f", bottleneck: {neck.name}" if neck else ""))
    fig.update_layout(
        title={"text": plotly_text(title, 110), "font": {"size": 13}}, barmode="overlay",
        height=120 + 28 * len(names), margin={"l": 10, "r": 20, "t": 60, "b": 40},
        legend={"orientation": "h", "y": -0.2}, **LAYOUT,
        xaxis={"title": "hours since the stream started", "gridcolor": "#eceff3"},
        yaxis={"autorange": "reversed", "automargin": True, "tickvals": rows,
               "ticktext": [short_label(s.name, 40) for s in m.steps]})
    return fig
