"""Plotly figures of a check result, shared by the HTML report and the web pages.

Every builder is a pure function of a :class:`~dipstick.check.CheckResult` returning a
``plotly.graph_objects.Figure``: no I/O, no HTML page around it, so the report embeds it in a
file and the web app serves it as JSON from the same code. ``layout.meta`` tells how many rows
were shown out of how many, and which service ids, in order (for click-through).
"""

from __future__ import annotations

from dipstick.figures._common import (
    STATUS_COLOURS,
    cause_title,
    causes_of,
    json_island,
    worst_first,
)
from dipstick.figures.heatmap import HEATMAP_LIMIT, heatmap_verdicts, status_heatmap
from dipstick.figures.journey import JOURNEYS_LIMIT, journey_figure, journeys_to_draw
from dipstick.figures.leaks import LEAK_BARS_LIMIT, leak_bars, leaking_verdicts
from dipstick.figures.process_map import process_map_figure
from dipstick.figures.trend import TRENDS_LIMIT, trend_figure
from dipstick.figures.vsm import vsm_figure

__all__ = [
    "HEATMAP_LIMIT",
    "JOURNEYS_LIMIT",
    "LEAK_BARS_LIMIT",
    "STATUS_COLOURS",
    "TRENDS_LIMIT",
    "cause_title",
    "causes_of",
    "heatmap_verdicts",
    "journey_figure",
    "journeys_to_draw",
    "json_island",
    "leak_bars",
    "leaking_verdicts",
    "process_map_figure",
    "status_heatmap",
    "trend_figure",
    "vsm_figure",
    "worst_first",
]
