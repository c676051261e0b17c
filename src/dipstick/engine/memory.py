"""The memory bound a connection works under: ``DIPSTICK_MEMORY_LIMIT`` and
``DIPSTICK_TEMP_DIRECTORY``, for a check and a log's discovery alike (docs/web.md)."""

from __future__ import annotations

import os

import duckdb

from dipstick.engine.sql import connect
from dipstick.errors import UsageError

_BOUNDS = ("DIPSTICK_MEMORY_LIMIT", "DIPSTICK_TEMP_DIRECTORY")


def bounded() -> duckdb.DuckDBPyConnection:
    """:func:`connect` bounded as ``DIPSTICK_MEMORY_LIMIT`` and ``DIPSTICK_TEMP_DIRECTORY`` ask
    (a check, a log's discovery); a value DuckDB cannot read is a usage error naming the
    variable (exit 2), not a traceback. The settings (pydantic-settings: ~0.1 s to import) are
    read only when either variable is in the environment, so a light command without them
    does not pay for them."""
    limit = temp = None
    if any(k.upper() in _BOUNDS and v for k, v in os.environ.items()):
        from dipstick.settings import settings

        env = settings()
        limit, temp = env.memory_limit, env.temp_directory
    try:
        return connect(memory_limit=limit, temp_directory=temp)
    except duckdb.Error as e:
        given = ", ".join(f"{k}={v!r}" for k, v in zip(_BOUNDS, (limit, temp), strict=True) if v)
        raise UsageError(f"{given}: DuckDB cannot use it ({str(e).splitlines()[0]}); a memory "
                         "limit reads like 1GB or 512MB") from None
