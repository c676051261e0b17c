"""Group commit of pulse answers: many answers, one transaction, each acknowledged after it.

A commit costs a disk flush (SQLite's WAL sync, PostgreSQL's WAL flush) and, through the ORM,
about a millisecond of CPU; a thousand phones answering at once queued behind one another
(issue 16: 87–125 answers/s). Here a request hands its answer to the engine's writer thread
and waits; the writer takes every answer waiting (up to :data:`MAX_BATCH`), stores them in
one transaction with set-wise statements, commits, and only then resolves each request's
future — so an answer is still committed before its 200 is sent.

The rules of :func:`dipstick.store.pulse.add_answer` hold batch-wise: an invitation is used
by a conditional update (``answered`` false → true, the ids it changed returned), so two
submissions of one link store one answer, whether they meet in one batch or in two; an open
link's browser is marked once per campaign. If the batch fails, nothing of it was committed
and each answer is tried again alone (its own transaction), so one bad answer fails only its
own request — with an error, never a 200.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Engine, Table, insert, select, update

from dipstick.store import Store
from dipstick.store.pulse import AnswerRow, Outcome, _lock, add_answer
from dipstick.store.pulse_tables import PulseAnswer, PulseInvitation, PulseOpenUse

MAX_BATCH = 500       # answers per transaction (bounds the statements' parameter lists)
IDLE_S = 5.0          # a writer thread with nothing to do for this long ends (a new one starts)

ANSWERS = cast(Table, PulseAnswer.__table__)
INVITATIONS = cast(Table, PulseInvitation.__table__)
OPEN_USES = cast(Table, PulseOpenUse.__table__)


@dataclass
class _Item:
    store: Store
    answer: AnswerRow
    invitation_id: int | None
    browser_hash: str | None
    done: Future[Outcome] = field(default_factory=Future)


class _Writer:
    """The writer of one engine: a queue and, while there is work, one thread draining it.
    Holds no reference to the engine (items carry their store), so an engine disposed and
    dropped is not kept alive by its writer."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[_Item] = []
        self._running = False

    def put(self, item: _Item) -> None:
        with self._cond:
            self._queue.append(item)
            if self._running:
                self._cond.notify()
                return
            self._running = True
        threading.Thread(target=self._run, name="dipstick-pulse-writer", daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._queue:
                    self._cond.wait(IDLE_S)
                if not self._queue:
                    self._running = False
                    return
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            commit(batch)


_writers: weakref.WeakKeyDictionary[Engine, _Writer] = weakref.WeakKeyDictionary()
_writers_guard = threading.Lock()


def enqueue(store: Store, answer: AnswerRow, *, invitation_id: int | None,
            browser_hash: str | None) -> Future[Outcome]:
    """Queue an answer for the next group commit; the future says ``stored`` or ``used``
    once committed (or raises what failed). :func:`add_answer`'s outcomes, batched."""
    item = _Item(store, answer, invitation_id, browser_hash)
    with _writers_guard:
        writer = _writers.get(store.engine)
        if writer is None:
            writer = _writers[store.engine] = _Writer()
    writer.put(item)
    return item.done


def commit(batch: Sequence[_Item]) -> None:
    """Store a batch in one transaction and resolve each item's future; on failure, each
    item alone (see the module's doc)."""
    try:
        outcomes = _store_batch(batch[0].store, batch)
    except Exception:
        for item in batch:
            try:
                outcome = add_answer(item.store, item.answer, invitation_id=item.invitation_id,
                                     browser_hash=item.browser_hash)
            except Exception as e:
                item.done.set_exception(e)
            else:
                item.done.set_result(outcome)
        return
    for item, outcome in zip(batch, outcomes, strict=True):
        item.done.set_result(outcome)


def _store_batch(store: Store, batch: Sequence[_Item]) -> list[Outcome]:
    """The outcomes of the batch, in its order, after its one transaction committed."""
    first_inv: dict[int, int] = {}                  # invitation id → its first item
    first_open: dict[tuple[int, str], int] = {}     # (campaign, browser) → its first item
    for i, item in enumerate(batch):
        if item.invitation_id is not None:
            first_inv.setdefault(item.invitation_id, i)
        elif item.browser_hash is not None:
            first_open.setdefault((item.answer.campaign_id, item.browser_hash), i)
    stored: set[int] = set()
    sqlite = store.engine.dialect.name == "sqlite"
    lock = _lock(store.engine) if sqlite else None
    with store._guard("store answers in"):
        if lock is not None:
            lock.acquire()
        try:
            with store.engine.begin() as conn:
                if first_inv:
                    used = conn.execute(
                        update(INVITATIONS)
                        .where(INVITATIONS.c.id.in_(list(first_inv)),
                               INVITATIONS.c.answered.is_(False))
                        .values(answered=True).returning(INVITATIONS.c.id)).scalars()
                    stored.update(first_inv[x] for x in used)
                if first_open:
                    seen = set(conn.execute(
                        select(OPEN_USES.c.campaign_id, OPEN_USES.c.browser_hash).where(
                            OPEN_USES.c.browser_hash.in_({b for _, b in first_open}))).tuples())
                    fresh = [k for k in first_open if k not in seen]
                    if fresh:
                        conn.execute(insert(OPEN_USES), [
                            {"campaign_id": c, "browser_hash": b} for c, b in fresh])
                    stored.update(first_open[k] for k in fresh)
                if stored:
                    conn.execute(insert(ANSWERS), [_values(batch[i].answer)
                                                   for i in sorted(stored)])
        finally:
            if lock is not None:
                lock.release()
    return ["stored" if i in stored else "used" for i in range(len(batch))]


def _values(a: AnswerRow) -> dict[str, Any]:
    return {"campaign_id": a.campaign_id, "group_id": a.group, "answered_on": a.answered_on,
            "scores": a.scores, "recommend": a.recommend, "comment": a.comment}
