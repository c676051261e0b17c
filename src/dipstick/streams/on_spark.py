"""Discovery of a Spark DataFrame of events as a :class:`Discovery`, from the engine's Spark
SQL twin (:mod:`dipstick.engine.discovery_spark`): two statements a log or window — its shape,
then every aggregate — where the portable Narwhals formulation ran a dozen Spark jobs
(docs/decisions.md, "Discovery on Spark is Spark SQL")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dipstick.engine import discovery_spark as q
from dipstick.streams.aggregated import discovered, empty
from dipstick.streams.found import DEFAULT_WAITING, Discovery
from dipstick.waiting import is_waiting


def discover_frame(df: Any, *, process: str | None = None,
                   waiting: Sequence[str] = DEFAULT_WAITING, collapse: bool = False,
                   top_variants: int = 10) -> Discovery:
    """:func:`dipstick.streams.discover.discover` of a PySpark DataFrame (same arguments)."""
    waits = tuple(waiting)
    with q.events_view(df, process) as (source, args):
        log = q.shape(df, source, args)
        if not log.events:
            return empty(process, log.lifecycle, collapse, waits)
        wait_names = [a for a in log.activities if is_waiting(a, waits)]
        found = q.aggregates(df, source, args, log, wait_names, collapse and not log.lifecycle,
                             top_variants)
    return discovered(found, log, process, waits, collapse, wait_names)
