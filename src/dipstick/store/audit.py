"""The audit trail: who signed in (or failed to), uploaded a package, ran a check, changed an
action or a user — when (UTC), from where (the client's address, or ``cli``), what (an action
name, its target and a small JSON detail).

One function writes it, :func:`record`, on the caller's connection or ORM session, so an
entry about a database change commits or rolls back with that change: the trail never claims
a change that did not happen, and no change escapes it. What is not a database write (a
sign-in, a failed one, an upload of a zip to disk) is recorded in a transaction of its own
(:func:`dipstick.store.audit_log.record_alone`). Details are written by the call sites and
never hold a password or a token (docs/security.md, section D).

Entries older than ``DIPSTICK_AUDIT_DAYS`` (default 400) are deleted by every :func:`record`
(one indexed ``DELETE``, in the same transaction) and by ``dipstick audit --prune``
(:mod:`dipstick.store.audit_log` lists and prunes): the trail
is bounded without a scheduler.
"""

from __future__ import annotations

import getpass
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, insert

from dipstick.errors import UsageError
from dipstick.settings import settings
from dipstick.store.core import audit_log

if TYPE_CHECKING:   # a stored check records its run on a Core connection, with no ORM
    from sqlalchemy.orm import Session

KEEP_DAYS = 400        # DIPSTICK_AUDIT_DAYS unset: a year and a month, for yearly reviews
MAX_KEEP_DAYS = 36500
MAX_DETAIL = 2000      # characters of JSON: a detail is a note, not a document
MAX_FIELD = 200        # characters of an actor, source, action or target
# never in a detail, whatever a call site passes (a last line of defence, not the design)
SECRET_KEYS = frozenset({"password", "token", "secret", "password_hash", "token_hash"})

COLUMNS = audit_log.c


@dataclass(frozen=True)
class Actor:
    """Who acts, and from where: a signed-in user's e-mail and client address, or the OS user
    running the command line (source ``cli``)."""

    who: str
    source: str

    @classmethod
    def cli(cls) -> Actor:
        """The person at the terminal, as the operating system knows them."""
        try:
            name = getpass.getuser()
        except (KeyError, OSError):   # no passwd entry and no LOGNAME (a bare container)
            name = "unknown"
        return cls(name, "cli")


def keep_days() -> int:
    """``DIPSTICK_AUDIT_DAYS``: how long an entry is kept (a clear error when it is no number
    of days from 1 to 36,500)."""
    given = settings().audit_days
    if given is None:
        return KEEP_DAYS
    days = given.strip()
    if not re.fullmatch(r"[0-9]{1,5}", days) or not 1 <= int(days) <= MAX_KEEP_DAYS:
        raise UsageError(f"DIPSTICK_AUDIT_DAYS must be a whole number of days from 1 to "
                         f"{MAX_KEEP_DAYS}, not {given[:20]!r}")
    return int(days)


def record(bind: Connection | Session, actor: Actor | None, action: str, target: str = "",
           detail: dict[str, Any] | None = None, *, at: datetime | None = None) -> None:
    """Write one entry in the caller's transaction (``bind``: a connection or ORM session in
    ``begin()``), and drop those older than the retention. ``actor`` None: nothing is
    recorded (a change made by dipstick itself, e.g. the demo's data)."""
    if actor is None:
        return
    now = at or datetime.now(UTC)
    row = {"at": now, "actor": actor.who[:MAX_FIELD], "source": actor.source[:MAX_FIELD],
           "action": action[:MAX_FIELD], "target": target[:MAX_FIELD],
           "detail": _clean(detail or {})}
    bind.execute(insert(audit_log), [row])
    bind.execute(delete(audit_log).where(COLUMNS.at < now - timedelta(days=keep_days())))


def _clean(detail: dict[str, Any]) -> dict[str, Any]:
    """The detail as plain JSON, without secret-named keys, bounded in size."""
    kept = {k: v for k, v in detail.items() if k.lower() not in SECRET_KEYS}
    text = json.dumps(kept, default=str, ensure_ascii=False)
    if len(text) > MAX_DETAIL:
        return {"truncated": text[:MAX_DETAIL]}
    loaded: dict[str, Any] = json.loads(text)
    return loaded
