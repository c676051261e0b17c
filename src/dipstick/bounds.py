"""The range a value must be in to mean something: dates from 1900 to 2200, finite numbers.

Why a module of its own, free of imports: the package loader, the importer, the value model
and the CLI's ``--as-of`` all hold values to the same bounds (docs/data-package.md, "Values
that mean something"), and the CLI reads them before any heavy module is imported. A date of
year 1 or 9999 parses, but every window and month computed from it overflows; ``inf``, ``NaN``
and ``1e400`` parse as numbers, but no sum or JSON answer of them means anything.
"""

from __future__ import annotations

import math
from datetime import date, datetime

EARLIEST = date(1900, 1, 1)
LATEST = date(2200, 12, 31)
DATE_RANGE = f"between {EARLIEST.isoformat()} and {LATEST.isoformat()}"
NOT_FINITE = "must be a finite number (not inf, -inf, NaN or beyond ±1.8e308)"
# the longest span of days a setting may give (window, baseline, look-back): a century
MAX_SPAN_DAYS = 36_525
# the largest whole number the app database and DuckDB's BIGINT hold (and a double nearly)
LARGEST_INTEGER = 2**63 - 1


def date_problem(value: date) -> str | None:
    """Why ``value`` is out of range, or None."""
    day = value.date() if isinstance(value, datetime) else value
    return None if EARLIEST <= day <= LATEST else f"must be a date {DATE_RANGE}"


def number_problem(value: object) -> str | None:
    """Why a parsed number (YAML, JSON) is out of range, or None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return NOT_FINITE
    if isinstance(value, int) and abs(value) > LARGEST_INTEGER:
        return f"is too large (a whole number must be at most {LARGEST_INTEGER:,} in size)"
    return None
