"""One event, one leak: a service's leaking causes grouped into episodes with one root cause.

A bad release cuts usage, raises how-to tickets and drops satisfaction: four indicators see it,
but the leader has one problem with one remedy. The rule, in order:

1. **A recorded change just before the shifts is the root.** When a change of the service lies
   at most ``lead_days`` after / ``lag_days`` before the start (``since``) of a leaking cause,
   that change is the episode's root and the cause ``change`` carries it, even if the change
   indicator itself stayed at ``watch`` (several symptoms right after one change are the
   strongest evidence a change indicator can have).
2. **Else the earliest confirmed driver.** Among leaking causes with a ``since`` (a confirmed
   shift), the earliest is the root; causes whose own start lies within ``together_days`` of it
   are its symptoms.
3. Causes without a start date (a passed end of life, a missing outcome link) stand alone: no
   rule could tie them to an event.

A symptom keeps its evidence but is shown at ``watch`` with ``symptom_of`` naming the root: it
is not priced again, not alerted again and gets no second action. The root is priced at the
largest estimate among its members (their views overlap; summing would count twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from dipstick.findings import Evidence, Finding, LeakEstimate, Status, fact

CHANGE = "change"


@dataclass(frozen=True)
class ChangeRecord:
    id: str
    date: date
    kind: str = "release"


@dataclass(frozen=True)
class Rule:
    lead_days: int = 7      # a weekly shift is dated by its Monday: up to 6 days before
    lag_days: int = 42      # a change explains shifts that begin this long after it
    together_days: int = 42  # shifts this close together without a change: one event


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


def group(findings: Sequence[Finding], changes: Sequence[ChangeRecord],
          rule: Rule = Rule()) -> tuple[tuple[Finding, ...], tuple[Episode, ...]]:
    """The findings with symptoms marked and roots priced, and the service's episodes."""
    by_cause = {f.cause: f for f in findings}
    leaking = [f for f in findings if f.status is Status.LEAK]
    dated = sorted((f for f in leaking if f.since), key=lambda f: (f.since, -f.score))
    episodes: list[Episode] = []
    taken: set[str] = set()
    for f in dated:
        if f.cause in taken:
            continue
        assert f.since is not None
        change = _change_before(f.since, changes, rule)
        if change is not None:
            start = change.date
            window = (start - timedelta(days=rule.lead_days),
                      start + timedelta(days=rule.lag_days))
            root = CHANGE
        else:
            start = f.since
            window = (start, start + timedelta(days=rule.together_days))
            root = f.cause
        members = [g for g in dated if g.cause not in taken and g.since is not None
                   and window[0] <= g.since <= window[1]]
        if change is not None and by_cause.get(CHANGE) is not None \
                and by_cause[CHANGE].status is Status.LEAK and CHANGE not in taken \
                and all(m.cause != CHANGE for m in members):
            members.insert(0, by_cause[CHANGE])
        symptoms = tuple(m.cause for m in members if m.cause != root)
        if root == CHANGE and not symptoms and by_cause.get(CHANGE) is None:
            root, change = f.cause, None      # nothing to carry the change: stand alone
        taken.update(m.cause for m in members)
        taken.add(root)
        story = _story(change, start, members, root)
        episodes.append(Episode(root, start, change.id if change else None, symptoms, story))
    out = []
    roots = {e.root: e for e in episodes}
    symptom_of = {s: e for e in episodes for s in e.symptoms}
    for f in findings:
        if f.cause in roots:
            f = _as_root(f, roots[f.cause], [by_cause[s] for s in roots[f.cause].symptoms])
        elif f.cause in symptom_of:
            f = _as_symptom(f, symptom_of[f.cause])
        out.append(f)
    return tuple(out), tuple(episodes)


def _change_before(since: date, changes: Sequence[ChangeRecord], rule: Rule
                   ) -> ChangeRecord | None:
    """The latest change that may explain a shift starting on ``since``."""
    fits = [c for c in changes
            if c.date - timedelta(days=rule.lead_days) <= since <= c.date
            + timedelta(days=rule.lag_days)]
    return max(fits, key=lambda c: (c.date, c.id)) if fits else None


def _as_root(f: Finding, ep: Episode, symptoms: list[Finding]) -> Finding:
    top = max([f, *symptoms], key=lambda g: (g.leak.money, g.leak.hours))
    leak = f.leak
    if top is not f:
        leak = LeakEstimate(top.leak.money, top.leak.hours,
                            f"the episode's largest estimate ({top.cause}): {top.leak.formula}",
                            top.leak.low, top.leak.high)
    extra: tuple[Evidence, ...] = ()
    status, score, summary = f.status, f.score, f.summary
    if ep.symptoms:
        extra = (fact("episode", "One event behind", ", ".join(ep.symptoms), str(ep.since),
                      Status.LEAK, note=ep.story),)
        if f.status is not Status.LEAK:       # a change at watch, confirmed by its symptoms
            status, score = Status.LEAK, max([f.score, *(s.score for s in symptoms)])
        summary = ep.story
    return replace(f, status=status, score=score, summary=summary, since=ep.since,
                   evidence=(*f.evidence, *extra), leak=leak, episode=ep.story)


def _as_symptom(f: Finding, ep: Episode) -> Finding:
    return replace(f, status=Status.WATCH, symptom_of=ep.root,
                   summary=f"symptom of {ep.root} ({ep.story}): {f.summary}",
                   leak=LeakEstimate.none(f"counted in the {ep.root} leak"), action="",
                   episode=ep.story)


def _story(change: ChangeRecord | None, start: date, members: Sequence[Finding],
           root: str) -> str:
    head = f"since {change.id} on {change.date}" if change else f"since {start} ({root})"
    moves = [m for f in members if (m := _move(f))]
    return head + (": " + ", ".join(dict.fromkeys(moves)) if moves else "")


def _move(f: Finding) -> str:
    """What moved, from the shift behind the finding (its ``shift:`` evidence)."""
    shift = next((e for e in f.evidence if e.metric.startswith("shift:")), None)
    if shift is None or not isinstance(shift.value, float):
        return ""
    what = shift.label.removeprefix("Shift in ")
    v = shift.value
    return f"{what} ×{1 + v:.1f}" if v >= 1 else f"{what} {v:+.0%}"
