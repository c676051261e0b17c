"""The summary's one chart, leak per month over the stored checks, drawn by matplotlib.

One drawing, two encodings: SVG with its text kept as text (a few KB, inline in the HTML page,
selectable and searchable) and PNG (the PDF, and e-mail clients that drop inline SVG). The
``Figure`` is made and saved directly (Agg for PNG), never through ``pyplot``: no display, no
global figure registry, nothing shared between threads of the web app.
"""

from __future__ import annotations

import io
from typing import Literal

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from dipstick.summary import Summary

LINE = "#c0392b"
GREY = "#666666"
SIZE = (7.2, 1.75)     # inches: the width of an A4 text column, a sixth of its height


def leak_chart(summary: Summary, fmt: Literal["svg", "png"] = "svg", dpi: int = 200) -> bytes:
    """The chart as SVG (text as text, no timestamp, stable ids) or PNG bytes."""
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "dipstick",
                                "font.family": "DejaVu Sans", "font.size": 8}):
        fig = _draw(summary)
        fig.set_dpi(dpi)
        buf = io.BytesIO()
        meta = {"Date": None} if fmt == "svg" else {"Software": None}
        fig.savefig(buf, format=fmt, metadata=meta)
        return buf.getvalue()


def svg_markup(svg: bytes) -> str:
    """The SVG element alone, fit to sit inside an HTML page (no XML prologue or DOCTYPE)."""
    text = svg.decode()
    return text[text.index("<svg"):]


def _draw(summary: Summary) -> Figure:
    points = summary.history
    xs = np.array([p.as_of for p in points], dtype="datetime64[D]")
    ys = [p.money for p in points]
    fig = Figure(figsize=SIZE, layout="constrained")
    ax = fig.add_subplot()
    ax.plot(xs, ys, color=LINE, marker="o", markersize=3.5, linewidth=1.6)
    if len(points) > 1:
        ax.fill_between(xs, ys, color=LINE, alpha=0.08)
    last = points[-1]
    ax.annotate(f"{last.money:,.0f} {summary.currency}", (last.as_of, last.money),
                xytext=(-4, 6), textcoords="offset points", ha="right", color=LINE,
                fontweight="bold")
    if len(points) == 1:
        ax.set_title("One stored check so far: a point per check follows", color=GREY,
                     fontsize=7, loc="left")
    ax.set_ylim(bottom=0, top=max(max(ys) * 1.25, 1.0))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_ylabel(f"{summary.currency} / month", color=GREY)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(colors=GREY, labelsize=7)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    fig.autofmt_xdate(rotation=0, ha="center")
    return fig
