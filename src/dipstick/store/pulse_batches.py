"""Pulse answers and link look-ups in batches: many requests, one statement or transaction.

A commit costs a disk flush (SQLite's WAL sync, PostgreSQL's WAL flush) and, through the ORM,
about a millisecond of CPU; a thousand phones answering at once queued behind one another
(issue 16: 87–125 answers/s). Here a request hands its answer to the engine's writer thread
and waits on a future; the writer takes every answer waiting (up to :data:`MAX_BATCH`), stores
them in one transaction with set-wise statements, commits, and only then resolves each
request's future — so an answer is still committed before its 200 is sent (group commit).
Link look-ups (every form served, every answer posted) are batched the same way by the
engine's reader thread: one query for all the links asked meanwhile.

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
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, cast

from sqlalchemy import Engine, Table, insert, select, update

from dipstick.store import Store
from dipstick.store.core import pulse_answers
from dipstick.store.pulse import AnswerRow, Outcome, Target, add_answer, find_links, sqlite_lock
from dipstick.store.pulse_tables import PulseInvitation, PulseOpenUse

MAX_BATCH = 500       # requests per batch (bounds the statements' parameter lists)
IDLE_S = 5.0          # a batch thread with nothing to do for this long ends (a new one starts)

ANSWERS = pulse_answers
INVITATIONS = cast(Table, PulseInvitation.__table__)
OPEN_USES = cast(Table, PulseOpenUse.__table__)


class _Item(Protocol):
    @property
    def done(self) -> Future[Any]: ...


T = TypeVar("T", bound=_Item)


@dataclass
class PendingAnswer:
    """An answer waiting for its group commit, and the future its request waits on."""

    store: Store
    answer: AnswerRow
    invitation_id: int | None
    browser_hash: str | None
    done: Future[Outcome] = field(default_factory=Future)


@dataclass
class _Lookup:
    store: Store
    token_hash: str
    done: Future[Target | None] = field(default_factory=Future)


class _Batches(Generic[T]):
    """A queue and, while there is work, one thread handing all it holds to ``handle``.
    Holds no reference to the engine (items carry their store), so an engine disposed and
    dropped is not kept alive by its queue."""

    def __init__(self, name: str, handle: Callable[[list[T]], None]) -> None:
        self._name, self._handle = name, handle
        self._cond = threading.Condition()
        self._queue: list[T] = []
        self._running = False

    def put(self, item: T) -> None:
        with self._cond:
            self._queue.append(item)
            if self._running:
                self._cond.notify()
                return
            self._running = True
        threading.Thread(target=self._run, name=self._name, daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._queue:
                    self._cond.wait(IDLE_S)
                if not self._queue:
                    self._running = False
                    return
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            # a request gone meanwhile (its future cancelled) is dropped: nobody was told 200
            batch = [x for x in batch if x.done.set_running_or_notify_cancel()]
            try:
                if batch:
                    self._handle(batch)
            except BaseException as e:     # never leave a request waiting on a dead thread
                for x in batch:
                    if not x.done.done():
                        x.done.set_exception(e)


_writers: weakref.WeakKeyDictionary[Engine, _Batches[PendingAnswer]] = weakref.WeakKeyDictionary()
_readers: weakref.WeakKeyDictionary[Engine, _Batches[_Lookup]] = weakref.WeakKeyDictionary()
_guard = threading.Lock()


def _queue(queues: weakref.WeakKeyDictionary[Engine, _Batches[T]], store: Store, name: str,
           handle: Callable[[list[T]], None]) -> _Batches[T]:
    """The store's engine's queue in ``queues``, started on first use (one per engine)."""
    with _guard:
        queue = queues.get(store.engine)
        if queue is None:
            queue = queues[store.engine] = _Batches(name, handle)
    return queue


def enqueue(store: Store, answer: AnswerRow, *, invitation_id: int | None,
            browser_hash: str | None) -> Future[Outcome]:
    """Queue an answer for the next group commit; the future says ``stored`` or ``used``
    once committed (or raises what failed). :func:`add_answer`'s outcomes, batched."""
    item = PendingAnswer(store, answer, invitation_id, browser_hash)
    _queue(_writers, store, "dipstick-pulse-writer", commit).put(item)
    return item.done


def look_up(store: Store, token_hash: str) -> Future[Target | None]:
    """:func:`dipstick.store.pulse.find_link`, answered with the other look-ups waiting."""
    item = _Lookup(store, token_hash)
    _queue(_readers, store, "dipstick-pulse-reader", _find).put(item)
    return item.done


def _find(batch: list[_Lookup]) -> None:
    try:
        found = find_links(batch[0].store, {x.token_hash for x in batch})
    except Exception as e:
        for item in batch:
            item.done.set_exception(e)
        return
    for item in batch:
        item.done.set_result(found.get(item.token_hash))


def commit(batch: Sequence[PendingAnswer]) -> None:
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


def _store_batch(store: Store, batch: Sequence[PendingAnswer]) -> list[Outcome]:
    """The outcomes of the batch, in its order, after its one transaction committed."""
    first_inv: dict[int, int] = {}                  # invitation id → its first item
    first_open: dict[tuple[int, str], int] = {}     # (campaign, browser) → its first item
    for i, item in enumerate(batch):
        if item.invitation_id is not None:
            first_inv.setdefault(item.invitation_id, i)
        elif item.browser_hash is not None:
            first_open.setdefault((item.answer.campaign_id, item.browser_hash), i)
    stored: set[int] = set()
    lock = sqlite_lock(store, "store answers in")
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
                    seen = {tuple(r) for r in conn.execute(   # Result.tuples(): deprecated
                        select(OPEN_USES.c.campaign_id, OPEN_USES.c.browser_hash).where(
                            OPEN_USES.c.browser_hash.in_({b for _, b in first_open})))}
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
