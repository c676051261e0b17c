"""Holistic aggregates under a memory bound: a median keeps every value of its group.

DuckDB spills sorts, joins and plain aggregates (sums, counts, means) to disk under its
``memory_limit``, but not a median's values: 50 M tickets' grouped resolution medians ran a 1 GB
check out of memory. Where a query groups by service anyway, running it for a few disjoint sets
of services and concatenating the rows gives exactly the same rows (every group lies in one
set) while each run holds only its set's values. Measured on 50 M tickets (2,040 services) at
1 GB: one set runs out of memory, four sets complete with a peak of 1.1 GB — about 100 bytes of
state per ticket; :data:`BYTES_PER_ROW` leaves a margin over that. Below the bound there is one
set and the query is unchanged (the large demo's 5.3 M tickets at DuckDB's default limit).
"""

from __future__ import annotations

import math
import re

BYTES_PER_ROW = 160
UNITS = {"": 1, "B": 1, "BYTES": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
         "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def memory_bytes(setting: str) -> int | None:
    """DuckDB's ``memory_limit`` setting as bytes (it reads back as e.g. ``953.6 MiB``); None
    when it is not a size."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", setting)
    if not m or m.group(2).upper() not in UNITS:
        return None
    return int(float(m.group(1)) * UNITS[m.group(2).upper()])


def count(rows: int, limit: int | None) -> int:
    """How many disjoint sets a holistic query over ``rows`` rows needs under ``limit``."""
    if not limit or rows <= 0:
        return 1
    return max(1, math.ceil(rows * BYTES_PER_ROW / limit))


def deal(keys: list[str], k: int) -> list[list[str]]:
    """``keys`` dealt into ``k`` sets like cards (sorted first), so big and small services
    spread evenly whatever order their ids have."""
    ordered = sorted(keys)
    return [ordered[i::k] for i in range(k) if ordered[i::k]]
