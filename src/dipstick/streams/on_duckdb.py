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


def discover_relation(rel: duckdb.DuckDBPyRelation, *, process: str | None = None,
                      waiting: Sequence[str] = DEFAULT_WAITING, collapse: bool = False,
                      top_variants: int = 10, arrays: bool | None = None) -> Discovery:
    """:func:`dipstick.streams.discover.discover` of a DuckDB relation (same arguments);
    ``arrays`` computes the aggregates in NumPy where it can (None: from ``ARRAYS_FROM``
    events), False always in SQL."""
    rel = q.only_process(rel, process)
    log = q.shape(rel)
    waits = tuple(waiting)
    if not log.events:
        return empty(process, log.lifecycle, collapse, waits)
    wait_names = [a for a in log.activities if is_waiting(a, waits)]
    found = None
    if (log.events >= ARRAYS_FROM if arrays is None else arrays):
        from dipstick.streams import on_numpy

        if on_numpy.applies(log):
            found = on_numpy.aggregates(rel, log, wait_names, collapse, top_variants)
    if found is None:
        found = q.aggregates(rel, log, wait_names, collapse and not log.lifecycle, top_variants)
    return discovered(found, log, process, waits, collapse, wait_names)
