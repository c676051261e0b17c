"""A mean and a standard deviation that do not depend on the order the engine adds rows in.

Why: a parallel group-by adds a group's rows in whatever order its threads meet them, and
floating-point addition is not associative. Two checks of the same package gave standard
deviations of perception's respondents' mean answers that differed in their last bits, and
three evidence values rounded to four places flipped by 0.0001 (found in session 11: the
check's JSON was not byte-identical run to run). Here a value is carried as a whole number of
millionths, whose sums are exact in any order on DuckDB and Spark alike, and the mean and the
variance are finished in Python from the exact sums (its int ÷ int is correctly rounded).

Fit for bounded values such as survey scores (0–10): a millionth of a point is far below
what an answer can say, and every sum stays in 64 bits (the square is split in two halves so
that no product passes 10¹⁴ even for values near 10⁴).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import narwhals as nw

SCALE = 1_000_000
_HALF = 1_000


def sums(column: str, prefix: str) -> list[nw.Expr]:
    """Aggregations giving the exact sums behind :func:`mean_sd` (count it with ``nw.len()``)."""
    fixed = (nw.col(column) * SCALE).round(0).cast(nw.Int64)
    hi, lo = fixed // _HALF, fixed % _HALF
    return [fixed.sum().alias(f"{prefix}_s"), (hi * hi).sum().alias(f"{prefix}_hh"),
            (hi * lo).sum().alias(f"{prefix}_hl"), (lo * lo).sum().alias(f"{prefix}_ll")]


def mean_sd(row: Mapping[str, Any], prefix: str, n: int) -> tuple[float | None, float | None]:
    """The mean and the sample standard deviation (None below 1 and 2 values) of a group,
    from :func:`sums` (mean = Σx / n; variance = (nΣx² − (Σx)²) / (n(n − 1)))."""
    if n < 1:
        return None, None
    s = int(row[f"{prefix}_s"])
    squares = (int(row[f"{prefix}_hh"]) * _HALF * _HALF + 2 * int(row[f"{prefix}_hl"]) * _HALF
               + int(row[f"{prefix}_ll"]))
    mean = s / (n * SCALE)
    if n < 2:
        return mean, None
    return mean, ((n * squares - s * s) / (n * (n - 1) * SCALE * SCALE)) ** 0.5
