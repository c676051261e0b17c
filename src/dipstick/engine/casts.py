"""Text to a whole number, one rule for the package loader, the importer and the event logs.

Why not DuckDB's cast: ``TRY_CAST('3.5' AS BIGINT)`` is 4 and ``TRY_CAST('0x10' AS BIGINT)``
16, so an order column's 3.5 or a hexadecimal id would be read as another number without a
word. A whole number is written as one: ``5``, ``+5``, ``5.0``.
"""

from __future__ import annotations


def whole_sql(text: str) -> str:
    """A whole number (5, +5, 5.0; not 5.5, 1e3 or 0x10) as BIGINT, NULL otherwise (beyond
    BIGINT too).

    A value that is its number's own text (``0``, ``17``, ``-3``: the number the cast reads,
    written back, is the value again) is that number with no pattern matched — the usual
    order column, where the pattern cost ~0.1 s CPU of a 1.27 M-event read (docs/benchmarks.md,
    session 14); any other text takes the pattern."""
    return (f"CASE WHEN CAST(TRY_CAST({text} AS BIGINT) AS VARCHAR) = {text} THEN "
            f"TRY_CAST({text} AS BIGINT) WHEN regexp_full_match(trim({text}), "
            f"'[+-]?[0-9]+(\\.0*)?') THEN TRY_CAST(trim({text}) AS BIGINT) END")
