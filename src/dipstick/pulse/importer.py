"""Answers from another survey tool: a data package's ``surveys`` table as pulse answers.

Rows of one respondent on one day about one (service, group) make one answer; rows without a
respondent are one answer each. Each (service, group) becomes a closed, imported check-in, so
its results, export and "last asked" work like those of dipstick's own check-ins — and the
respondent ids stay behind, like every pulse answer. Import another tool's export, not the
package you check (its rows are already in the check).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from dipstick.engine import collect
from dipstick.package import Package
from dipstick.pulse.campaigns import AnswerRow, Campaign, Imported, import_campaigns
from dipstick.store import Store


def survey_answers(package: Package) -> dict[tuple[str, str], list[AnswerRow]]:
    if not package.signals.has("surveys"):
        return {}
    cols = package.signals.columns("surveys")
    lf = package.signals.frame("surveys")
    grouped: dict[tuple[Any, ...], dict[str, Any]] = {}
    for i, r in enumerate(collect(lf)):
        day = r["date"].date() if isinstance(r["date"], datetime) else r["date"]
        who = r.get("respondent") if "respondent" in cols else None
        key = (r["service"], r["group"], day, who if who is not None else f"\x00{i}")
        a = grouped.setdefault(key, {"scores": {}, "comment": None})
        a["scores"][r["dimension"]] = float(r["score"])
        text = (r.get("comment") or "").strip() if "comment" in cols else ""
        if text and a["comment"] is None:
            a["comment"] = text
    out: dict[tuple[str, str], list[AnswerRow]] = {}
    for (service, group, day, _), a in grouped.items():
        out.setdefault((service, group), []).append(
            AnswerRow(0, group, _as_date(day), a["scores"], None, a["comment"]))
    return out


def _as_date(v: Any) -> date:
    return v if isinstance(v, date) else date.fromisoformat(str(v)[:10])


def import_surveys(store: Store, package: Package, created_by: str) -> list[Campaign]:
    """One imported check-in per (service, group) of the package's surveys table, all or
    nothing."""
    model = package.model
    items = []
    for (service, group), rows in sorted(survey_answers(package).items()):
        g = model.group(group)
        questions = {"name": g.name if g else group, "kind": g.kind if g else None,
                     "dimensions": [{"id": d.id, "name": d.name, "weight": d.weight}
                                    for d in (g.value_dimensions if g else ())]}
        items.append(Imported(service, model.service(service).name, group, questions, rows))
    return import_campaigns(store, model.organisation.name, str(package.path), items,
                            created_by)
