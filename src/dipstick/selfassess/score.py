"""Scoring a self-assessment: answers in, a light out, as pure functions.

The rule (docs/self-assessment.md): a cause's light is the **mean of its answers** (1–5) —
``ok`` from 4, ``watch`` from 3 up to 4, ``leak`` below 3 — and its score is
``25 × (5 − mean)`` outside ``ok`` (so 25–50 at watch, 50–100 at leak, as for measured
evidence) and 0 at ``ok``. A mean, not the worst answer: three coarse answers from one person
are a first guess, and one pessimistic answer should not light a leak on its own.

A self-assessed light fills only a cause that measured data could not judge (``unknown``);
measured evidence always wins, so the light moves to measured as data arrives. It carries no
money estimate — an opinion on a 1–5 scale has no unit to price — and it is never alerted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from dipstick.findings import SELF_ASSESSED, Evidence, Finding, LeakEstimate, Status
from dipstick.selfassess.questions import QUESTIONNAIRE, question

OK_FROM = 4.0          # a mean answer of at least this is ok
LEAK_BELOW = 3.0       # below this, leak; in between, watch
THRESHOLD = f"self-assessed mean: ok ≥ {OK_FROM:g} · leak < {LEAK_BELOW:g} (of 5)"
NO_MONEY = ("not estimated: a self-assessment gives no money estimate (measured data does, "
            "docs/self-assessment.md)")

FILE, WEB = "file", "web"


@dataclass(frozen=True)
class Answer:
    """One answer to one question of the questionnaire about one service."""

    service: str
    cause: str
    question: str
    answer: int                    # 1–5
    answered_by: str = ""
    date: date | None = None
    source: str = FILE             # FILE (the package) or WEB (the app database)


def grade(mean: float) -> tuple[Status, float]:
    """The light and 0–100 score of a mean answer (the rule in the module docstring)."""
    if mean >= OK_FROM:
        return Status.OK, 0.0
    score = round(25 * (5 - mean), 1)
    return (Status.WATCH if mean >= LEAK_BELOW else Status.LEAK), score


Key = tuple[str, str]          # (service, cause)


def latest(answers: Iterable[Answer], as_of: date | None = None
           ) -> dict[Key, dict[str, Answer]]:
    """Per service and cause, the newest answer to each question given by ``as_of`` (an answer
    without a date counts on any date). Equal dates: the later in ``answers`` wins, so the web's
    answers, merged after the file's, win over the file's of the same day."""
    out: dict[Key, dict[str, Answer]] = {}
    for a in answers:
        if as_of is not None and a.date is not None and a.date > as_of:
            continue
        mine = out.setdefault((a.service, a.cause), {})
        old = mine.get(a.question)
        if old is None or (a.date or date.min) >= (old.date or date.min):
            mine[a.question] = a
    return out


def assess(service: str, cause: str, given: Mapping[str, Answer], action: str = ""
           ) -> Finding | None:
    """The self-assessed finding of one cause from its answers (None without any), with one
    piece of evidence per question: the answer, what it means, who gave it and when."""
    questions = QUESTIONNAIRE.get(cause, ())
    known = [given[q.id].answer for q in questions if q.id in given]
    if not known:
        return None
    mean = sum(known) / len(known)
    status, score = grade(mean)
    ev = tuple(_evidence(cause, qid, given.get(qid)) for qid in (q.id for q in questions))
    who = sorted({a.answered_by for a in given.values() if a.answered_by})
    days = sorted(a.date for a in given.values() if a.date)
    by = (f" by {', '.join(who)}" if who else "") + (f" on {days[-1]}" if days else "")
    summary = (f"self-assessed{by}: mean answer {mean:.1f} of 5 on {len(known)} of "
               f"{len(questions)} questions (no measured data yet)")
    return Finding(service, cause, status, score, summary, ev, LeakEstimate.none(NO_MONEY),
                   action, basis=SELF_ASSESSED)


def _evidence(cause: str, qid: str, a: Answer | None) -> Evidence:
    q = question(cause, qid)
    assert q is not None
    if a is None:
        return Evidence(f"self:{qid}", q.text, None, "", Status.UNKNOWN, 0.0, " of 5",
                        THRESHOLD, None, "not answered")
    status, score = grade(float(a.answer))
    when = a.date.isoformat() if a.date else ""
    note = f"“{q.meaning(a.answer)}”" + (f" — {a.answered_by}" if a.answered_by else "")
    return Evidence(f"self:{qid}", q.text, float(a.answer), when, status, score, " of 5",
                    THRESHOLD, None, note, n=1)


def fill_unknown(findings: Sequence[Finding], assessed: Mapping[Key, Mapping[str, Answer]]
                 ) -> tuple[Finding, ...]:
    """The findings with each ``unknown`` one that has answers replaced by its self-assessed
    finding (keeping the measured evidence that says what data is missing). Judged findings —
    and ``n/a``, where the cause cannot apply — are left as measured."""
    out = []
    for f in findings:
        given = assessed.get((f.service, f.cause)) if f.status is Status.UNKNOWN else None
        found = assess(f.service, f.cause, given, f.action) if given else None
        out.append(f if found is None else replace(found, evidence=(*found.evidence,
                                                                    *f.evidence)))
    return tuple(out)
