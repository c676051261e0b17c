"""The self-assessment repository: answers given on the web, in and out as plain values.

A check's prepare step (:func:`add_stored_answers`) joins them to the answers of the package's
own ``self_assessment`` file; a web answer given later than a file's answer to the same
question wins (:func:`dipstick.selfassess.latest`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import insert, select

from dipstick.errors import StoreError
from dipstick.package import Package
from dipstick.selfassess import WEB, Answer
from dipstick.store import Store, sqlite_file_missing
from dipstick.store.core import self_assessment_answers


def save_answers(store: Store, organisation: str, service_id: str, cause: str,
                 answers: Mapping[str, int], who: str, when: datetime | None = None) -> int:
    """Keep one cause's answers (question → 1–5) as given by ``who`` now; all in one
    transaction. Validation is the caller's (the web checks each against the questionnaire)."""
    now = when or datetime.now(UTC)
    rows = [{"organisation": organisation, "service_id": service_id, "cause": cause,
             "question": q, "answer": int(a), "answered_by": who, "answered_at": now}
            for q, a in answers.items()]
    if not rows:
        return 0
    with store._guard("save self-assessment answers to"), store.engine.begin() as conn:
        conn.execute(insert(self_assessment_answers), rows)
    return len(rows)


def stored_answers(store: Store, organisation: str, service_id: str | None = None
                   ) -> list[Answer]:
    """Every answer given on the web for the organisation (or one service), oldest first."""
    t = self_assessment_answers.c   # Core: a check's reads never import the ORM
    query = select(*t).where(t.organisation == organisation).order_by(t.answered_at, t.id)
    if service_id is not None:
        query = query.where(t.service_id == service_id)
    with store._guard("read self-assessment answers from"), store.engine.connect() as conn:
        return [Answer(r.service_id, r.cause, r.question, r.answer, r.answered_by,
                       r.answered_at.date(), WEB) for r in conn.execute(query)]


def add_stored_answers(store: Store, package: Package) -> int:
    """The organisation's web answers appended to the package's (a check's prepare step);
    those about services the package no longer has are left out."""
    model = package.model
    known = {s.id for s in model.services}
    mine = [a for a in stored_answers(store, model.organisation.name) if a.service in known]
    package.self_assessment = (*package.self_assessment, *mine)
    newest = max((a.date for a in mine if a.date), default=None)
    if newest and (package.latest is None or newest > package.latest):
        package.latest = newest     # as the pulse answers do: the default as-of date follows
    return len(mine)


def feed_stored_self_assessment(package: Package, database: str | None) -> int:
    """:func:`add_stored_answers` for the CLI: 0 when there is no app database, or it cannot be
    reached or is not migrated yet (a check never fails for want of self-assessments)."""
    if sqlite_file_missing(database):
        return 0
    try:
        with Store.open(database) as store:
            return add_stored_answers(store, package)
    except StoreError:
        return 0
