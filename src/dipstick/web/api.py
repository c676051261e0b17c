"""The JSON API: the same data as the pages, for machines (OpenAPI at /api/openapi.json)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from dipstick.store.users import Account
from dipstick.web import views
from dipstick.web.auth import api_user, store_of

router = APIRouter(prefix="/api", tags=["api"])
User = Annotated[Account, Depends(api_user)]


@router.get("/me")
def me(who: User) -> dict[str, Any]:
    """The caller's account."""
    return {"id": who.id, "email": who.email, "name": who.name, "role": who.role}


@router.get("/portfolio")
def portfolio(request: Request, who: User) -> dict[str, Any]:
    """Every service's lights in the latest check, worst first, with the totals."""
    return views.portfolio(store_of(request))
