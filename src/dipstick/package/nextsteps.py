"""``dipstick init``'s second half: what to add next, and the money already in sight.

Each leak cause needs certain data (docs/indicators.md); :func:`facts_of` reads once what the
loaded package holds per service, and :func:`next_steps` — pure — turns each gap into one
item: what to add, for how many services and groups, which causes it unlocks and why. Items
are ranked by the service × cause judgements they unlock (money counting as one more), ties in
the order of :data:`RULES` (cheapest first). :func:`estimates` prices what the tickets already
allow, every figure with its formula and its assumption (docs/init.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from dipstick.defaults import DEFAULT_LOST_SHARE
from dipstick.engine.sql import ident, run
from dipstick.model import ValueModel
from dipstick.package import Package

TICKET_FIELDS = ("resolved_at", "satisfaction", "lost_minutes", "requester_group")
SERVICE_TABLES = ("tickets", "usage", "costs", "training", "changes", "surveys", "events")
DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class TicketTime:
    """One service's incidents and requests: how long they stayed open, and lost time."""

    resolved: int
    median_hours: float | None
    lost_minutes: float
    lost_n: int


@dataclass(frozen=True)
class Facts:
    """What the package holds, per table and service: the input of the pure rules."""

    tables: frozenset[str] = frozenset()
    with_rows: Mapping[str, frozenset[str]] = field(default_factory=dict)  # table -> services
    ticket_fields: frozenset[str] = frozenset()     # optional ticket columns with a value
    kpi_outcomes: frozenset[str] = frozenset()
    tickets: Mapping[str, TicketTime] = field(default_factory=dict)
    months: float = 0.0                              # months the tickets' opened_at span

    def services_in(self, table: str) -> frozenset[str]:
        return self.with_rows.get(table, frozenset())


def facts_of(package: Package) -> Facts:
    """Read, once, what the loaded package holds (a few aggregate queries)."""
    sig = package.signals
    con = sig.connection
    with_rows = {t: frozenset(str(r[0]) for r in run(
        con, f"SELECT DISTINCT service FROM {ident(t)} WHERE service IS NOT NULL"))
        for t in SERVICE_TABLES if sig.has(t) and "service" in sig.columns(t)}
    kpis = frozenset(str(r[0]) for r in run(con, "SELECT DISTINCT outcome FROM kpis")) \
        if sig.has("kpis") else frozenset()
    if not sig.has("tickets"):
        return Facts(frozenset(sig.names), with_rows, frozenset(), kpis)
    cols = set(sig.columns("tickets"))
    present = frozenset(c for c in TICKET_FIELDS if c in cols and run(
        con, f"SELECT count({ident(c)}) FROM tickets")[0][0])
    done = "resolved_at >= opened_at" if "resolved_at" in cols else "false"
    hours = "epoch(resolved_at - opened_at) / 3600.0" if "resolved_at" in cols else "NULL"
    lost = "lost_minutes" if "lost_minutes" in cols else "CAST(NULL AS DOUBLE)"
    rows = run(con, f"SELECT service, count(*) FILTER (WHERE {done}), median({hours}) FILTER "
                    f"(WHERE {done}), coalesce(sum({lost}), 0), count({lost}) FROM tickets "
                    "WHERE type IN ('incident', 'request') GROUP BY service")
    span = run(con, "SELECT epoch(max(opened_at) - min(opened_at)) / 86400.0 FROM tickets")
    days = float(span[0][0] or 0.0)
    return Facts(frozenset(sig.names), with_rows, present, kpis,
                 {str(r[0]): TicketTime(int(r[1]), None if r[2] is None else float(r[2]),
                                        float(r[3]), int(r[4])) for r in rows},
                 max(days, 1.0) / DAYS_PER_MONTH)


# ---- what to add next (pure) -------------------------------------------------------------------

@dataclass(frozen=True)
class NextStep:
    """One addition: what, for how many services and groups, the causes it unlocks, why."""

    key: str
    add: str
    services: tuple[str, ...]
    groups: tuple[str, ...]
    unlocks: tuple[str, ...]
    money: bool            # whether it turns a cause's light into money
    why: str
    effort: int = 1        # 1 an export or a field per service; 2 a mapping workshop

    @property
    def weight(self) -> int:
        """Service × cause judgements it unlocks per unit of effort; pricing counts as one
        more cause."""
        return len(self.services) * (len(self.unlocks) + int(self.money)) // self.effort

    def to_json(self) -> dict[str, Any]:
        return {**{k: v for k, v in asdict(self).items() if k not in ("services", "groups")},
                "services": len(self.services), "groups": len(self.groups),
                "service_ids": list(self.services), "group_ids": list(self.groups),
                "weight": self.weight}


def _ids(xs: Any) -> tuple[str, ...]:
    return tuple(sorted(xs))


def _few(ids: tuple[str, ...], n: int = 5) -> str:
    return ", ".join(ids[:n]) + (f" … (+{len(ids) - n})" if len(ids) > n else "")


def _costs(m: ValueModel, f: Facts) -> NextStep | None:
    todo = _ids(s.id for s in m.services if not s.monthly_cost
                and s.id not in f.services_in("costs") and s.lifecycle != "pipeline")
    return NextStep("costs", f"costs.csv (month, service, amount) or monthly_cost for "
                    f"{len(todo)} services", todo, (), ("retirement", "alignment"), True,
                    "a service's run cost is the money alignment and retirement put on a leak; "
                    "without it every leak is priced at 0") if todo else None


def _links(m: ValueModel, f: Facts) -> NextStep | None:
    todo = _ids(s.id for s in m.services if not s.supports)
    what = "outcomes (with a KPI and target) and value links from" if not m.outcomes \
        else "value links (supports: outcome) for"
    return NextStep("value_links", f"{what} {len(todo)} services", todo, (), ("alignment",),
                    False, "alignment asks whether each service still connects to a live "
                    "outcome; until the model names outcomes, alignment is unknown") \
        if todo else None


def _kpis(m: ValueModel, f: Facts) -> NextStep | None:
    outcomes = {o.id for o in m.outcomes if o.status == "active" and o.kpi is not None
                and o.id not in f.kpi_outcomes}
    todo = _ids(s.id for s in m.services if any(v.outcome in outcomes for v in s.supports))
    return NextStep("kpis", f"kpis.csv (date, outcome, value) for {len(outcomes)} outcomes",
                    todo, (), ("alignment",), False, "an outcome's KPI actuals show whether "
                    "the services linked to it serve a result on target") if todo else None


def _consumers(m: ValueModel, f: Facts) -> NextStep | None:
    todo = _ids(s.id for s in m.services if not s.consumers)
    return NextStep("consumers", f"consumers (the stakeholder groups that use it) for "
                    f"{len(todo)} services", todo, _ids(g.id for g in m.stakeholder_groups),
                    ("customer_experience",), False, "whether customers use the service "
                    "(customer_experience applies) and whom a pulse check asks") if todo else None


def _pulse(m: ValueModel, f: Facts) -> NextStep | None:
    todo = _ids(s.id for s in m.services if s.id not in f.services_in("surveys")
                and s.lifecycle != "retired")
    used = {c for s in m.services if s.id in todo for c in s.consumers}
    groups = _ids(used or {g.id for g in m.stakeholder_groups})
    return NextStep("pulse_check", f"a pulse check with {len(groups)} groups ({_few(groups)}) "
                    f"on {len(todo)} services", todo, groups, ("perception",), False,
                    "perception is what stakeholders say; a service never asked is unknown, "
                    "never green (dipstick pulse start SERVICE --group G)") if todo else None


def _usage(m: ValueModel, f: Facts) -> NextStep | None:
    todo = _ids(s.id for s in m.services if s.id not in f.services_in("usage")
                and s.lifecycle != "pipeline")
    return NextStep("usage", f"usage.csv (date, service, active_users) for {len(todo)} "
                    "services", todo, (), ("retirement", "training", "change"), False,
                    "active users show falling use and idle licences (retirement), how-to "
                    "tickets per user (training) and use shifting after a change") \
        if todo else None


def _tickets(m: ValueModel, f: Facts) -> NextStep | None:
    if "tickets" not in f.tables:
        todo = _ids(s.id for s in m.services)
        return NextStep("tickets", f"tickets for {len(todo)} services (dipstick import "
                        "tickets)", todo, (), ("employee_experience", "training", "change"),
                        True, "tickets show lost time, slow and reopened work, how-to "
                        "questions and incidents after a change") if todo else None
    missing = tuple(c for c in TICKET_FIELDS if c not in f.ticket_fields)
    todo = _ids(f.services_in("tickets"))
    if not missing or not todo:
        return None
    return NextStep("ticket_fields", f"ticket fields {', '.join(missing)} on the tickets of "
                    f"{len(todo)} services", todo, (), ("employee_experience",),
                    "lost_minutes" in missing, "lost_minutes prices lost time as measured, "
                    "satisfaction adds the users' own rating, requester_group tells staff "
                    "from customers and names the groups to ask")


def _training(m: ValueModel, f: Facts) -> NextStep | None:
    todo = _ids(s.id for s in m.services if s.id not in f.services_in("training")
                and s.lifecycle in ("live", "pipeline"))
    return NextStep("training", f"training.csv (date, service, group, completed, required) "
                    f"for {len(todo)} services", todo, (), ("training",), False,
                    "completion among the people who need training, beside how-to tickets") \
        if todo else None


def _changes(m: ValueModel, f: Facts) -> NextStep | None:
    todo = _ids(s.id for s in m.services if s.id not in f.services_in("changes")
                and s.lifecycle != "retired")
    return NextStep("changes", f"changes.csv (id, service, date, kind) for {len(todo)} "
                    "services", todo, (), ("change",), False, "releases and reorganisations "
                    "to hold the shifts in tickets, use and satisfaction against") \
        if todo else None


def _licences(m: ValueModel, f: Facts) -> NextStep | None:
    todo = _ids(s.id for s in m.services if s.licences is None and s.lifecycle != "retired")
    return NextStep("licences", f"licences and licence_cost_monthly for {len(todo)} services",
                    todo, (), ("retirement",), True, "unused licences are retirement's "
                    "plainest money (with usage)") if todo else None


def _journeys(m: ValueModel, f: Facts) -> NextStep | None:
    customers = {g.id for g in m.stakeholder_groups if g.kind == "customer"}
    backed = {x for j in m.journeys for t in j.touchpoints for x in t.services}
    todo = _ids(s.id for s in m.services if customers & set(s.consumers) and s.id not in backed)
    return NextStep("journeys", f"journeys with touchpoints (and touchpoints.csv) for {len(todo)}"
                    " customer-facing services", todo, _ids(customers),
                    ("customer_experience",), False, "satisfaction and drop-off where customers "
                    "meet the service", effort=2) if todo else None


def _streams(m: ValueModel, f: Facts) -> NextStep | None:
    mapped = {x for v in m.value_streams for st in v.steps for x in st.services} | {
        x for v in m.value_streams if v.event_log for x in v.event_log.services} | set(
        f.services_in("events"))
    todo = _ids(s.id for s in m.services if s.id not in mapped and s.lifecycle == "live")
    return NextStep("value_streams", f"value streams (steps by hand, or an events log) using "
                    f"{len(todo)} services", todo, (), ("flow",), True, "where value waits or "
                    "is reworked at the steps that use the service", effort=2) if todo else None


def _owners(m: ValueModel, f: Facts) -> NextStep | None:
    todo = _ids(s.id for s in m.services if not s.owner)
    return NextStep("owners", f"an owner for {len(todo)} services", todo, (), (), False,
                    "unlocks no cause, but every leak's action needs someone to go to") \
        if todo else None


Rule = Callable[[ValueModel, Facts], "NextStep | None"]
RULES: tuple[Rule, ...] = (_costs, _links, _kpis, _consumers, _pulse, _usage, _tickets,
                           _training, _changes, _licences, _journeys, _streams, _owners)


def next_steps(model: ValueModel, facts: Facts) -> list[NextStep]:
    """Every gap as one item, most judgements unlocked first (ties: cheapest first)."""
    found = [(i, s) for i, rule in enumerate(RULES) if (s := rule(model, facts)) is not None]
    return [s for _, s in sorted(found, key=lambda x: (-x[1].weight, x[0]))]


# ---- money already in sight (pure) -------------------------------------------------------------

@dataclass(frozen=True)
class Estimate:
    """A monthly figure the package already allows, with its formula and assumption."""

    key: str
    label: str
    monthly: float
    hours: float
    currency: str
    formula: str
    assumption: str
    services: Mapping[str, float]           # service -> its share of ``monthly``

    def to_json(self) -> dict[str, Any]:
        top = sorted(self.services.items(), key=lambda x: -x[1])
        return {**{k: v for k, v in asdict(self).items() if k != "services"},
                "monthly": round(self.monthly, 2), "hours": round(self.hours, 1),
                "services": {k: round(v, 2) for k, v in top}}


def estimates(model: ValueModel, facts: Facts,
              lost_share: float = DEFAULT_LOST_SHARE) -> list[Estimate]:
    """Lost time from the tickets (measured where they carry lost_minutes, else an assumed
    share of the time they stayed open) and the run cost of services linked to no outcome."""
    rate, cur = model.organisation.hourly_rate, model.organisation.currency
    out: list[Estimate] = []
    months = facts.months or 1.0
    measured = {s: t.lost_minutes / 60 / months for s, t in facts.tickets.items() if t.lost_n}
    if measured:
        hours = sum(measured.values())
        out.append(Estimate(
            "lost_time_measured", "Lost time recorded on tickets", hours * rate, hours, cur,
            f"Σ lost_minutes ÷ 60 ÷ {months:.1f} months × {rate:g} {cur}/h",
            "measured; hourly_rate prices it", {s: h * rate for s, h in measured.items()}))
    open_ = {s: t.resolved / months * t.median_hours * lost_share for s, t in facts.tickets.items()
             if s not in measured and t.resolved and t.median_hours is not None}
    if open_:
        hours = sum(open_.values())
        n = sum(facts.tickets[s].resolved for s in open_) / months
        out.append(Estimate(
            "lost_time_open_tickets", "Lost time while tickets are open (assumed)",
            hours * rate, hours, cur,
            f"per service: resolved incidents and requests a month × median hours open × "
            f"{lost_share:g} × {rate:g} {cur}/h ({n:,.0f} tickets a month over "
            f"{months:.1f} months)",
            f"an assumption: a requester loses {lost_share:.0%} of the time a ticket is open "
            "(--lost-share); record lost_minutes on tickets for a measured figure",
            {s: h * rate for s, h in open_.items()}))
    cost = {s.id: s.monthly_cost for s in model.services if s.monthly_cost and not s.supports
            and s.lifecycle in ("live", "retiring")}
    if cost:
        out.append(Estimate(
            "unlinked_run_cost", "Run cost of services linked to no outcome",
            sum(cost.values()), 0.0, cur, "Σ monthly_cost of live services without supports",
            "alignment prices it as a leak until the service is linked to an outcome", cost))
    return out
