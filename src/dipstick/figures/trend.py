"""The trend of a leaking signal, week by week, with the shift that started the leak marked.

The level before and after the shift are drawn as flat segments, so the eye sees the step the
detector saw rather than having to find it in the noise.
"""

from __future__ import annotations

from datetime import UTC, date

import plotly.graph_objects as go

from dipstick.check import Trend
from dipstick.figures._common import LAYOUT, STATUS_COLOURS, plotly_text
from dipstick.findings import Status

TRENDS_LIMIT = 60  # trend charts per report: the largest leaks first


def trend_figure(trend: Trend, title: str) -> go.Figure:
    weeks = [d.isoformat() for d in trend.weeks]
    first, last = weeks[0] if weeks else None, weeks[-1] if weeks else None
    shift = trend.shift.isoformat()
    fig = go.Figure()
    fig.add_scatter(x=weeks, y=list(trend.values), mode="lines", name="weekly value",
                    line={"color": "#5b6b7b", "width": 1.5},
                    hovertemplate="week of %{x}<br>%{y:.3g}<extra></extra>")
    level = {"color": STATUS_COLOURS[Status.LEAK], "width": 3}
    fig.add_scatter(x=[first, shift], y=[trend.before, trend.before], mode="lines",
                    name="level before", line={**level, "color": STATUS_COLOURS[Status.OK]},
                    hovertemplate=f"level before: {trend.before:.3g}<extra></extra>")
    fig.add_scatter(x=[shift, last], y=[trend.after, trend.after], mode="lines",
                    name="level after", line=level,
                    hovertemplate=f"level after: {trend.after:.3g}<extra></extra>")
    fig.add_vline(x=_ms(trend.shift), line={"color": STATUS_COLOURS[Status.LEAK], "dash": "dot"})
    fig.add_annotation(x=shift, y=1, yref="paper", text=f"shift, week of {shift}",
                       showarrow=False, xanchor="left", yanchor="bottom",
                       font={"size": 11, "color": STATUS_COLOURS[Status.LEAK]})
    fig.update_layout(
        title={"text": plotly_text(title), "font": {"size": 13}}, height=260,
        margin={"l": 50, "r": 20, "t": 48, "b": 30}, showlegend=False, **LAYOUT,
        yaxis={"gridcolor": "#eceff3"},
        xaxis={"gridcolor": "#eceff3"})
    return fig


def _ms(d: date) -> float:
    """Plotly's vline on a date axis wants epoch milliseconds (a string breaks its annotation)."""
    from datetime import datetime

    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000
