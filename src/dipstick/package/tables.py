"""The signal tables of contract v1 as data: columns, types, rules, references and keys.

One declaration drives loading, validation, importing and the docs, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["text", "timestamp", "month", "number", "integer", "boolean"]
Ref = Literal["service", "group", "outcome", "journey", "touchpoint", "dimension"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind = "text"
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    ref: Ref | None = None

    @property
    def sql_type(self) -> str:
        return {"text": "VARCHAR", "timestamp": "TIMESTAMP", "month": "TIMESTAMP",
                "number": "DOUBLE", "integer": "BIGINT", "boolean": "BOOLEAN"}[self.kind]


def _c(name: str, kind: Kind = "text", **kw: Any) -> Column:
    return Column(name, kind, **kw)


REQ: dict[str, Any] = {"required": True}
COUNT: dict[str, Any] = {"minimum": 0}
SCORE: dict[str, Any] = {"minimum": 0, "maximum": 10}

TABLES: dict[str, tuple[Column, ...]] = {
    "tickets": (
        _c("id", **REQ), _c("service", ref="service", **REQ), _c("opened_at", "timestamp", **REQ),
        _c("resolved_at", "timestamp"),
        _c("type", choices=("incident", "request", "question"), **REQ),
        _c("reopened", "number", **COUNT), _c("satisfaction", "number", **SCORE),
        _c("lost_minutes", "number", **COUNT), _c("requester_group", ref="group"),
        _c("reassignments", "number", **COUNT),
    ),
    "usage": (
        _c("date", "timestamp", **REQ), _c("service", ref="service", **REQ),
        _c("active_users", "number", required=True, minimum=0),
    ),
    "costs": (
        _c("month", "month", **REQ), _c("service", ref="service", **REQ),
        _c("amount", "number", required=True, minimum=0),
    ),
    "training": (
        _c("date", "timestamp", **REQ), _c("service", ref="service", **REQ),
        _c("group", ref="group", **REQ), _c("completed", "number", required=True, minimum=0),
        _c("required", "number", required=True, minimum=0),
    ),
    "changes": (
        _c("id", **REQ), _c("service", ref="service", **REQ), _c("date", "timestamp", **REQ),
        _c("kind", choices=("release", "organisational", "process"), **REQ),
        _c("success", "boolean"), _c("communicated", "boolean"),
    ),
    "surveys": (
        _c("date", "timestamp", **REQ), _c("service", ref="service", **REQ),
        _c("group", ref="group", **REQ), _c("dimension", ref="dimension", **REQ),
        _c("score", "number", required=True, **SCORE), _c("respondent"), _c("comment"),
    ),
    "kpis": (
        _c("date", "timestamp", **REQ), _c("outcome", ref="outcome", **REQ),
        _c("value", "number", **REQ),
    ),
    "events": (
        _c("case_id", **REQ), _c("activity", **REQ), _c("timestamp", "timestamp", **REQ),
        _c("process"), _c("lifecycle", choices=("start", "complete")), _c("resource"),
        _c("service", ref="service"),
        _c("seq", "integer"),  # extension: order of equal-timestamp events (default: file order)
    ),
    "touchpoints": (
        _c("date", "timestamp", **REQ), _c("journey", ref="journey", **REQ),
        _c("touchpoint", ref="touchpoint", **REQ), _c("satisfaction", "number", **SCORE),
        _c("visitors", "number", **COUNT), _c("drop_offs", "number", **COUNT),
    ),
}

# The key of each table: no two rows may share one (the loader's check, the same for validate,
# check and import), and a re-import replaces the rows with the keys it carries
# (docs/connectors.md). ``events`` has none: one case repeats an activity at one timestamp.
KEYS: dict[str, tuple[str, ...]] = {
    "tickets": ("id",), "changes": ("id",), "usage": ("date", "service"),
    "costs": ("month", "service"), "training": ("date", "service", "group"),
    "surveys": ("date", "service", "group", "dimension", "respondent"),
    "kpis": ("date", "outcome"), "touchpoints": ("date", "journey", "touchpoint"),
    "services": ("id",),
}


def keys_of(table: str, present: Iterable[str]) -> tuple[tuple[str, ...], bool]:
    """The key of ``table`` given the columns ``present``, and whether it is unique per row.
    Anonymous survey answers (no respondent column) have none of their own: their slice (date,
    service, group, dimension) is the key, several answers may share it, and a re-import
    replaces the whole slice."""
    keys = KEYS.get(table, ())
    if table == "surveys" and "respondent" not in set(present):
        return keys[:-1], False
    return keys, bool(keys)


FORMATS = (".csv", ".parquet")
