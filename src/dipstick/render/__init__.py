"""Terminal rendering with Rich, the CLI's only presentation: the lights (``lights``) and the
tables beside them (``tables``)."""

from dipstick.render.lights import STYLE, coverage_lines, light, print_check
from dipstick.render.tables import (
    discovery_tables,
    indicators_table,
    problems_table,
    runs_table,
    stream_table,
)

__all__ = ["STYLE", "coverage_lines", "discovery_tables", "indicators_table", "light",
           "print_check", "problems_table", "runs_table", "stream_table"]
