"""One event, one leak: a service's leaking causes grouped into episodes with one root cause.

A bad release cuts usage, raises how-to tickets and drops satisfaction: four indicators see it,
but the leader has one problem with one remedy. Only leaks dated by a shift (``since`` with the
shift as evidence) or by a change (the ``change`` cause) can be tied to an event; the rule, in
order, for each such leak from the earliest:

0. **A confirmed change leak claims first** — unless it coincides with a leak already under
   way: one that shows every signal the change's leaking evidence shows (:data:`SIGNAL`:
   use, incidents, how-to, satisfaction, perceived value, drop-offs) and began more than
   ``before_days`` before the change, or also leaks on a signal no change moves (resolution,
   reopens) and began by the change; the change is then that leak's symptom. Otherwise,
   when ``change`` is itself a leak dated by its change, its symptoms are every dated leak
   starting in ``[change − claim_days, change + lag_days]`` (a weekly shift in a small or
   seasonal series is dated up to weeks early), every leak on signals a change moves dated
   after ``change − claim_days`` or undated, and every leak on signals the change itself was
   seen to move (p ≤ 0.05), whatever its date.
1. **A recorded change just before the shifts is the root.** When a change of the service lies
   at most ``lead_days`` after or ``lag_days`` before the start of a leaking cause, every dated
   leak starting in that span belongs to the change's episode and the cause ``change`` is its
   root, dated by the change — even if the change indicator itself stayed at ``watch``. A lone
   leak after a change the change indicator found nothing wrong with (no evidence naming it
   at ``watch`` or worse) is not blamed on it: one shift after one of many routine releases is
   a coincidence as often as not.
2. **Else the earliest confirmed driver.** The earliest dated leak (ties: the higher score) is
   the root; leaks whose own start lies within ``together_days`` after it are its symptoms.
3. Leaks without such a date (a passed end of life, a missing outcome link, a slow value
   stream) stand alone: no rule could tie them to an event. So does a leak after a change
   when ``change`` is already the root of another episode. Except: on a service where a
   change is the root of an episode, an undated leak of a cause a bad change moves (perception,
   training, employee or customer experience, retirement's falling use) is read as that
   change's symptom — a pulse check every few weeks gives perception no weekly date, and on
   orgsim's tuning seeds 6 of 10 false perception leaks were a bad release's lower scores
   shown as a second leak.

Every leak that stays a root is an episode, alone or not, so the episode list is the service's
list of leaks, each with its one-line story. A symptom keeps its evidence but is shown at
``watch`` with ``symptom_of`` naming the root: it is not priced again, not alerted again and
gets no second action. The root is priced at the largest estimate among its members (their
views overlap; summing would count the same money twice).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from dipstick.findings import HELD, Evidence, Finding, LeakEstimate, Status, fact
from dipstick.indicators.change_signs import MOVED
from dipstick.indicators.confidence import AGREEING

CHANGE = "change"
# what a badly managed change moves besides its own measures (PRODUCT.md: use, tickets,
# satisfaction, perceived value): an undated leak of one of these joins the change's episode
CHANGE_SYMPTOMS = frozenset({"perception", "training", "employee_experience",
                             "customer_experience", "retirement"})
# What each measure is a reading of: two causes leaking on the same signal may be one event
# seen twice; a cause leaking on a signal no change moves has a story of its own.
SIGNAL: dict[str, str] = {
    **dict.fromkeys(("usage_change", "usage_trend", "licence_utilisation", "users",
                     "new_service_adoption", "cost_per_user"), "use"),
    **dict.fromkeys(("incident_ratio", "incidents_per_user", "lost_time_growth",
                     "lost_hours_per_user"), "incidents"),
    **dict.fromkeys(("question_ratio", "questions_growth", "questions_per_user"), "how-to"),
    **dict.fromkeys(("satisfaction", "satisfaction_drop", "customer_satisfaction",
                     "touchpoint_satisfaction"), "satisfaction"),
    **dict.fromkeys(("value_score", "value_drop", "pmd_drop"), "perceived value"),
    **dict.fromkeys(("drop_off_growth", "drop_off_rate", "touchpoint_drop"), "drop-offs"),
}
# The signals a bad change moves (PRODUCT.md: use, tickets, satisfaction, perceived value;
# customers drop off a broken journey). It does not slow the service desk's resolution, reopen
# tickets, stop people training, move a KPI by itself or slow a value stream.
CHANGE_MOVES = frozenset({"use", "incidents", "how-to", "satisfaction", "perceived value",
                          "drop-offs"})
# Pulse checks come every few weeks to a quarter: a shift in their scores is dated by a wave,
# not by the event (on orgsim's tuning seeds, months before the release that caused it).
COARSE = frozenset({"perceived value"})


@dataclass(frozen=True)
class ChangeRecord:
    """A row of the ``changes`` table, as the grouping needs it."""

    id: str
    date: date
    kind: str = "release"


@dataclass(frozen=True)
class Rule:
    """How close shifts must be to count as one event (docs/episodes.md)."""

    lead_days: int = 7       # a weekly shift is dated by its Monday: up to 6 days before
    lag_days: int = 35       # a change explains shifts that begin up to five weeks after it
    together_days: int = 28  # shifts this close together without a change: one event
    claim_days: int = 28     # a confirmed change leak claims shifts dated this much before it
    before_days: int = 14    # a leak dated this much before a change was under way before it


@dataclass(frozen=True)
class Episode:
    """A root cause, when it started, the change behind it (if any) and what it explains."""

    root: str
    since: date | None
    change: str | None
    symptoms: tuple[str, ...]
    story: str

    def to_json(self) -> dict[str, object]:
        return {"root": self.root, "since": self.since.isoformat() if self.since else None,
                "change": self.change, "symptoms": list(self.symptoms), "story": self.story}


def changes_by_service(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[ChangeRecord]]:
    """Rows of the ``changes`` table (``id``, ``service``, ``date``, ``kind``) per service;
    ``date`` may be a date or a timestamp (CSV and Spark give timestamps)."""
    out: dict[str, list[ChangeRecord]] = {}
    for r in rows:
        day = r["date"]
        day = day.date() if hasattr(day, "date") and callable(day.date) else day
        out.setdefault(str(r["service"]), []).append(
            ChangeRecord(str(r["id"]), day, str(r.get("kind") or "change")))
    return out


def group(findings: Sequence[Finding], changes: Sequence[ChangeRecord],
          rule: Rule = Rule()) -> tuple[tuple[Finding, ...], tuple[Episode, ...]]:
    """The findings with symptoms marked and roots priced, and the service's episodes (one
    per leak that stays a root, in order of start; undated ones last)."""
    by_cause = {f.cause: f for f in findings}
    leaking = [f for f in findings if f.status is Status.LEAK]
    dated = sorted(((f.since, f) for f in leaking if f.since and _dated(f)),
                   key=lambda x: (x[0], -x[1].score))
    episodes: list[Episode] = []
    taken: set[str] = set()
    lead = by_cause.get(CHANGE)
    coincidence: Finding | None = None
    if lead is not None and lead.status is Status.LEAK and lead.since is not None:
        coincidence = _under_way(lead, leaking, rule)
        if coincidence is not None:
            taken.add(CHANGE)           # joins the episode of what was already under way
        else:
            claimed = [lead, *_claims(lead, leaking, rule)]
            ch = next((c for c in changes if c.date == lead.since), None)
            taken.update(m.cause for m in claimed)
            episodes.append(Episode(CHANGE, lead.since, ch.id if ch else None,
                                    tuple(m.cause for m in claimed[1:]),
                                    _story(ch, lead.since, claimed, CHANGE)))
    elif lead is not None and (noticed := _noticed(lead, changes)) is not None:
        low = noticed.date - timedelta(days=rule.claim_days)
        signs = [g for g in leaking if g.cause != CHANGE and _movable(g)
                 and (g.since is None or g.since >= low)]
        if len(signs) >= 2:     # several of a bad change's signs at once, after a change seen
            taken.update([CHANGE, *(g.cause for g in signs)])
            episodes.append(Episode(CHANGE, noticed.date, noticed.id,
                                    tuple(g.cause for g in signs),
                                    _story(noticed, noticed.date, [lead, *signs], CHANGE)))
    for since, f in dated:
        if f.cause in taken:
            continue
        members: list[Finding] = []
        change = None if CHANGE in taken or CHANGE not in by_cause or not _movable(f) else \
            _change_before(since, changes, rule)
        if change is not None:
            low = change.date - timedelta(days=rule.lead_days)
            high = change.date + timedelta(days=rule.lag_days)
            members = [g for d, g in dated if g.cause not in taken and low <= d <= high
                       and (g.cause == CHANGE or _movable(g))]
            others = [g for g in members if g.cause != CHANGE]
            if not (_seen(by_cause[CHANGE], change) or len(others) >= 2):
                change, members = None, []     # one shift after a routine change: not blamed
        if change is not None:
            root, start = CHANGE, change.date
            members = [by_cause[CHANGE], *(g for g in members if g.cause != CHANGE)]
        else:
            root, start = f.cause, since
            high = start + timedelta(days=rule.together_days)
            members = [g for d, g in dated if g.cause not in taken and start <= d <= high]
        taken.update(m.cause for m in members)
        symptoms = tuple(m.cause for m in members if m.cause != root)
        episodes.append(Episode(root, start, change.id if change else None, symptoms,
                                _story(change, start, members, root)))
    by_change = next((i for i, e in enumerate(episodes) if e.root == CHANGE), None)
    for f in leaking:
        if f.cause in taken:
            continue
        taken.add(f.cause)
        if by_change is not None and f.cause in CHANGE_SYMPTOMS and f.since is None:
            # undated, on a service a change already leaks on: read as the change's symptom
            ep = episodes[by_change]
            episodes[by_change] = replace(ep, symptoms=(*ep.symptoms, f.cause))
            continue
        episodes.append(Episode(f.cause, f.since, None, (), _story(None, f.since, [f],
                                                                    f.cause)))   # alone
    if coincidence is not None:
        at = next(i for i, e in enumerate(episodes)
                  if coincidence.cause in (e.root, *e.symptoms))
        episodes[at] = replace(episodes[at], symptoms=(*episodes[at].symptoms, CHANGE))
    roots = {e.root: e for e in episodes}
    symptom_of = {s: e for e in episodes for s in e.symptoms}
    out = []
    for f in findings:
        if f.cause in roots:
            f = _as_root(f, roots[f.cause], [by_cause[s] for s in roots[f.cause].symptoms])
        elif f.cause in symptom_of:
            f = _as_symptom(f, symptom_of[f.cause])
        out.append(f)
    return tuple(out), tuple(episodes)


def signals(f: Finding, moved: bool = False) -> frozenset[str]:
    """The signals ``f`` leaks on (:data:`SIGNAL`; a measure not named there is a signal of
    its own); with ``moved``, also those its tested evidence at ``watch`` says moved
    (p ≤ 0.05): not sure enough for a leak of their own, but not noise either."""
    return frozenset(x for e in f.evidence if e.metric != "episode" and (
        e.status is Status.LEAK
        or (moved and e.status is Status.WATCH and e.p is not None and e.p <= 0.05))
        for x in _signals(e.metric))


def _signals(metric: str) -> list[str]:
    head, _, rest = metric.partition(":")
    if head == AGREEING:    # signs_agreeing:<metric>+<metric>: the signals of each
        return [SIGNAL.get(m, m) for m in rest.split("+") if m]
    if head == "shift":     # shift:<subject>/<metric>[/<part>], the subject may hold "/"
        key = next((x for x in rest.split("/") if x in SIGNAL), metric)
    else:
        key = head.removesuffix("_since_shift")
    return [SIGNAL.get(key, key)]


def _movable(f: Finding) -> bool:
    """Whether a bad change could be all of ``f``: it leaks only on signals a change moves."""
    moved = signals(f)
    return bool(moved) and moved <= CHANGE_MOVES


def _under_way(lead: Finding, leaking: Sequence[Finding], rule: Rule) -> Finding | None:
    """The leak a confirmed change leak merely coincides with: one that already moves every
    signal the change's own leaking evidence moves, and either began more than
    ``before_days`` before the change (a change cannot cause what was already under way; a
    weekly shift is dated by its Monday and up to a week early) or also leaks on a signal no
    change moves (slower resolution, reopens) and began up to ``lag_days`` after it: that leak
    needs a root of its own whatever the change did, and it already explains all the change
    was seen to move (seeds 19–30: a failed release 16 days before a clear employee-experience
    leak, seen only by its satisfaction drop, was made its root). The
    change's before/after comparison then measured a leak in progress: on orgsim's tuning
    seeds, 5 of 7 false change leaks were a release falling inside another cause's leak.
    Measured there too: ``before_days`` 7, 14 and 28 left 13, 12 and 13 false leaks (seeds
    1–18); counting the change's signs at watch as well kept 2 more (seeds 1–12)."""
    assert lead.since is not None
    seen = signals(lead)
    if not seen:
        return None
    fits = [g for g in leaking if g.cause != CHANGE and g.since is not None and _dated(g)
            and seen <= signals(g)
            and (g.since < lead.since - timedelta(days=rule.before_days)
                 or (not _movable(g) and g.since <= lead.since + timedelta(days=rule.lag_days)))]
    return min(fits, key=lambda g: g.since or date.max) if fits else None


def _claims(lead: Finding, leaking: Sequence[Finding], rule: Rule) -> list[Finding]:
    """What a confirmed change leak explains: leaks dated in ``[change − claim_days, change +
    lag_days]`` (a weekly shift in a small or seasonal series is dated weeks early), and leaks
    on signals a change moves, dated after ``change − claim_days`` or undated (the change's
    after-window runs to the as-of date, and a sparse series dates its shift late), or moving
    only signals the change itself was seen to move, surely or not (its before/after
    comparison dates them, whatever a sparse weekly series says), and perceived value
    whenever its wave was."""
    assert lead.since is not None
    low = lead.since - timedelta(days=rule.claim_days)
    high = lead.since + timedelta(days=rule.lag_days)
    seen = signals(lead, moved=True)
    return [g for g in leaking if g.cause != CHANGE and (
        (g.since is not None and _dated(g) and low <= g.since <= high)
        or (_movable(g) and (g.since is None or g.since >= low or signals(g) <= seen
                             or signals(g) == COARSE)))]


def _noticed(f: Finding, changes: Sequence[ChangeRecord]) -> ChangeRecord | None:
    """The change the change indicator saw move something, surely or not: its sign (incidents,
    how-to tickets, satisfaction, use) at ``watch`` or worse with the smallest p ≤ 0.05, held
    at watch or not. A subtle bad release shows each sign weakly, and its symptoms as leaks
    of their own: on orgsim's tuning seeds one lit perception, training and employee
    experience on one service, each a separate leak."""
    # the signs first, then which change each names: changes × evidence pairs were 0.4 s of
    # the large demo's check; the same pairs in the same order, so ties fall alike
    signs = [(e.p, e.metric) for e in f.evidence if e.p is not None and e.p <= 0.05
             and e.status in (Status.WATCH, Status.LEAK) and e.metric.split(":")[0] in MOVED]
    best: tuple[float, ChangeRecord] | None = None
    for c in changes if signs else ():
        for p, metric in signs:
            if metric.endswith(f":{c.id}") and (best is None or p < best[0]):
                best = (p, c)
    return best[1] if best else None


def _seen(f: Finding, change: ChangeRecord) -> bool:
    """Whether the change indicator found something wrong with *this* change: evidence naming
    it (an incident ratio, a satisfaction drop; a failed or uncommunicated change only beside
    a measured sign of it at ``watch``, p ≤ 0.05) at ``watch`` or worse, a use change at
    ``leak``, or a change leak dated by it. A shift soon
    after the change does not count: with releases every few weeks, some shift follows some
    release by chance (on orgsim's tuning seeds, 8 retirement and experience leaks were blamed
    on a routine release that way)."""
    if f.status is Status.LEAK and f.since == change.date:
        return True
    about = [e for e in f.evidence if e.metric.endswith(f":{change.id}") or change.id in e.note]
    # a shift soon after the change is the coincidence in question, not a finding about it;
    # nor is a use drop alone (use falls for many reasons), unless it is a leak in itself
    found = [e for e in about if (e.status is Status.LEAK or (
        e.status is Status.WATCH and not e.metric.startswith(("shift:", "usage_change:"))))
        and _sure(e)]
    # a failed or uncommunicated change is a fact, not a measured harm: routine releases fail
    # now and then, and one did just before many a leak it did not cause (seeds 1–30: a
    # customer experience, perception and retirement leak each blamed on a failed release that
    # moved nothing measured). It counts with a sign of the same change, sure or not.
    moved = any(e.p is not None and e.p <= 0.05 and e.status in (Status.WATCH, Status.LEAK)
                and e.metric.split(":")[0] in MOVED for e in about)
    return any(e.p is not None or moved for e in found)


def _sure(e: Evidence) -> bool:
    """Untested evidence (a failed change) stands; a tested one needs its q ≤ 0.05: a ratio
    past its watch line by chance says nothing about the change. Evidence held at watch (a
    lone sign of the change) is no finding about it either."""
    return e.score != HELD and (e.p is None or (e.q is not None and e.q <= 0.05))


def _dated(f: Finding) -> bool:
    """Whether the leak's start is an event's: a shift behind it, or a change's date."""
    return f.since is not None and (f.cause == CHANGE or any(
        e.metric.startswith("shift:") for e in f.evidence))


def _change_before(since: date, changes: Sequence[ChangeRecord], rule: Rule
                   ) -> ChangeRecord | None:
    """The latest change that may explain a shift starting on ``since``."""
    fits = [c for c in changes
            if c.date - timedelta(days=rule.lead_days) <= since
            <= c.date + timedelta(days=rule.lag_days)]
    return max(fits, key=lambda c: (c.date, c.id)) if fits else None


def _as_root(f: Finding, ep: Episode, symptoms: list[Finding]) -> Finding:
    top = max([f, *symptoms], key=lambda g: (g.leak.money, g.leak.hours))
    leak = f.leak
    if top is not f and (top.leak.money, top.leak.hours) > (f.leak.money, f.leak.hours):
        leak = LeakEstimate(top.leak.money, top.leak.hours,
                            f"the episode's largest estimate ({top.cause}): {top.leak.formula}",
                            top.leak.low, top.leak.high)
    extra: tuple[Evidence, ...] = ()
    status, score, summary = f.status, f.score, f.summary
    if ep.symptoms:
        extra = (fact("episode", "One event behind", ", ".join(ep.symptoms),
                      str(ep.since) if ep.since else "", Status.LEAK, note=ep.story),)
        if f.status is not Status.LEAK:       # a change at watch, confirmed by its symptoms
            status, score = Status.LEAK, max([f.score, *(s.score for s in symptoms)])
        summary = f"{ep.story}; {f.summary}"
    return replace(f, status=status, score=score, summary=summary, since=ep.since,
                   evidence=(*f.evidence, *extra), leak=leak, episode=ep.story)


def _as_symptom(f: Finding, ep: Episode) -> Finding:
    return replace(f, status=Status.WATCH, symptom_of=ep.root,
                   summary=f"symptom of {ep.root}: {f.summary}",
                   leak=LeakEstimate.none(f"counted in the {ep.root} leak"), action="",
                   episode=ep.story)


def _story(change: ChangeRecord | None, start: date | None, members: Sequence[Finding],
           root: str) -> str:
    """One line: what started it, when, and what moved ("since CHG1 on 2026-06-12: active
    users −30 %, how-to tickets per user ×3.0, ticket satisfaction −2.0 pts")."""
    if change is not None:
        head = f"since {change.kind} {change.id} on {change.date}"
    else:
        head = f"{root} since {start}" if start else f"{root} (start unknown)"
    moves = [m for f in members if (m := _move(f))]
    return head + (": " + ", ".join(dict.fromkeys(moves)) if moves else "")


def _move(f: Finding) -> str:
    """What moved, from the shift behind the finding (its ``shift:`` evidence): scores move
    by points, levels by a factor or a percentage."""
    shift = next((e for e in f.evidence if e.metric.startswith("shift:")), None)
    if shift is None or not isinstance(shift.value, float):
        return ""
    what = shift.label.removeprefix("Shift in ")
    v = shift.value
    if ("satisfaction" in what or "score" in what) and shift.baseline is not None:
        return f"{what} {_signed(v * shift.baseline, '.1f')} pts"
    return f"{what} ×{1 + v:.1f}" if v >= 1 else f"{what} {_signed(100 * v, '.0f')} %"


def _signed(x: float, fmt: str) -> str:
    return ("+" if x >= 0 else "−") + format(abs(x), fmt)
