"""The JSON API: the same data as the pages, for machines (OpenAPI at /api/openapi.json)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from dipstick.web import views
from dipstick.web.auth import ApiUser, store_of

router = APIRouter(prefix="/api", tags=["api"])


@router.get("/me")
def me(who: ApiUser) -> dict[str, Any]:
    """The caller's account."""
    return {"id": who.id, "email": who.email, "name": who.name, "role": who.role}


def portfolio_filters(
        owner: Annotated[str | None, Query(max_length=200, description="owner, exactly")] = None,
        group: Annotated[str | None, Query(max_length=200, description=(
            "a stakeholder group id: services it consumes (needs the value model)"))] = None,
        lifecycle: Annotated[str | None, Query(max_length=20, description=(
            "pipeline, live, retiring or retired"))] = None,
        capability: Annotated[str | None, Query(max_length=200, description=(
            "capability, exactly (needs the value model)"))] = None,
        cause: Annotated[str | None, Query(max_length=50, description=(
            "a leak cause: services whose light for it is on (leak or watch)"))] = None,
        status: Annotated[str | None, Query(max_length=20, description=(
            "a service's overall light: leak, watch, unknown or ok"))] = None,
        q: Annotated[str | None, Query(max_length=200, description=(
            "search in id, name, owner and capability (case-insensitive)"))] = None,
) -> views.Filters:
    """The portfolio's filters: the page's form fields are these same query parameters."""
    return views.Filters.of(owner=owner, group=group, lifecycle=lifecycle,
                            capability=capability, cause=cause, status=status, q=q)


PortfolioFilters = Annotated[views.Filters, Depends(portfolio_filters)]
Limit = Annotated[int, Query(ge=1, le=views.MAX_LIMIT, description="services per page")]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1, description="services to skip")]
ItemLimit = Annotated[int, Query(ge=1, le=views.MAX_LIMIT, description="items per page")]
ItemOffset = Annotated[int, Query(ge=0, le=2**31 - 1, description="items to skip")]


@router.get("/portfolio")
def portfolio(request: Request, who: ApiUser, filters: PortfolioFilters,
              limit: Limit = views.DEFAULT_LIMIT, offset: Offset = 0) -> dict[str, Any]:
    """Every service's lights in the latest check, worst first, filtered and paginated
    (``total`` counts the matches): the portfolio page's numbers. ``summary`` is the whole
    portfolio, ``matched`` the selection, ``changes`` the leaks new and ended since the
    previous run of the same organisation. ``model.available`` false: the group and
    capability filters are ignored (``ignored``), ``model.reason`` says why."""
    return views.portfolio(store_of(request), filters, limit, offset)


@router.get("/runs")
def runs(request: Request, who: ApiUser,
         limit: Annotated[int, Query(ge=1, le=500)] = 20, offset: Offset = 0) -> dict[str, Any]:
    """The stored checks, newest first, with their totals (``total`` counts them all)."""
    return views.runs(store_of(request), limit, offset)
