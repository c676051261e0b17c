"""The admins' audit page (``/audit``, ``/api/audit``) and who-and-where for the audit trail.

The trail is written by :func:`dipstick.store.audit.record` where things change; this module
names the web's actor — the signed-in user's e-mail and the client's address (the proxy's
forwarded address only when the server trusts that proxy: uvicorn decides, before us) — and
lists the trail, filtered and paged, to admins only (others get 403).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from dipstick.errors import UsageError
from dipstick.store.audit import Actor, keep_days
from dipstick.store.audit_log import MAX_OFFSET, MAX_PAGE, entries
from dipstick.store.audit_log import Query as AuditQuery
from dipstick.store.users import Account
from dipstick.web.auth import ApiUser, PageUser, allow, store_of
from dipstick.web.templating import render

router = APIRouter()
PAGE = 50
admin_only = allow("admin")


def client(request: Request) -> str:
    """The client's address as the server sees it (``?`` when unknown, e.g. a test client)."""
    return request.client.host if request.client else "?"


def actor_of(request: Request, who: Account | str) -> Actor:
    """The web's actor: an account (or the e-mail typed at a failed sign-in) and its address."""
    return Actor(who if isinstance(who, str) else who.email, client(request))


def audit_query(
        since: Annotated[date | None, Query(description="entries from this day (UTC) on")] = None,
        user: Annotated[str | None, Query(max_length=200, description="whose (e-mail or OS "
                                                                      "user)")] = None,
        action: Annotated[str | None, Query(max_length=50, description=(
            "an action, or its family: user matches user.create, user.token…"))] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> AuditQuery:
    """The page's and the API's filters (one set: the form's fields are these parameters)."""
    try:
        return AuditQuery(datetime.combine(since, time(), tzinfo=UTC) if since else None,
                          user or None, action or None, limit, offset)
    except UsageError as e:   # unreachable past the bounds above; kept as a 422, not a 500
        raise HTTPException(422, str(e)) from None


AuditFilters = Annotated[AuditQuery, Depends(audit_query)]


@router.get("/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_page(request: Request, who: PageUser, query: AuditFilters) -> HTMLResponse:
    admin_only(who)
    found, total = entries(store_of(request), query)
    return render(request, "audit.html.j2", who, entries=[e.to_json() for e in found],
                  total=total, asked=query, pages=_links(query, total), keep_days=keep_days())


@router.get("/api/audit", tags=["api"])
def audit_api(request: Request, who: ApiUser, query: AuditFilters) -> dict[str, Any]:
    """The audit trail, newest first (admins): who signed in or failed to, uploaded a
    package, ran a check, changed an action or a user — when (UTC), from where, what."""
    admin_only(who)
    found, total = entries(store_of(request), query)
    return {"entries": [e.to_json() for e in found], "total": total, "limit": query.limit,
            "offset": query.offset}


def _links(query: AuditQuery, total: int) -> dict[str, str | None]:
    keep = {k: v for k, v in (("since", query.since.date().isoformat() if query.since else None),
                              ("user", query.actor), ("action", query.action)) if v}

    def at(offset: int) -> str:
        return "/audit?" + urlencode(keep | {"offset": str(offset)})

    step = query.limit
    if step != PAGE:
        keep["limit"] = str(step)
    return {"previous": at(max(0, query.offset - step)) if query.offset > 0 else None,
            "next": at(query.offset + step)
            if query.offset + step < total and query.offset + step <= MAX_OFFSET else None}

