"""The pulse repository: every query on the pulse tables, in plain values in and out (the
reads every stored check makes are in :mod:`dipstick.store.pulse_reads`, re-exported here).

``pulse/`` decides what to ask, makes the tokens and validates answers; it hands this module
token *hashes*, score dicts and question lists, so nothing here knows a token or a form.

Writes are short transactions. An invitee's answer and the mark that the invitation is used are
one transaction, and the mark is a conditional update (``answered`` false → true), so two
submissions of one link at once store exactly one answer, on SQLite and PostgreSQL alike. On
SQLite, writers of one process take turns behind a lock (SQLite has one writer at a time and a
deferred transaction cannot wait for it), and other processes are waited for (busy timeout).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from sqlalchemy import Integer, cast, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dipstick.errors import StoreError, UsageError
from dipstick.store import Store
from dipstick.store.pulse_reads import _CAMPAIGN, _campaign_of
from dipstick.store.pulse_reads import AnswerRow as AnswerRow  # the repository's, re-exported
from dipstick.store.pulse_reads import Campaign as Campaign
from dipstick.store.pulse_reads import answers as answers
from dipstick.store.pulse_reads import campaigns as campaigns
from dipstick.store.pulse_reads import sqlite_lock as sqlite_lock
from dipstick.store.pulse_tables import (
    PulseAnswer,
    PulseCampaign,
    PulseInvitation,
    PulseOpenUse,
    PulseSchedule,
)


@dataclass(frozen=True)
class Target:
    """What a link opens: the campaign and the group asked, by invitation or open link."""

    campaign: Campaign
    group: str
    invitation_id: int | None
    answered: bool


@dataclass(frozen=True)
class Imported:
    """Answers of one (service, group) from another survey tool."""

    service_id: str
    service_name: str
    group: str
    questions: dict[str, Any]
    rows: list[AnswerRow]


@dataclass(frozen=True)
class Schedule:
    """A due schedule, as much of it as opening its next campaign needs."""

    id: int
    service_id: str
    groups: tuple[str, ...]
    every_days: int
    open_days: int
    next_on: date
    package: str | None


Outcome = Literal["stored", "used", "gone"]


def _campaign(c: PulseCampaign) -> Campaign:
    return Campaign(c.id, c.organisation, c.service_id, c.service_name, tuple(c.groups),
                    dict(c.questions), c.source, c.package, c.created_at, c.created_by,
                    c.closes_on, c.open_group, c.schedule_id)


@contextmanager
def _writing(store: Store, action: str) -> Iterator[Session]:
    """One write transaction, committed on exit; SQLite writers take turns."""
    lock = sqlite_lock(store, action)
    with store._guard(action):
        if lock is not None:
            lock.acquire()
        try:
            with Session(store.engine, expire_on_commit=False) as s, s.begin():
                yield s
        finally:
            if lock is not None:
                lock.release()


@contextmanager
def _reading(store: Store, action: str) -> Iterator[Session]:
    sqlite_lock(store, action)
    with store._guard(action), Session(store.engine, expire_on_commit=False) as s:
        yield s


def add_campaign(store: Store, *, organisation: str, service_id: str, service_name: str,
                 groups: list[str], questions: dict[str, Any], created_by: str,
                 package: str | None, closes_on: date | None,
                 schedule_id: int | None) -> Campaign:
    """A new, open check-in (source ``pulse``) with the questions as they are today."""
    row = PulseCampaign(
        organisation=organisation, service_id=service_id, service_name=service_name,
        groups=groups, questions=questions, source="pulse", package=package,
        created_at=datetime.now(UTC), created_by=created_by, closes_on=closes_on,
        schedule_id=schedule_id)
    with _writing(store, "start a check-in in") as s:
        s.add(row)
    return _campaign(row)


def campaign(store: Store, campaign_id: int) -> Campaign:
    with _reading(store, "read a check-in from") as s:
        row = s.get(PulseCampaign, campaign_id)
        if row is None:
            raise UsageError(f"no check-in {campaign_id} in the app database")
        return _campaign(row)


def add_invitations(store: Store, campaign_id: int,
                    invitations: Sequence[tuple[str, str | None, str]]) -> None:
    """One unanswered invitation per (token hash, e-mail or None, group)."""
    now = datetime.now(UTC)
    with _writing(store, "store invitations in") as s:
        s.add_all(PulseInvitation(campaign_id=campaign_id, token_hash=h, email=e, group_id=g,
                                  created_at=now, answered=False) for h, e, g in invitations)


def set_open_link(store: Store, campaign_id: int, token_hash: str, group: str) -> None:
    """The campaign's one open link; the previous one stops working."""
    with _writing(store, "store an open link in") as s:
        row = s.get(PulseCampaign, campaign_id)
        if row is None:
            raise UsageError(f"no check-in {campaign_id}")
        row.open_token_hash = token_hash
        row.open_group = group


def find_link(store: Store, token_hash: str) -> Target | None:
    """What the link with this token hash opens (an invitation first, else an open link),
    open or closed; None when no link has the hash."""
    return find_links(store, [token_hash]).get(token_hash)


def find_links(store: Store, token_hashes: Collection[str]) -> dict[str, Target]:
    """:func:`find_link` for many hashes at once (a hash no link has is left out): one Core
    statement per kind of link, as this runs for every form served and answer posted."""
    sqlite_lock(store, "look up a link in")
    inv, camp = PulseInvitation.__table__.c, PulseCampaign.__table__.c
    found: dict[str, Target] = {}
    with store._guard("look up a link in"), store.engine.connect() as conn:
        for row in conn.execute(select(inv.token_hash, inv.id, inv.group_id, inv.answered,
                                       *_CAMPAIGN)
                                .join_from(PulseInvitation, PulseCampaign)
                                .where(inv.token_hash.in_(set(token_hashes)))):
            found[row[0]] = Target(_campaign_of(row[4:]), row[2], row[1], bool(row[3]))
        rest = set(token_hashes) - set(found)
        if rest:
            for row in conn.execute(select(camp.open_token_hash, *_CAMPAIGN)
                                    .where(camp.open_token_hash.in_(rest))):
                if row.open_group is not None:
                    found[row[0]] = Target(_campaign_of(row[1:]), row.open_group, None, False)
    return found


def browser_answered(store: Store, campaign_id: int, browser_hash: str) -> bool:
    with _reading(store, "look up a link in") as s:
        return s.scalar(select(PulseOpenUse.id).where(
            PulseOpenUse.campaign_id == campaign_id,
            PulseOpenUse.browser_hash == browser_hash)) is not None


def add_answer(store: Store, answer: AnswerRow, *, invitation_id: int | None,
               browser_hash: str | None) -> Outcome:
    """Store the answer and use up its invitation (or mark the browser, on an open link) in
    one transaction. ``used``: the invitation or browser has answered already, or neither was
    given; nothing changed."""
    row = PulseAnswer(campaign_id=answer.campaign_id, group_id=answer.group,
                      answered_on=answer.answered_on, scores=answer.scores,
                      recommend=answer.recommend, comment=answer.comment)
    try:
        with _writing(store, "store an answer in") as s:
            if invitation_id is not None:
                done = s.execute(update(PulseInvitation)
                                 .where(PulseInvitation.id == invitation_id,
                                        PulseInvitation.answered.is_(False))
                                 .values(answered=True))
                if done.rowcount != 1:   # type: ignore[attr-defined]
                    return "used"
            else:
                if browser_hash is None:
                    return "used"
                s.add(PulseOpenUse(campaign_id=answer.campaign_id, browser_hash=browser_hash))
                s.flush()
            s.add(row)
    except IntegrityError:
        return "used"
    except StoreError as e:     # the browser marked meanwhile (the unique pair), as wrapped
        if isinstance(e.__cause__, IntegrityError):
            return "used"
        raise
    return "stored"


def invitation_counts(store: Store, campaign_id: int) -> dict[str, tuple[int, int]]:
    """Per group: (invited, answered)."""
    query = (select(PulseInvitation.group_id, func.count(),
                    func.sum(cast(PulseInvitation.answered, Integer)))
             .where(PulseInvitation.campaign_id == campaign_id)
             .group_by(PulseInvitation.group_id))
    with _reading(store, "count the invitations in") as s:
        return {g: (int(n), int(a or 0)) for g, n, a in s.execute(query)}


def unanswered(store: Store, campaign_id: int, *, unsent_only: bool = False
               ) -> list[tuple[int, str, str]]:
    """(invitation id, e-mail, group) of invitees with an e-mail who have not answered."""
    query = (select(PulseInvitation.id, PulseInvitation.email, PulseInvitation.group_id)
             .where(PulseInvitation.campaign_id == campaign_id,
                    PulseInvitation.answered.is_(False), PulseInvitation.email.is_not(None))
             .order_by(PulseInvitation.id))
    if unsent_only:
        query = query.where(PulseInvitation.sent_at.is_(None))
    with _reading(store, "read the invitations in") as s:
        return [(i, str(e), g) for i, e, g in s.execute(query)]


def renew_invitation(store: Store, invitation_id: int, token_hash: str, *,
                     reminder: bool) -> bool:
    """Give an unanswered invitation a new token hash, marked sent (or reminded) now; False
    when it was answered meanwhile (the conditional update changed nothing)."""
    values: dict[str, Any] = {"token_hash": token_hash}
    values["reminded_at" if reminder else "sent_at"] = datetime.now(UTC)
    with _writing(store, "renew an invitation in") as s:
        done = s.execute(update(PulseInvitation)
                         .where(PulseInvitation.id == invitation_id,
                                PulseInvitation.answered.is_(False)).values(**values))
        return bool(done.rowcount == 1)   # type: ignore[attr-defined]


def unmark_sent(store: Store, invitation_id: int) -> None:
    """The invitation e-mail did not go out: try again next time."""
    with _writing(store, "update an invitation in") as s:
        s.execute(update(PulseInvitation).where(PulseInvitation.id == invitation_id)
                  .values(sent_at=None))


def last_asked(store: Store, organisation: str) -> dict[tuple[str, str], date]:
    """The day of the latest check-in started per (service, group) of the organisation."""
    with _reading(store, "read the check-ins in") as s:
        rows = s.execute(select(PulseCampaign.service_id, PulseCampaign.groups,
                                PulseCampaign.created_at)
                         .where(PulseCampaign.organisation == organisation,
                                PulseCampaign.source == "pulse"))
        out: dict[tuple[str, str], date] = {}
        for sid, groups, at in rows:
            for g in groups:
                day = at.date()
                if out.get((sid, g), date.min) < day:
                    out[(sid, g)] = day
        return out


def import_campaigns(store: Store, organisation: str, package: str, items: list[Imported],
                     created_by: str) -> list[Campaign]:
    """One closed, imported campaign per item with its answers — all in one transaction, so
    a failure imports nothing."""
    now = datetime.now(UTC)
    made = []
    with _writing(store, "import answers into") as s:
        for it in items:
            row = PulseCampaign(
                organisation=organisation, service_id=it.service_id,
                service_name=it.service_name, groups=[it.group],
                questions={it.group: it.questions}, source="import", package=package,
                created_at=now, created_by=created_by,
                closes_on=max(r.answered_on for r in it.rows))
            s.add(row)
            s.flush()
            s.add_all(PulseAnswer(campaign_id=row.id, group_id=it.group,
                                  answered_on=r.answered_on, scores=r.scores,
                                  recommend=r.recommend, comment=r.comment) for r in it.rows)
            made.append(row)
    return [_campaign(c) for c in made]


def add_schedule(store: Store, *, organisation: str, service_id: str, groups: list[str],
                 every_days: int, open_days: int, first_on: date, package: str | None,
                 created_by: str) -> int:
    """A new active schedule; its id."""
    row = PulseSchedule(organisation=organisation, service_id=service_id, groups=groups,
                        every_days=every_days, open_days=open_days, next_on=first_on,
                        package=package, created_at=datetime.now(UTC), created_by=created_by,
                        active=True)
    with _writing(store, "store a schedule in") as s:
        s.add(row)
        s.flush()
        return row.id


def due_schedules(store: Store, today: date) -> list[Schedule]:
    """The active schedules whose next date has come."""
    with _reading(store, "read the schedules in") as s:
        return [Schedule(r.id, r.service_id, tuple(r.groups), r.every_days, r.open_days,
                         r.next_on, r.package)
                for r in s.scalars(select(PulseSchedule).where(PulseSchedule.active,
                                                               PulseSchedule.next_on <= today))]


def move_schedule(store: Store, schedule_id: int, next_on: date) -> None:
    """Set the schedule's next date (nothing when it was deleted meanwhile)."""
    with _writing(store, "move a schedule on in") as s:
        row = s.get(PulseSchedule, schedule_id)
        if row is not None:
            row.next_on = next_on
