"""Quantities the way people say them, shared by the terminal, the report and the figures
(kept free of imports: the terminal's tables must not load the figures' plotting library)."""

from __future__ import annotations


def duration(minutes: float) -> str:
    """A duration the way people say it: minutes, hours or days, one decimal."""
    if minutes >= 1440:
        return f"{minutes / 1440:.1f} d"
    if minutes >= 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes:.0f} min"
