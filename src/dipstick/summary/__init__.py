"""The one page for the executive: value at risk, value recovered, the largest leaks and their
actions, and what the check could judge, built once as a :class:`Summary` and rendered as
HTML (:mod:`dipstick.summary.html`), PDF (:mod:`dipstick.summary.pdf`) and e-mail
(:mod:`dipstick.digest`).

:func:`build_summary` is pure: it reads a check (a :class:`~dipstick.check.CheckResult` or a
stored run's JSON, the same shape), the run history and, when the actions work supplies them,
each leak's action and the ledger's total. It never opens the database or the package, so the
web, the CLI and the digest build the same page from what they already hold. Every figure
carries its formula (:data:`FORMULAS`), stated beside it on each rendering.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from dipstick.check import CheckResult
from dipstick.findings import SELF_ASSESSED, Status
from dipstick.indicators.registry import INDICATORS

__all__ = ["FORMULAS", "TOP_LEAKS", "ActionView", "CoverageLine", "LeakLine", "Point",
           "Recovered", "RunLike", "Summary", "build_summary"]

TOP_LEAKS = 10
#: action statuses after which an action is no longer due (its due date is not "overdue")
CLOSED = frozenset({"done", "dismissed"})   # dipstick.actions.STATUSES that end an action

#: Each figure's formula or assumption, printed next to it on every rendering.
FORMULAS: Mapping[str, str] = {
    "total": "Sum over services of each one's largest leaking root cause per month (causes are "
             "not added: they may count the same money twice; symptoms are priced in their "
             "root).",
    "range": "Sum of each service's low and high ends (its formula with inputs at their 95% "
             "intervals; no range: its estimate at both ends).",
    "change": "This check's total minus the previous stored check's.",
    "history": "One point per stored check of this organisation (the latest run of each "
               "as-of date): its total leak per month, as above.",
    "top": "Services by their headline leak per month: the root cause's own formula (in the "
           "full report), its low–high range; since = start of the shift behind it; owner = "
           "the action's, else the service's.",
    "recovered_ledger": "The actions ledger's total: value recovered per month, re-measured "
                        "on the signals that drove each leak after its action was done.",
    "recovered_actions": "Sum over the leaks' actions of the value recovered per month each "
                         "reports (re-measured after the action was done).",
    "recovered_none": "No action recorded yet: nothing can have been recovered or measured.",
    "coverage": "Rows of each table in the window and the baseline; a week is complete when its "
                "rows reach a quarter of the usual week; a period with under a quarter of its "
                "weeks complete is thin and not judged (docs/coverage.md).",
    "judged": "Judged = ok, watch or leak; unknown = should apply, the data cannot tell; n/a = "
              "cannot apply; self-assessed = the day-one questionnaire's, until data replaces it.",
}


class RunLike(Protocol):
    """A stored run as the history needs it (``dipstick.store.RunSummary`` is one)."""

    @property
    def as_of(self) -> date: ...
    @property
    def leak_money(self) -> float: ...
    @property
    def organisation(self) -> str: ...
    @property
    def started_at(self) -> datetime: ...


@dataclass(frozen=True)
class Point:
    """The organisation's total leak per month as one check saw it."""

    as_of: date
    money: float


@dataclass(frozen=True)
class ActionView:
    """A leak's action as the actions work hands it over (see :func:`build_summary`)."""

    status: str
    owner: str | None = None
    due: date | None = None
    recovered_money: float | None = None
    recovered_low: float | None = None
    recovered_high: float | None = None
    overdue: bool = False


@dataclass(frozen=True)
class LeakLine:
    """One of the largest leaks: a service's headline leak, its root cause and its action."""

    service_id: str
    service: str
    owner: str | None
    cause: str
    cause_title: str
    money: float
    low: float | None
    high: float | None
    hours: float
    formula: str
    since: date | None
    story: str
    symptoms: tuple[str, ...]
    action: ActionView | None

    @property
    def who(self) -> str:
        """Who answers for it: the action's owner, else the service's owner."""
        return (self.action.owner if self.action and self.action.owner else None) \
            or self.owner or "—"


@dataclass(frozen=True)
class Recovered:
    """Value recovered per month; ``money`` is None when there is nothing to measure yet."""

    money: float | None
    low: float | None
    high: float | None
    actions: int          # actions known (0 when the actions work supplied none)
    done: int             # of which closed
    formula: str


@dataclass(frozen=True)
class CoverageLine:
    """One table: what the window and the baseline hold, and why a period is thin."""

    table: str
    window_rows: int
    window_dates: str
    window_weeks: tuple[int, int]
    baseline_rows: int
    baseline_dates: str
    baseline_weeks: tuple[int, int]
    thin_window: str | None
    thin_baseline: str | None


@dataclass(frozen=True)
class Summary:
    """Everything on the one page; every renderer reads only this."""

    organisation: str
    package: str                          # the data package checked (its path)
    currency: str
    as_of: date
    as_of_reason: str
    window: str
    baseline: str
    generated: date
    services: int
    counts: Mapping[str, int]            # services per light
    leak_money: float
    leak_low: float
    leak_high: float
    leak_hours: float
    unpriced: int                         # leaking services with no money estimate
    previous: Point | None                # the stored check before this one
    history: tuple[Point, ...]            # oldest first, this check last
    top: tuple[LeakLine, ...]
    leaking: int                          # leaking services in all (the top shows TOP_LEAKS)
    recovered: Recovered
    coverage: tuple[CoverageLine, ...]
    judged: Mapping[str, int]             # service × cause pairs: judged, unknown, n/a, ...
    formulas: Mapping[str, str]

    @property
    def change(self) -> float | None:
        return None if self.previous is None else self.leak_money - self.previous.money


def build_summary(check: CheckResult | Mapping[str, Any], history: Iterable[RunLike] = (),
                  actions: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
                  ledger: Mapping[str, Any] | None = None, *,
                  today: date | None = None) -> Summary:
    """The summary of one check.

    ``history``: stored runs (any organisation; only this one's are used, up to this check).
    ``actions``: ``(service id, cause) -> {"status", "owner", "due", "recovered_money",
    "recovered_low", "recovered_high"}`` (all but ``status`` optional; ``due`` a date or ISO
    text); a leak without one shows "no action yet". ``ledger``: ``{"money", "low", "high"}``
    (value recovered per month; ``low``/``high`` optional), preferred over the actions' sum.
    """
    doc = check.to_json() if isinstance(check, CheckResult) else check
    as_of = date.fromisoformat(doc["as_of"])
    day = today or date.today()
    services = doc["services"]
    leaking = [s for s in services if s["status"] == Status.LEAK.value]
    priced = [s for s in leaking if s["leak_per_month"]["money"] > 0]
    money = float(doc["summary"]["leak_per_month"]["money"])
    points = _history(doc["organisation"], as_of, money, history)
    views = {key: _action(v, day) for key, v in (actions or {}).items()}
    top = sorted(priced, key=lambda s: (-s["leak_per_month"]["money"], s["name"]))[:TOP_LEAKS]
    return Summary(
        organisation=doc["organisation"], package=doc.get("package") or "",
        currency=doc["currency"], as_of=as_of,
        as_of_reason=doc.get("as_of_reason") or "", window=doc["window"]["current"],
        baseline=doc["window"]["baseline"], generated=day, services=len(services),
        counts={s.value: int(doc["summary"].get(s.value, 0)) for s in Status
                if s is not Status.NA},
        leak_money=money,
        leak_low=sum(_end(s, "low") for s in priced),
        leak_high=sum(_end(s, "high") for s in priced),
        leak_hours=float(doc["summary"]["leak_per_month"]["hours"]),
        unpriced=len(leaking) - len(priced),
        previous=points[-2] if len(points) > 1 else None, history=tuple(points),
        top=tuple(_line(s, views) for s in top), leaking=len(leaking),
        recovered=_recovered(views, ledger),
        coverage=tuple(_coverage(c) for c in doc.get("coverage") or ()),
        judged=_judged(services), formulas=FORMULAS)


def cause_title(cause: str) -> str:
    return next((i.title for i in INDICATORS if i.cause == cause),
                cause.replace("_", " ").capitalize())


def _history(organisation: str, as_of: date, money: float,
             runs: Iterable[RunLike]) -> list[Point]:
    """The latest run of each as-of date up to this check; this check stands for its own date
    (a re-check of the same day replaces the stored one)."""
    latest: dict[date, RunLike] = {}
    for r in runs:
        if r.organisation == organisation and r.as_of < as_of and (
                r.as_of not in latest or r.started_at >= latest[r.as_of].started_at):
            latest[r.as_of] = r
    points = [Point(d, float(latest[d].leak_money)) for d in sorted(latest)]
    return [*points, Point(as_of, money)]


def _end(service: Mapping[str, Any], end: str) -> float:
    leak = service["leak_per_month"]
    value = leak.get(end)
    return float(leak["money"] if value is None else value)


def _line(s: Mapping[str, Any], actions: Mapping[tuple[str, str], ActionView]) -> LeakLine:
    leak = s["leak_per_month"]
    cause = leak["cause"] or ""
    finding = s["causes"].get(cause, {})
    episode = next((e for e in s.get("episodes") or () if e["root"] == cause), None)
    since = (finding.get("since") or (episode or {}).get("since") or s.get("since"))
    return LeakLine(
        service_id=s["id"], service=s["name"], owner=s.get("owner"), cause=cause,
        cause_title=cause_title(cause), money=float(leak["money"]), low=leak.get("low"),
        high=leak.get("high"), hours=float(leak.get("hours") or 0.0),
        formula=leak.get("formula") or "",
        since=date.fromisoformat(since) if since else None,
        story=(episode or {}).get("story") or finding.get("summary") or "",
        symptoms=tuple(cause_title(c) for c in (episode or {}).get("symptoms") or ()),
        action=actions.get((s["id"], cause)))


def _action(v: Mapping[str, Any], today: date) -> ActionView:
    due = v.get("due")
    if isinstance(due, str):
        due = date.fromisoformat(due[:10])
    if isinstance(due, datetime):
        due = due.date()
    status = str(v.get("status") or "open")

    def num(key: str) -> float | None:
        x = v.get(key)
        return None if x is None else float(x)

    return ActionView(status=status, owner=v.get("owner") or None, due=due,
                      recovered_money=num("recovered_money"), recovered_low=num("recovered_low"),
                      recovered_high=num("recovered_high"),
                      overdue=due is not None and due < today and status not in CLOSED)


def _recovered(actions: Mapping[tuple[str, str], ActionView],
               ledger: Mapping[str, Any] | None) -> Recovered:
    done = sum(1 for a in actions.values() if a.status in CLOSED)
    if ledger is not None and ledger.get("money") is not None:
        money = float(ledger["money"])
        low, high = ledger.get("low"), ledger.get("high")
        return Recovered(money, None if low is None else float(low),
                         None if high is None else float(high), len(actions), done,
                         FORMULAS["recovered_ledger"])
    measured = [a for a in actions.values() if a.recovered_money is not None]
    if not measured:
        return Recovered(None, None, None, len(actions), done, FORMULAS["recovered_none"]
                         if not actions else FORMULAS["recovered_actions"])
    total = sum(a.recovered_money or 0.0 for a in measured)
    low = sum(a.recovered_low if a.recovered_low is not None else a.recovered_money or 0.0
              for a in measured)
    high = sum(a.recovered_high if a.recovered_high is not None else a.recovered_money or 0.0
               for a in measured)
    return Recovered(total, low, high, len(actions), done, FORMULAS["recovered_actions"])


def _coverage(c: Mapping[str, Any]) -> CoverageLine:
    def dates(span: Mapping[str, Any]) -> str:
        return f"{span['first']}..{span['last']}" if span.get("rows") else "no rows"

    def weeks(key: str) -> tuple[int, int]:
        got = c.get(key) or (0, 0)
        return int(got[0]), int(got[1])

    return CoverageLine(
        table=c["table"], window_rows=int(c["window"]["rows"]), window_dates=dates(c["window"]),
        window_weeks=weeks("window_weeks_complete"), baseline_rows=int(c["baseline"]["rows"]),
        baseline_dates=dates(c["baseline"]), baseline_weeks=weeks("baseline_weeks_complete"),
        thin_window=c.get("thin_window"), thin_baseline=c.get("thin_baseline"))


def _judged(services: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    out = {"judged": 0, "unknown": 0, "n/a": 0, "self-assessed": 0}
    for s in services:
        for f in s["causes"].values():
            status = f["status"]
            key = status if status in ("unknown", "n/a") else "judged"
            out[key] += 1
            if f.get("basis") == SELF_ASSESSED:
                out["self-assessed"] += 1
    return out
