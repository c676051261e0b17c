"""The questions of a check-in and the validation of one answer: pure functions.

A campaign asks each group its own value dimensions (0–10 each, all required), one optional
comment ("what would make it more valuable?", at most 2,000 characters) and an optional "how
likely are you to recommend it?" (0–10). Anything else is refused with the field it concerns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dipstick.errors import UsageError
from dipstick.model import ValueModel

MAX_COMMENT = 2000
SCALE = range(0, 11)


@dataclass(frozen=True)
class Answer:
    group: str
    scores: dict[str, int]
    recommend: int | None
    comment: str | None


class AnswerError(Exception):
    """The answer was refused: ``problems`` lists (field, message); nothing was stored."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))


def questions_for(model: ValueModel, service_id: str, groups: list[str] | None
                  ) -> tuple[list[str], dict[str, Any]]:
    """The groups asked (default: the service's consumers) and each one's dimensions, as the
    campaign stores them. Unknown ids and groups without value dimensions are usage errors."""
    try:
        service = model.service(service_id)
    except KeyError:
        raise UsageError(f"unknown service {service_id!r} (not in dipstick.yaml)") from None
    chosen = list(dict.fromkeys(groups or service.consumers))
    if not chosen:
        raise UsageError(f"service {service_id!r} has no consuming group: name one with --group")
    out: dict[str, Any] = {}
    for gid in chosen:
        g = model.group(gid)
        if g is None:
            raise UsageError(f"unknown stakeholder group {gid!r} (not in dipstick.yaml)")
        if not g.value_dimensions:
            raise UsageError(f"group {gid!r} has no value dimensions to ask about")
        out[gid] = {"name": g.name, "kind": g.kind,
                    "dimensions": [{"id": d.id, "name": d.name, "weight": d.weight}
                                   for d in g.value_dimensions]}
    return chosen, out


def parse_answer(questions: Mapping[str, Any], group: str, form: Mapping[str, Any]) -> Answer:
    """One answer from the submitted fields ``dim:<id>``, ``recommend``, ``comment``."""
    problems: list[tuple[str, str]] = []
    scores: dict[str, int] = {}
    for d in questions[group]["dimensions"]:
        field = f"dim:{d['id']}"
        value = _score(form.get(field), field, problems, required=True, label=d["name"])
        if value is not None:
            scores[d["id"]] = value
    recommend = _score(form.get("recommend"), "recommend", problems, required=False,
                       label="How likely to recommend")
    comment = form.get("comment")
    if comment is not None and not isinstance(comment, str):
        problems.append(("comment", "must be text"))
        comment = None
    comment = (comment or "").replace("\r\n", "\n").strip() or None
    if comment is not None and len(comment) > MAX_COMMENT:
        problems.append(("comment", f"is {len(comment):,} characters long; at most "
                                    f"{MAX_COMMENT:,} are kept"))
    if problems:
        raise AnswerError(problems)
    return Answer(group, scores, recommend, comment)


def _score(raw: Any, field: str, problems: list[tuple[str, str]], *, required: bool,
           label: str) -> int | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            problems.append((field, f"{label}: choose a score from 0 to 10"))
        return None
    try:
        value = int(str(raw).strip())
    except ValueError:
        problems.append((field, f"{label}: {str(raw)[:20]!r} is not a whole number 0–10"))
        return None
    if value not in SCALE:
        problems.append((field, f"{label}: {value} is outside 0–10"))
        return None
    return value
