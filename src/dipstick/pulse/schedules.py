"""Recurring check-ins: a schedule opens a new campaign for a service's groups every
``every_days`` (a quarter by default), each open for ``open_days``.

Nothing runs in the background: ``dipstick pulse due`` (cron it, or run it before a check)
opens the campaigns whose date has come and moves each schedule on to its next date.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from dipstick.errors import UsageError
from dipstick.model import ValueModel
from dipstick.pulse.campaigns import Campaign, start_campaign
from dipstick.pulse.form import questions_for
from dipstick.store import Store
from dipstick.store import pulse as db

EVERY = {"month": 30, "quarter": 91, "half-year": 182, "year": 365}


def every_days(every: str) -> int:
    if every in EVERY:
        return EVERY[every]
    if every.isdigit() and int(every) >= 7:
        return int(every)
    raise UsageError(f"--every must be one of {', '.join(EVERY)} or a number of days ≥ 7, "
                     f"not {every!r}")


def add_schedule(store: Store, model: ValueModel, service_id: str, groups: list[str] | None,
                 every: str, open_days: int, first_on: date, package: str | None,
                 created_by: str) -> int:
    chosen, _ = questions_for(model, service_id, groups)
    return db.add_schedule(store, organisation=model.organisation.name, service_id=service_id,
                           groups=chosen, every_days=every_days(every), open_days=open_days,
                           first_on=first_on, package=package, created_by=created_by)


def open_due(store: Store, model_of: Callable[[str | None], ValueModel], today: date
             ) -> list[Campaign]:
    """Open a campaign for every active schedule whose date has come; move it on."""
    opened = []
    for sch in db.due_schedules(store, today):
        model = model_of(sch.package)
        opened.append(start_campaign(
            store, model, sch.service_id, list(sch.groups), created_by=f"schedule {sch.id}",
            package=sch.package, closes_on=today + timedelta(days=sch.open_days),
            schedule_id=sch.id, today=today))
        nxt = sch.next_on
        while nxt <= today:
            nxt += timedelta(days=sch.every_days)
        db.move_schedule(store, sch.id, nxt)
    return opened
