"""A check-in's results: pure functions of its answers.

Anonymity: a group's scores and comments are shown only from ``MIN_GROUP`` answers up — fewer
could point at a person. Promoters − detractors is over those who answered "how likely to
recommend": % scoring 9–10 minus % scoring 0–6 (the perception indicator's rule).
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from dipstick.pulse.campaigns import AnswerRow, Campaign

MIN_GROUP = 5
PMD_FORMULA = "% promoters (recommend 9–10) − % detractors (recommend 0–6)"
SCORE_FORMULA = "Σ weight × mean score of the dimension / Σ weight (0–10)"


def campaign_results(campaign: Campaign, rows: list[AnswerRow],
                     invited: dict[str, tuple[int, int]], *, comments: bool,
                     today: date) -> dict[str, Any]:
    """Response rate, score per group and dimension, promoters − detractors, comments."""
    groups = []
    for gid in campaign.groups:
        mine = [r for r in rows if r.group == gid]
        inv, used = invited.get(gid, (0, 0))
        q = campaign.questions.get(gid, {"name": gid, "dimensions": []})
        shown = len(mine) >= MIN_GROUP
        group: dict[str, Any] = {
            "id": gid, "name": q["name"], "answers": len(mine), "invited": inv,
            "response_rate": round(used / inv, 3) if inv else None,
            "shown": shown,
            "hidden_reason": None if shown else
            f"fewer than {MIN_GROUP} answers: hidden to keep them anonymous",
        }
        if shown:
            dims = []
            for d in q["dimensions"]:
                vals = [r.scores[d["id"]] for r in mine if d["id"] in r.scores]
                dims.append({"id": d["id"], "name": d["name"], "weight": d["weight"],
                             "mean": round(sum(vals) / len(vals), 2) if vals else None,
                             "answers": len(vals)})
            weighted = [(d["weight"], d["mean"]) for d in dims if d["mean"] is not None]
            total = sum(w for w, _ in weighted)
            recs = [r.recommend for r in mine if r.recommend is not None]
            group.update({
                "score": round(sum(w * m for w, m in weighted) / total, 2) if total else None,
                "score_formula": SCORE_FORMULA,
                "dimensions": dims,
                "recommend_answers": len(recs),
                "promoters_minus_detractors": round(
                    100.0 * (sum(r >= 9 for r in recs) - sum(r <= 6 for r in recs)) / len(recs),
                    1) if recs else None,
                "pmd_formula": PMD_FORMULA,
            })
            if comments:
                group["comments"] = [r.comment for r in mine if r.comment]
        groups.append(group)
    invited_total = sum(i for i, _ in invited.values())
    used_total = sum(u for _, u in invited.values())
    return {
        "campaign": {"id": campaign.id, "service_id": campaign.service_id,
                     "service_name": campaign.service_name, "groups": list(campaign.groups),
                     "group_names": [campaign.group_name(g) for g in campaign.groups],
                     "source": campaign.source, "created_at": campaign.created_at.isoformat(),
                     "created_by": campaign.created_by,
                     "closes_on": campaign.closes_on.isoformat() if campaign.closes_on else None,
                     "open": campaign.is_open(today), "open_link_group": campaign.open_group},
        "answers": len(rows),
        "invited": invited_total,
        "response_rate": round(used_total / invited_total, 3) if invited_total else None,
        "response_rate_formula": "invitations answered / invitations sent "
                                 "(open-link answers are not counted in it)",
        "min_group": MIN_GROUP,
        "groups": groups,
    }


def export_csv(campaign: Campaign, rows: list[AnswerRow], comments: bool = True) -> str:
    """The answers in the shape of a data package's ``surveys`` table (one row per dimension;
    the comment on the first, when the reader may see comments), groups under ``MIN_GROUP``
    answers left out."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.group] = counts.get(r.group, 0) + 1
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["date", "service", "group", "dimension", "score", "comment", "recommend"])
    for r in rows:
        if counts[r.group] < MIN_GROUP:
            continue
        for i, (dim, score) in enumerate(r.scores.items()):
            w.writerow([r.answered_on.isoformat(), campaign.service_id, r.group, dim,
                        _num(score), _cell(r.comment or "") if i == 0 and comments else "",
                        "" if r.recommend is None else r.recommend])
    return buf.getvalue()


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


def _cell(text: str) -> str:
    """A comment opened in a spreadsheet must stay text, never become a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
