"""Campaigns, their links and their answers (the pulse side of the repository).

This module makes the tokens, asks :mod:`.form` which questions a campaign asks and checks
what a campaign accepts; :mod:`dipstick.store.pulse` stores it all, seeing only token hashes
and plain values (the storage, its transactions and the SQLite locking are described there).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, date, datetime

from dipstick.errors import UsageError
from dipstick.model import ValueModel
from dipstick.pulse.form import Answer, questions_for
from dipstick.pulse.tokens import digest, new_token
from dipstick.store import Store
from dipstick.store import pulse as db
from dipstick.store.pulse import (
    AnswerRow,
    Campaign,
    Imported,
    Outcome,
    Target,
    answers,
    campaigns,
    import_campaigns,
    invitation_counts,
    last_asked,
    unanswered,
    unmark_sent,
)
from dipstick.store.pulse_batches import enqueue, look_up

__all__ = [
    "AnswerRow", "Campaign", "Imported", "Link", "Outcome", "Target", "add_invitations",
    "answers", "browser_answered", "campaigns", "get", "import_campaigns", "invitation_counts",
    "last_asked", "lookup", "lookup_later", "open_link", "reissue", "start_campaign", "submit",
    "submit_later", "unanswered", "unmark_sent",
]


@dataclass(frozen=True)
class Link:
    """A link to hand out: its token is shown once and then only its hash is kept."""

    token: str
    group: str
    email: str | None


def start_campaign(store: Store, model: ValueModel, service_id: str,
                   groups: list[str] | None = None, *, created_by: str,
                   package: str | None = None, closes_on: date | None = None,
                   schedule_id: int | None = None, today: date | None = None) -> Campaign:
    """A new check-in of the service with the groups (default: its consumers)."""
    today = today or datetime.now(UTC).date()
    if closes_on is not None and closes_on < today:
        raise UsageError(f"the closing date {closes_on} is in the past")
    chosen, questions = questions_for(model, service_id, groups)
    return db.add_campaign(
        store, organisation=model.organisation.name, service_id=service_id,
        service_name=model.service(service_id).name, groups=chosen, questions=questions,
        created_by=created_by, package=package, closes_on=closes_on, schedule_id=schedule_id)


def get(store: Store, campaign_id: int) -> Campaign:
    return db.campaign(store, campaign_id)


def add_invitations(store: Store, campaign: Campaign,
                    invitees: Sequence[tuple[str | None, str]]) -> list[Link]:
    """One single-use link per (e-mail or None, group); the tokens are returned once."""
    unknown = sorted({g for _, g in invitees if g not in campaign.groups})
    if unknown:
        raise UsageError(f"check-in {campaign.id} does not ask group(s) {', '.join(unknown)} "
                         f"(it asks {', '.join(campaign.groups)})")
    links = [Link(new_token(), g, e) for e, g in invitees]
    db.add_invitations(store, campaign.id, [(digest(x.token), x.email, x.group) for x in links])
    return links


def open_link(store: Store, campaign: Campaign, group: str) -> Link:
    """The campaign's open link (one per campaign, for one group; a new one replaces it)."""
    if group not in campaign.groups:
        raise UsageError(f"check-in {campaign.id} does not ask group {group!r}")
    link = Link(new_token(), group, None)
    db.set_open_link(store, campaign.id, digest(link.token), group)
    return link


def lookup(store: Store, token: str, today: date) -> Target | None:
    """What the token opens, or None when it is unknown or its check-in has closed (the two
    are not told apart, so a closed link reveals nothing)."""
    return _if_open(db.find_link(store, digest(token)), today)


def lookup_later(store: Store, token: str, today: date) -> Future[Target | None]:
    """:func:`lookup` without waiting, batched with the other look-ups of the moment."""
    found = look_up(store, digest(token))
    out: Future[Target | None] = Future()

    def done(f: Future[Target | None]) -> None:
        error = f.exception()
        if error is not None:
            out.set_exception(error)
        else:
            out.set_result(_if_open(f.result(), today))
    found.add_done_callback(done)
    return out


def _if_open(target: Target | None, today: date) -> Target | None:
    return target if target is not None and target.campaign.is_open(today) else None


def browser_answered(store: Store, campaign_id: int, browser: str) -> bool:
    return db.browser_answered(store, campaign_id, digest(browser))


def submit(store: Store, target: Target, answer: Answer, today: date,
           browser: str | None = None) -> Outcome:
    """Store the answer and use up the link in one transaction. ``used``: the invitation (or
    this browser, on an open link) has answered already; nothing changed."""
    return submit_later(store, target, answer, today, browser).result()


def submit_later(store: Store, target: Target, answer: Answer, today: date,
                 browser: str | None = None) -> Future[Outcome]:
    """:func:`submit` without waiting: the outcome once the answer's group commit is done
    (the web awaits it, so no thread waits per request)."""
    row = AnswerRow(target.campaign.id, target.group, today, dict(answer.scores),
                    answer.recommend, answer.comment)
    return enqueue(store, row, invitation_id=target.invitation_id,
                   browser_hash=None if browser is None else digest(browser))


def reissue(store: Store, invitation_id: int, *, reminder: bool) -> str | None:
    """A fresh token for an unanswered invitation, marked sent (or reminded) now; the link it
    replaces stops working. None when it was answered meanwhile."""
    token = new_token()
    renewed = db.renew_invitation(store, invitation_id, digest(token), reminder=reminder)
    return token if renewed else None
