"""Terminal rendering with Rich, the CLI's only presentation: the lights (``lights``) and the
tables beside them (``tables``).

Imported on first use (PEP 562): the lights need the whole check, the tables do not, and a
command that prints a stream or a problem list must not load the check to do it."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dipstick.render.lights import STYLE, coverage_lines, light, print_check
    from dipstick.render.tables import (
        discovery_tables,
        indicators_table,
        problems_table,
        runs_table,
        stream_table,
    )

_WHERE = {"STYLE": "lights", "coverage_lines": "lights", "light": "lights",
          "print_check": "lights", "discovery_tables": "tables", "indicators_table": "tables",
          "problems_table": "tables", "runs_table": "tables", "stream_table": "tables"}

__all__ = ["STYLE", "coverage_lines", "discovery_tables", "indicators_table", "light",
           "print_check", "problems_table", "runs_table", "stream_table"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"dipstick.render.{_WHERE[name]}"), name)
