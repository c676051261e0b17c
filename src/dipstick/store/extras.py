"""A run's context for the pages, kept with the run (table ``run_extras``, migration 0011).

The context (``dipstick.runs.RunContext``: value model, trend series, stream and journey maps,
surveys, run costs) is ~200,000 small objects for 2,040 services. Pickle writes and reads them
in a fraction of a second — the point: the first page after a restart must answer in ≤ 1 s,
where re-checking the package took 12–27 s. It is pickled, not JSON, because rebuilding
dozens of typed classes from JSON would be slower and a second copy of every class's shape.
Since format 2 the verdicts are not in it (``dipstick.runs.StoredContext``): the run's own
rows hold them, and ``dipstick.runs.read_context`` rebuilds them from there.

Pickle runs code named by the data, so reading never trusts the bytes: the restricted
unpickler builds only dipstick's own data classes (dataclasses, enums, pydantic models of
``dipstick.*`` modules already imported by the reader) and dates; anything else refuses the
whole body. A body written by another dipstick version or format is not read at all (the
pages then re-check the package, as for runs stored before 0011).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import logging
import pickle
import sys
import zlib
from enum import Enum
from importlib.metadata import version
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, insert, select

from dipstick import collector
from dipstick.store.core import run_extras

# bump when the pickled shape changes without a version change: 2 = the context without its
# verdicts (``dipstick.runs.StoredContext``: the run's rows hold them); 1, the context whole,
# is still read (``dipstick.runs.read_context`` takes either)
FORMAT = 2
READS = (1, 2)
LEVEL = 1    # zlib: 5× smaller for a few tens of ms; higher levels buy little
DATES = {"date": dt.date, "datetime": dt.datetime, "timedelta": dt.timedelta,
         "timezone": dt.timezone}

log = logging.getLogger("dipstick.store")


def dipstick_version() -> str:
    return version("dipstick")


def extras_body(extras: object) -> bytes:
    """The run's context as stored: pickled, then compressed. Apart from :func:`write_extras`
    so that ``Store.save_run`` can make it while PostgreSQL is still writing the findings
    (``insert_run``'s ``meanwhile``)."""
    return zlib.compress(pickle.dumps(extras, protocol=5), LEVEL)


def write_extras(conn: Connection, run_id: int, body: bytes) -> None:
    """Insert the run's context, as :func:`extras_body` made it, on ``conn``, in the caller's
    transaction."""
    conn.execute(insert(run_extras), {"run_id": run_id, "format": FORMAT,
                                     "dipstick": dipstick_version(), "body": body})


def read_extras(conn: Connection, run_id: int) -> object | None:
    """The run's context, or ``None``: none stored (a run from before 0011), written by
    another version or format, or not readable (logged)."""
    c = run_extras.c
    row = conn.execute(select(c.format, c.dipstick, c.body)
                       .where(c.run_id == run_id)).one_or_none()
    if row is None or row.format not in READS or row.dipstick != dipstick_version():
        return None
    try:
        return loads(zlib.decompress(row.body))
    except (pickle.UnpicklingError, zlib.error, EOFError, AttributeError, TypeError,
            ValueError) as e:
        log.warning("the stored context of run %s cannot be read (%s): re-checking instead",
                    run_id, e)
        return None


def loads(data: bytes) -> object:
    """Unpickle with the collector paused: it would otherwise walk the growing heap again and
    again while ~200,000 objects are made (three times slower)."""
    with collector.paused():
        return _Restricted(io.BytesIO(data)).load()


class _Restricted(pickle.Unpickler):
    """Only dipstick's data classes and dates: never a function, never another module."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "datetime" and name in DATES:
            return DATES[name]
        found = getattr(sys.modules.get(module), name, None) \
            if module.startswith("dipstick.") else None
        if isinstance(found, type) and (dataclasses.is_dataclass(found)
                                        or issubclass(found, Enum | BaseModel)):
            return found
        raise pickle.UnpicklingError(f"{module}.{name} is not a dipstick data class")
