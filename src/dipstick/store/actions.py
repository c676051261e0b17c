"""The actions repository: actions on leaks and their history, in and out as plain values.

Every write is one transaction that changes the action and appends its history row (who, when,
each field's old and new value), so an action never changes without a trace. The rules —
which leak may get an action, which status may follow which, what a done action recovered —
are the core's (:mod:`dipstick.actions`); this module reads the rows they need and keeps what
they decide. ``ledger`` and ``actions_for_run`` are the queries other pages (the one-page
summary) call.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from dipstick.actions import (
    DISMISSED,
    DONE,
    IN_PROGRESS,
    OPEN,
    PROPOSED,
    Expected,
    expected_from,
    text,
    validate_change,
)
from dipstick.actions.dismissal import Dismissed
from dipstick.actions.ledger import FORMULAS, LedgerAction, RunTotal, ledger_rows
from dipstick.actions.recovery import CAME_BACK, Observation, Recovery, recovery
from dipstick.errors import UsageError
from dipstick.store import Store
from dipstick.store.audit import Actor, record
from dipstick.store.tables import ActionChange, ActionRow, FindingRow, Run, ServiceResult

SYSTEM = "dipstick"   # the author of automatic changes (a leak that came back)


def _session(store: Store) -> sessionmaker[Session]:
    return sessionmaker(store.engine, expire_on_commit=False)


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _expected(doc: dict[str, Any]) -> Expected:
    return Expected(doc["money"], doc["hours"], doc.get("low"), doc.get("high"),
                    doc.get("formula", ""),
                    date.fromisoformat(doc["since"]) if doc.get("since") else None,
                    date.fromisoformat(doc["as_of"]), tuple(doc.get("drivers", ())))


def _run_of(session: Session, run_id: int | None) -> Run:
    query = select(Run).order_by(Run.started_at.desc(), Run.id.desc()).limit(1) \
        if run_id is None else select(Run).where(Run.id == run_id)
    run = session.scalars(query).first()
    if run is None:
        raise UsageError("no check is stored yet" if run_id is None else f"no run {run_id}")
    return run


def _finding(session: Session, run: Run, service_id: str, cause: str) -> dict[str, Any]:
    row = session.execute(
        select(FindingRow, ServiceResult.name).join(ServiceResult)
        .where(ServiceResult.run_id == run.id, ServiceResult.service_id == service_id,
               FindingRow.cause == cause)).first()
    if row is None:
        raise UsageError(f"no finding for service {service_id!r} and cause {cause!r} in run "
                         f"{run.id}")
    f = row[0]
    return {"status": f.status, "symptom_of": f.symptom_of, "evidence": f.evidence,
            "since": f.since.isoformat() if f.since else None,
            "leak_per_month": {"money": f.leak_money, "hours": f.leak_hours,
                               "low": f.leak_low, "high": f.leak_high,
                               "formula": f.leak_formula}}


def create_action(store: Store, service_id: str, cause: str, who: str, *,
                  owner: str | None = None, due: date | None = None, note: str | None = None,
                  run_id: int | None = None, now: datetime | None = None,
                  actor: Actor | None = None) -> dict[str, Any]:
    """An action on the leak of ``service_id``/``cause`` in the run (default: the latest),
    ``proposed``; the expected saving is the leak's estimate in that run. Refused (UsageError)
    when the cause is not a root leak there, or an open action on it already exists.
    ``actor``: for the audit trail, written in the same transaction."""
    at = _now(now)
    with store._guard("create an action in"), _session(store).begin() as session:
        run = _run_of(session, run_id)
        expected = expected_from(_finding(session, run, service_id, cause), run.as_of)
        svc_owner = session.scalars(select(ServiceResult.owner).where(
            ServiceResult.run_id == run.id, ServiceResult.service_id == service_id)).first()
        taken = session.scalars(select(ActionRow.id).where(
            ActionRow.organisation == run.organisation, ActionRow.service_id == service_id,
            ActionRow.cause == cause, ActionRow.status.in_(sorted(OPEN)))).first()
        if taken is not None:
            raise UsageError(f"this leak already has an open action (#{taken})")
        row = ActionRow(organisation=run.organisation, service_id=service_id, cause=cause,
                        run_id=run.id, owner=text(owner or svc_owner, "owner", True),
                        due=due, status=PROPOSED, note=text(note, "note"),
                        expected=expected.to_json(), created_at=at, created_by=who,
                        updated_at=at)
        row.changes.append(ActionChange(at=at, by=who, note="created", changes={
            "status": [None, PROPOSED], "owner": [None, row.owner],
            "due": [None, _iso(due)]}))
        session.add(row)
        session.flush()
        action_id = row.id
        record(session, actor, "action.create", f"action:{action_id}",
               {"service": service_id, "cause": cause, "owner": row.owner, "by": who},
               at=at)
    return get_action(store, action_id)


def update_action(store: Store, action_id: int, who: str, *, status: str | None = None,
                  on: date | None = None, owner: str | None = None, due: date | None = None,
                  reason: str | None = None, note: str | None = None,
                  now: datetime | None = None, actor: Actor | None = None) -> dict[str, Any]:
    """Change an action's status (``on``: the done or dismissal date, default today), owner,
    due date or note, with one history row (and, with ``actor``, one audit entry); refused
    (UsageError) when the loop forbids it."""
    at = _now(now)
    with store._guard("update an action in"), _session(store).begin() as session:
        row = session.get(ActionRow, action_id)
        if row is None:
            raise UsageError(f"no action {action_id}")
        validate_change(row.status, status, reason, on, _expected(row.expected).as_of)
        changes: dict[str, list[Any]] = {}

        def put(field: str, value: Any) -> None:
            old = getattr(row, field)
            if value != old:
                changes[field] = [_iso(old), _iso(value)]
                setattr(row, field, value)

        if owner is not None:
            put("owner", text(owner, "owner", True))
        if due is not None:
            put("due", due)
        if status is not None and status != row.status:
            put("status", status)
            if status == DONE:
                put("done_on", on or at.date())
            elif status == DISMISSED:
                put("dismissed_on", on or at.date())
                put("reason", text(reason, "reason", True))
            if status in OPEN:   # reopened: the old dates stay in the history only
                put("done_on", None)
                put("dismissed_on", None)
                put("reason", None)
        note = text(note, "note")
        if not changes and note is None:
            raise UsageError("nothing to change")
        row.updated_at = at
        session.add(ActionChange(action_id=row.id, at=at, by=who, changes=changes, note=note))
        record(session, actor, "action.change", f"action:{action_id}",
               {"service": row.service_id, "cause": row.cause, "changes": changes,
                "note": note is not None, "by": who}, at=at)
    return get_action(store, action_id)


def get_action(store: Store, action_id: int) -> dict[str, Any]:
    """One action with its history (oldest first) and, when done, what it recovered."""
    with store._guard("read an action from"), _session(store)() as session:
        row = session.scalars(select(ActionRow).where(ActionRow.id == action_id)
                              .options(selectinload(ActionRow.changes))).first()
        if row is None:
            raise UsageError(f"no action {action_id}")
        checks = _observations(session, row.organisation, [(row.service_id, row.cause)])
        return _json(row, checks.get((row.service_id, row.cause), []), history=True)


def list_actions(store: Store, *, organisation: str | None = None,
                 service_id: str | None = None, status: str | None = None,
                 history: bool = False) -> list[dict[str, Any]]:
    """Actions, newest first, optionally of one organisation, service or status."""
    query = select(ActionRow).order_by(ActionRow.id.desc())
    if organisation is not None:
        query = query.where(ActionRow.organisation == organisation)
    if service_id is not None:
        query = query.where(ActionRow.service_id == service_id)
    if status is not None:
        query = query.where(ActionRow.status == status)
    if history:
        query = query.options(selectinload(ActionRow.changes))
    with store._guard("list the actions in"), _session(store)() as session:
        rows = list(session.scalars(query))
        checks: dict[tuple[str, str], list[Observation]] = {}
        for org in {r.organisation for r in rows}:
            checks.update(_observations(session, org, [(r.service_id, r.cause) for r in rows
                                                       if r.organisation == org]))
        return [_json(r, checks.get((r.service_id, r.cause), []), history) for r in rows]


def settle(store: Store, now: datetime | None = None) -> list[int]:
    """Reopen every done action whose leak came back (recovered in one check, leaking again
    in a later one): status back to in progress, with a history row by ``dipstick``. Called
    after a run is stored; returns the reopened ids. (:func:`dipstick.store.settle.settle`
    calls it only when a done action exists: most stored checks never import this module.)"""
    at = _now(now)
    reopened: list[int] = []
    with store._guard("settle the actions in"), _session(store).begin() as session:
        done = list(session.scalars(select(ActionRow).where(ActionRow.status == DONE)))
        for org in {r.organisation for r in done}:
            mine = [r for r in done if r.organisation == org]
            checks = _observations(session, org, [(r.service_id, r.cause) for r in mine])
            for row in mine:
                if row.done_on is None:
                    continue
                rec = recovery(_expected(row.expected), row.done_on,
                               checks.get((row.service_id, row.cause), []))
                if rec.state != CAME_BACK:
                    continue
                session.add(ActionChange(
                    action_id=row.id, at=at, by=SYSTEM,
                    changes={"status": [DONE, IN_PROGRESS], "done_on": [_iso(row.done_on), None]},
                    note=f"came back: {rec.reason} (run #{rec.came_back_run})"))
                row.status, row.done_on, row.updated_at = IN_PROGRESS, None, at
                reopened.append(row.id)
    return reopened


def dismissed(store: Store, organisation: str) -> dict[tuple[str, str], Dismissed]:
    """The dismissed leaks of the organisation (the newest action of each service and cause,
    when it is dismissed) with their evidence then: what the alerts keep quiet about."""
    query = (select(ActionRow).where(ActionRow.organisation == organisation)
             .order_by(ActionRow.id))
    with store._guard("read the dismissed actions in"), _session(store)() as session:
        newest = {(r.service_id, r.cause): r for r in session.scalars(query)}
    return {pair: Dismissed(r.id, float(r.expected["money"]), _expected(r.expected).since)
            for pair, r in newest.items() if r.status == DISMISSED}


def ledger(store: Store, organisation: str | None = None) -> dict[str, Any]:
    """The portfolio ledger over the stored runs of the organisation (default: the latest
    run's): per run, value at risk, value recovered (with its range) and open actions, oldest
    first, with the formulas (:mod:`dipstick.actions.ledger`)."""
    with store._guard("read the ledger in"), _session(store)() as session:
        if organisation is None:
            latest = session.scalars(select(Run).order_by(Run.started_at.desc(),
                                                          Run.id.desc()).limit(1)).first()
            if latest is None:
                return {"organisation": None, "currency": None, "rows": [],
                        "formulas": FORMULAS}
            organisation = latest.organisation
        runs = session.execute(select(Run.id, Run.as_of, Run.leak_money, Run.currency)
                               .where(Run.organisation == organisation)).all()
        actions = _ledger_actions(session, organisation)
    rows = ledger_rows([RunTotal(r.id, r.as_of, r.leak_money, r.currency) for r in runs],
                       actions)
    return {"organisation": organisation, "currency": rows[-1]["currency"] if rows else None,
            "rows": rows, "formulas": FORMULAS}


def latest_by_leak(store: Store, organisation: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(service, cause) → the newest action on that leak (id, status, owner, due): what the
    portfolio's largest leaks show beside each leak. One query over the actions alone."""
    query = (select(ActionRow.id, ActionRow.service_id, ActionRow.cause, ActionRow.status,
                    ActionRow.owner, ActionRow.due)
             .where(ActionRow.organisation == organisation).order_by(ActionRow.id))
    with store._guard("read the actions in"), _session(store)() as session:
        return {(sid, cause): {"id": aid, "status": status, "owner": owner, "due": _iso(due)}
                for aid, sid, cause, status, owner, due in session.execute(query)}


def actions_for_run(store: Store, run_id: int) -> list[dict[str, Any]]:
    """The actions a run's readers care about: those on leaks found by the run's as-of date,
    each with what it recovered as measured by the checks up to that run (``recovery``),
    largest expected saving first."""
    with store._guard("read the actions of a run in"), _session(store)() as session:
        run = _run_of(session, run_id)
        rows = list(session.scalars(select(ActionRow).where(
            ActionRow.organisation == run.organisation)))
        checks = _observations(session, run.organisation,
                               [(r.service_id, r.cause) for r in rows])
        out = [_json(r, [c for c in checks.get((r.service_id, r.cause), [])
                         if c.as_of <= run.as_of], False)
               for r in rows if _expected(r.expected).as_of <= run.as_of]
    return sorted(out, key=lambda a: (-a["expected"]["money"], a["id"]))


def _ledger_actions(session: Session, organisation: str) -> list[LedgerAction]:
    rows = list(session.scalars(select(ActionRow).where(ActionRow.organisation == organisation)))
    checks = _observations(session, organisation, [(r.service_id, r.cause) for r in rows])
    return [LedgerAction(r.id, r.status, _expected(r.expected), r.done_on, r.dismissed_on,
                         checks.get((r.service_id, r.cause), [])) for r in rows]


def _observations(session: Session, organisation: str, pairs: Sequence[tuple[str, str]]
                  ) -> dict[tuple[str, str], list[Observation]]:
    """Every stored check's finding for each (service, cause) of the organisation."""
    services = sorted({s for s, _ in pairs})
    if not services:
        return {}
    query = (select(ServiceResult.service_id, FindingRow.cause, FindingRow.status,
                    FindingRow.leak_money, FindingRow.leak_low, FindingRow.leak_high,
                    FindingRow.symptom_of, FindingRow.basis, Run.id, Run.as_of,
                    Run.window_days)
             .join(ServiceResult, FindingRow.service_result_id == ServiceResult.id)
             .join(Run, ServiceResult.run_id == Run.id)
             .where(Run.organisation == organisation, ServiceResult.service_id.in_(services)))
    wanted = set(pairs)
    out: dict[tuple[str, str], list[Observation]] = {}
    for r in session.execute(query):
        if (r.service_id, r.cause) in wanted:
            out.setdefault((r.service_id, r.cause), []).append(Observation(
                r.id, r.as_of, r.window_days, r.status, r.leak_money, r.leak_low,
                r.leak_high, r.symptom_of, r.basis))
    return out


def _json(row: ActionRow, checks: list[Observation], history: bool) -> dict[str, Any]:
    expected = _expected(row.expected)
    rec: Recovery | None = (recovery(expected, row.done_on, checks)
                            if row.status == DONE and row.done_on else None)
    out: dict[str, Any] = {
        "id": row.id, "organisation": row.organisation, "service_id": row.service_id,
        "cause": row.cause, "run_id": row.run_id, "owner": row.owner, "due": _iso(row.due),
        "status": row.status, "reason": row.reason, "note": row.note,
        "done_on": _iso(row.done_on), "dismissed_on": _iso(row.dismissed_on),
        "expected": row.expected, "created_at": row.created_at.isoformat(),
        "created_by": row.created_by, "updated_at": row.updated_at.isoformat(),
        "recovery": rec.to_json() if rec else None,
    }
    if history:
        out["history"] = [{"at": c.at.isoformat(), "by": c.by, "changes": c.changes,
                           "note": c.note} for c in row.changes]
    return out


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, date) else v
