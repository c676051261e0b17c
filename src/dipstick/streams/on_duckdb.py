"""Discovery of a DuckDB event table as a :class:`Discovery`, from the engine's SQL twin
(:mod:`dipstick.engine.discovery_sql`): three queries whatever the log's size — its shape, the
visits table, every aggregate at once — or, for a large state log, the aggregates from its
typed columns in NumPy (:mod:`dipstick.streams.on_numpy`, the same result). No Narwhals or
pyarrow import: the ``streams`` command runs this straight on the table it read
(docs/decisions.md, "Discovery on DuckDB is SQL" and "A large state log's aggregates in
NumPy")."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from dipstick.engine import discovery_sql as q
from dipstick.streams.aggregated import discovered, empty
from dipstick.streams.found import DEFAULT_WAITING, Discovery
from dipstick.waiting import is_waiting

# From this many events a state log's aggregates are NumPy's (:mod:`dipstick.streams.on_numpy`):
# below it, importing NumPy (~40 ms CPU) costs about what it saves (15 k events: 60 ms of SQL
# against 17 ms of NumPy in process); at 65 k and 120 k the command takes ~4 % less CPU, at
# 1.27 M a quarter less (docs/benchmarks.md, session 13).
ARRAYS_FROM = 50_000
# What the NumPy path holds beyond DuckDB's table, per event: its columns, order and
# temporaries (1.27 M events: peak 351 MB against 184 MB after the read, ~131 B; rounded up).
# DuckDB's memory_limit does not bound them, so under a limit they are not held for more
# events than half the limit covers (the other half is the table's): the SQL runs, spilling
# (DIPSTICK_MEMORY_LIMIT, docs/event-logs.md).
NUMPY_BYTES_PER_EVENT = 160


def discover_relation(rel: duckdb.DuckDBPyRelation, *, process: str | None = None,
                      waiting: Sequence[str] = DEFAULT_WAITING, collapse: bool = False,
                      top_variants: int = 10, arrays: bool | None = None) -> Discovery:
    """:func:`dipstick.streams.discover.discover` of a DuckDB relation (same arguments);
    ``arrays`` computes the aggregates in NumPy where it can (None: from ``ARRAYS_FROM``
    events, when :func:`numpy_fits` the connection's ``memory_limit``), False always in SQL."""
    rel = q.only_process(rel, process)
    log = q.shape(rel)
    waits = tuple(waiting)
    if not log.events:
        return empty(process, log.lifecycle, collapse, waits)
    wait_names = [a for a in log.activities if is_waiting(a, waits)]
    found = None
    if arrays is None:
        arrays = log.events >= ARRAYS_FROM and numpy_fits(log.events, _limit(rel))
    if arrays:
        from dipstick.streams import on_numpy

        if on_numpy.applies(log):
            found = on_numpy.aggregates(rel, log, wait_names, collapse, top_variants)
    if found is None:
        found = q.aggregates(rel, log, wait_names, collapse and not log.lifecycle, top_variants)
    return discovered(found, log, process, waits, collapse, wait_names)


def numpy_fits(events: int, limit: int | None) -> bool:
    """Whether the NumPy path's arrays for ``events`` fit in half of DuckDB's ``memory_limit``
    (bytes; None: not a size, no bound)."""
    return limit is None or events * NUMPY_BYTES_PER_EVENT <= limit // 2


def _limit(rel: duckdb.DuckDBPyRelation) -> int | None:
    from dipstick.engine.parts import memory_bytes

    res = rel.query("_e", "SELECT current_setting('memory_limit')")
    rows = [] if res is None else res.fetchall()
    return memory_bytes(str(rows[0][0])) if rows else None
