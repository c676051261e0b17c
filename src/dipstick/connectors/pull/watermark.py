"""Where each pull left off: the latest update time it imported, per source, kept in
``PACKAGE/.dipstick/pull-state.json``.

The watermark is written only after the import succeeded, so a failed pull is simply repeated.
The next pull starts a little before it (the overlap): records updated in the same second, or
committed late by the server, are read again, and the import's idempotency by key keeps them
from becoming duplicates.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dipstick.errors import PackageError, Problem

STATE_FILE = Path(".dipstick") / "pull-state.json"


def state_path(package: Path) -> Path:
    return package / STATE_FILE


def source_key(kind: str, url: str, what: str) -> str:
    """One watermark per source: the kind, the instance (no trailing slash) and the table or
    JQL, so two tables or two queries never share a starting point."""
    return f"{kind} {url.rstrip('/')} {what}"


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise PackageError([Problem(str(path), f"not readable JSON ({e}); delete it to pull "
                                               "again from --since")]) from None
    if not isinstance(data, dict) or not isinstance(data.get("pulls", {}), dict):
        raise PackageError([Problem(str(path), "expected an object with a 'pulls' object; "
                                               "delete it to pull again from --since")])
    return data


def read_state(package: Path, key: str) -> dict[str, Any] | None:
    """The stored entry of one source (``watermark``, ``pulled_at``, ``records``), if any."""
    entry = _read(state_path(package)).get("pulls", {}).get(key)
    return entry if isinstance(entry, dict) else None


def write_state(package: Path, key: str, watermark: str | None, records: int,
                now: datetime | None = None, order: Callable[[str], Any] = str) -> Path:
    """Record a successful pull atomically (temp file + replace): a crash leaves the old state.
    The watermark never goes back (``order`` compares two): a pull that found nothing new, or
    a slower pull finishing after a faster one, keeps the later one."""
    path = state_path(package)
    data = _read(path)
    pulls = data.setdefault("pulls", {})
    previous = pulls.get(key) or {}
    kept = previous.get("watermark")
    marks = [m for m in (watermark, kept) if isinstance(m, str) and m]
    pulls[key] = {
        "watermark": max(marks, key=order) if marks else None,
        "pulled_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "records": records,
    }
    data["version"] = 1
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".pull-state.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def start_from(since: datetime | None, watermark: datetime | None,
               overlap: timedelta) -> datetime | None:
    """Where a pull starts: the watermark minus the overlap when there is one (never before
    ``--since``), else ``--since``; ``None`` when neither is known (the caller asks for
    ``--since``)."""
    if watermark is None:
        return since
    resumed = watermark - overlap
    return max(resumed, since) if since is not None else resumed
