"""The self-assessment on the web (issue 14, item 4): a service's owner — or a leader or an
admin, for any service — answers the day-one questionnaire; the answers are kept in the app
database with who gave them and when, and the next check (``dipstick check`` or "Check now")
turns them into self-assessed lights where no data can judge a cause yet.

Thin routes over :mod:`dipstick.selfassess` (the questions) and
:mod:`dipstick.store.selfassess` (the answers): the page and ``/api/…/self-assessment``
show the same dictionary.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dipstick.figures import cause_title
from dipstick.findings import SELF_ASSESSED
from dipstick.selfassess import QUESTIONNAIRE, SCALE, latest
from dipstick.store.selfassess import save_answers, stored_answers
from dipstick.store.users import Account
from dipstick.web.auth import ApiUser, PageUser, check_csrf, may_self_assess, store_of
from dipstick.web.service import Found, find
from dipstick.web.templating import render

router = APIRouter()


def _require(who: Account, f: Found) -> None:
    if not may_self_assess(who, f.service["owner"]):
        raise HTTPException(403, f"only the owner of {f.service['id']!r}, a leader or an admin "
                                 "may answer its self-assessment")


def questionnaire_view(f: Found) -> dict[str, Any]:
    """Every cause's questions with each answer's meaning, the answer that counts now (the web's
    newest, else the one the latest check used from the package's file) and the cause's light
    in the latest check."""
    sid = f.service["id"]
    given = latest(stored_answers(f.store, f.run["organisation"], sid))
    causes = []
    for cause in [c for c in f.run["causes"] if c in QUESTIONNAIRE]:
        finding = f.service["causes"].get(cause, {})
        used = {e["metric"].removeprefix("self:"): int(e["value"])
                for e in finding.get("evidence", [])
                if e["metric"].startswith("self:") and isinstance(e["value"], (int, float))}
        mine = given.get((sid, cause), {})
        causes.append({
            "cause": cause, "title": cause_title(cause),
            "status": finding.get("status", "unknown"),
            "basis": finding.get("basis", "measured"), "summary": finding.get("summary", ""),
            "questions": [{
                "id": q.id, "text": q.text,
                "answers": [{"value": v, "meaning": q.meaning(v)} for v in SCALE],
                "answer": mine[q.id].answer if q.id in mine else used.get(q.id),
                "answered_by": mine[q.id].answered_by if q.id in mine else None,
                "answered_on": (d.isoformat() if q.id in mine and (d := mine[q.id].date)
                                else None),
            } for q in QUESTIONNAIRE[cause]]})
    return {"service": {k: f.service[k] for k in ("id", "name", "owner", "status")},
            "run": {"run_id": f.run_id, "as_of": f.run["as_of"],
                    "organisation": f.run["organisation"]},
            "causes": causes}


def _answers(form: Any) -> tuple[dict[str, dict[str, int]], list[str]]:
    """The form's ``q:<cause>:<question>`` fields as answers per cause, and what is wrong."""
    out: dict[str, dict[str, int]] = {}
    bad: list[str] = []
    for key, value in form.multi_items():
        if not key.startswith("q:") or value in ("", None):
            continue
        _, cause, qid = [*key.split(":", 2), "", ""][:3]
        if cause not in QUESTIONNAIRE or qid not in {q.id for q in QUESTIONNAIRE[cause]}:
            bad.append(f"{key}: no such question")
        elif not (isinstance(value, str) and value.isdigit() and int(value) in SCALE):
            bad.append(f"{key}: answer 1 to 5")
        else:
            out.setdefault(cause, {})[qid] = int(value)
    return out, bad


@router.get("/services/{service_id}/self-assessment", response_class=HTMLResponse,
            include_in_schema=False)
def page(request: Request, service_id: str, who: PageUser,
         saved: Annotated[int | None, Query(ge=0, le=1000)] = None) -> HTMLResponse:
    f = find(store_of(request), service_id)
    _require(who, f)
    return render(request, "selfassess.html.j2", who, view=questionnaire_view(f), saved=saved,
                  self_assessed=SELF_ASSESSED)


@router.post("/services/{service_id}/self-assessment", response_model=None,
             include_in_schema=False)
async def answer(request: Request, service_id: str, who: PageUser) -> Response:
    """Keep the answers that changed; the lights follow at the next check."""
    form = await request.form()
    token = form.get("csrf_token")
    check_csrf(request, token if isinstance(token, str) else None)   # before anything else
    store = store_of(request)
    f = find(store, service_id)
    _require(who, f)
    answers, bad = _answers(form)
    if bad:
        raise HTTPException(422, "; ".join(bad))
    before = {(c["cause"], q["id"]): q["answer"] for c in questionnaire_view(f)["causes"]
              for q in c["questions"]}
    saved = 0
    for cause, given in answers.items():
        changed = {q: a for q, a in given.items() if before.get((cause, q)) != a}
        saved += save_answers(store, f.run["organisation"], service_id, cause, changed,
                              who.email)
    return RedirectResponse(f"/services/{quote(service_id, safe='')}/self-assessment"
                            f"?saved={saved}",
                            status_code=303)


@router.get("/api/services/{service_id}/self-assessment", tags=["api"])
def api(request: Request, service_id: str, who: ApiUser) -> dict[str, Any]:
    """The service's questionnaire: each cause's questions with what every answer (1–5) means,
    the answer that counts now and who gave it, and the cause's light in the latest check."""
    return questionnaire_view(find(store_of(request), service_id))
