"""The shared shape of every leak indicator.

An indicator is two functions around a typed spec: ``measure`` aggregates the signal tables in
the engine (Narwhals over DuckDB, once for all services), ``assess`` turns one service's
measures into a :class:`Finding` in plain Python. Thresholds are data (:class:`Threshold`), so
the same grading rule — and the same 0–100 score — holds for every cause. The result
vocabulary itself lives in :mod:`dipstick.findings`, below indicators, shifts and journeys;
it is re-exported here for the indicator modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from dipstick.findings import (
    CheckContext,
    CommonSpec,
    Evidence,
    Finding,
    LeakEstimate,
    Spec,
    Status,
    Threshold,
    Window,
    conclude,
    evidence,
    fact,
    not_applicable,
    unknown,
)
from dipstick.model import Service

__all__ = ["CheckContext", "CommonSpec", "Evidence", "Finding", "Indicator", "LeakEstimate",
           "Spec", "Status", "Threshold", "Window", "conclude", "evidence", "fact", "money",
           "not_applicable", "row_of", "unknown"]


S = TypeVar("S", bound=Spec)
M = TypeVar("M")


@dataclass(frozen=True)
class Indicator(Generic[S, M]):
    """A leak cause: a spec of settings, an engine aggregation and a plain-Python decision."""

    cause: str
    title: str
    question: str
    action: str
    spec: type[S]
    measure: Callable[[CheckContext, S], M]
    assess: Callable[[Service, M, CheckContext, S], Finding]


def money(v: float) -> str:
    return f"{v:,.0f}"


def row_of(rows: dict[str, dict[str, Any]], service: str) -> dict[str, Any]:
    return rows.get(service, {})
