"""The rules a signal table's rows must keep, declared once and rendered for each engine.

Why a declaration rather than SQL: the DuckDB loader (:mod:`dipstick.engine.sql`) and the Spark
loader (:mod:`dipstick.engine.spark_load`) must judge the same rows the same way, with the
same messages. Each rule says *what* is checked (a test and its argument); a :class:`Dialect`
says *how* one engine's SQL writes it. Both engines run one aggregate scan of the counts and
fetch at most :data:`~dipstick.engine.sql.MAX_ROWS_PER_PROBLEM` rows per broken rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, Protocol

from dipstick.bounds import DATE_RANGE, EARLIEST, LATEST, NOT_FINITE

Test = Literal["required", "type", "finite", "dates", "min", "max", "choices", "ref",
               "pair_ref", "before", "more_than"]


class Column(Protocol):
    """What the rules need of a column of the contract (:mod:`dipstick.package.tables`
    declares them; the engine sits below the package loader, so it names the shape)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def required(self) -> bool: ...
    @property
    def minimum(self) -> float | None: ...
    @property
    def maximum(self) -> float | None: ...
    @property
    def choices(self) -> tuple[str, ...]: ...
    @property
    def ref(self) -> str | None: ...
    @property
    def sql_type(self) -> str: ...


@dataclass(frozen=True)
class Rule:
    """One rule of a column: rows where ``test`` holds on the column's value are reported
    with ``message``. ``arg``: the bound, the choices, the owner or the other column;
    ``ref``: the reference kind; ``guarded``: a bound judged only on finite values (NaN
    compares above every number in both engines)."""

    field: str
    test: Test
    message: str
    arg: object = None
    guarded: bool = False
    ref: str | None = None


def value_rules_of(c: Column, may_be_infinite: bool = True) -> list[Rule]:
    """The rules of a column's typed values: dates in :mod:`dipstick.bounds`'s range, finite
    numbers, bounds, choices (``may_be_infinite`` is False for a typed column that cannot
    hold inf or NaN: integers, decimals)."""
    rules: list[Rule] = []
    guarded = c.kind == "number" and may_be_infinite
    if guarded:
        rules.append(Rule(c.name, "finite", NOT_FINITE))
    if c.kind in ("timestamp", "month"):
        rules.append(Rule(c.name, "dates", DATES_OUTSIDE))
    if c.minimum is not None:
        rules.append(Rule(c.name, "min", f"must be ≥ {c.minimum:g}", c.minimum, guarded))
    if c.maximum is not None:
        rules.append(Rule(c.name, "max", f"must be ≤ {c.maximum:g}", c.maximum, guarded))
    if c.choices:
        rules.append(Rule(c.name, "choices", f"must be one of {', '.join(c.choices)}",
                          c.choices))
    return rules


def table_rules(table: str, columns: Sequence[Column], present: Iterable[str],
                may_be_infinite: Callable[[str], bool],
                always_casts: Callable[[str, str], bool]) -> list[Rule]:
    """Every rule of a table's rows, in the order problems are listed: per column present,
    required, type, values, reference; then the rules across columns. ``always_casts(name,
    kind)``: the raw column's type makes the type rule moot (a typed Parquet column)."""
    found = set(present)
    rules: list[Rule] = []
    for c in columns:
        if c.name not in found:
            continue
        if c.required:
            rules.append(Rule(c.name, "required", "is required but empty"))
        if c.kind != "text" and not always_casts(c.name, c.kind):
            rules.append(Rule(c.name, "type", f"is not a valid {kind_name(c.kind)}"))
        rules += value_rules_of(c, may_be_infinite(c.name))
        if c.ref in ("dimension", "touchpoint"):
            owner = "group" if c.ref == "dimension" else "journey"
            if owner in found:
                rules.append(Rule(c.name, "pair_ref",
                                  f"unknown {c.ref} of that {owner} in dipstick.yaml", owner,
                                  ref=c.ref))
        elif c.ref is not None:
            rules.append(Rule(c.name, "ref", f"unknown {c.ref} id (not in dipstick.yaml)",
                              ref=c.ref))
    if table == "tickets" and "resolved_at" in found:
        rules.append(Rule("resolved_at", "before", "is before opened_at", "opened_at"))
    if table == "touchpoints" and {"visitors", "drop_offs"} <= found:
        rules.append(Rule("drop_offs", "more_than", "is more than visitors", "visitors"))
    return rules


def dates_outside(v: str) -> str:
    """SQL true where the timestamp ``v`` is outside :mod:`dipstick.bounds`'s range (the
    package's tables and the event logs alike; both engines write it so)."""
    return (f"({v} < TIMESTAMP '{EARLIEST}' OR "
            f"{v} >= TIMESTAMP '{LATEST + timedelta(days=1)}')")


DATES_OUTSIDE = f"must be a date {DATE_RANGE}"


def kind_name(kind: str) -> str:
    return {"timestamp": "date (ISO 8601, e.g. 2026-03-01 or 2026-03-01T09:30:00Z)",
            "month": "month (2026-03 or 2026-03-01)", "number": "number",
            "integer": "whole number", "boolean": "boolean (true/false)"}.get(kind, kind)


class Dialect:
    """How one engine's SQL writes a rule; subclasses name the few functions that differ.
    ``known(kind, owner)`` is the SQL of the set of ids a reference may name."""

    text_type = "VARCHAR"

    def ident(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def literal(self, value: object) -> str:
        return "'" + str(value).replace("'", "''") + "'"

    def not_finite(self, v: str) -> str:
        return f"NOT isfinite({v})"

    def finite(self, v: str) -> str:
        return f"isfinite({v})"

    def not_in(self, v: str, known: str) -> str:
        return f"{v} NOT IN {known}"

    def in_list(self, values: Iterable[str]) -> str:
        vals = sorted(set(values))
        return "(" + ", ".join(self.literal(v) for v in vals) + ")" if vals else "(NULL)"

    def condition(self, rule: Rule, typed: Mapping[str, str],
                  known: Callable[[str], str]) -> str:
        """The SQL condition true on the rows breaking ``rule`` (``typed``: each present
        column's typed expression; ``known(kind)``: the ids of a reference kind)."""
        x, v = self.ident(rule.field), typed[rule.field]
        guard = f"{self.finite(v)} AND " if rule.guarded else ""
        match rule.test:
            case "required":
                return f"{x} IS NULL"
            case "type":
                return f"{x} IS NOT NULL AND {v} IS NULL"
            case "finite":
                return self.not_finite(v)
            case "dates":
                return dates_outside(v)
            case "min":
                return f"{guard}{v} < {rule.arg}"
            case "max":
                return f"{guard}{v} > {rule.arg}"
            case "choices":
                assert isinstance(rule.arg, tuple)
                return f"{v} NOT IN {self.in_list(rule.arg)}"
            case "ref":
                return f"{v} IS NOT NULL AND {self.not_in(v, known(str(rule.ref)))}"
            case "pair_ref":
                owner = self.ident(str(rule.arg))
                pair = f"(CAST({owner} AS {self.text_type}) || chr(31) || {v})"
                return f"{v} IS NOT NULL AND {self.not_in(pair, known(str(rule.ref)))}"
            case "before":
                return f"{v} < {typed[str(rule.arg)]}"
            case "more_than":
                return f"{v} > {typed[str(rule.arg)]}"
        raise AssertionError(rule.test)


def rendered(dialect: Dialect, rules: Sequence[Rule], typed: Mapping[str, str],
             known: Callable[[str], str]) -> list[tuple[Rule, str]]:
    return [(r, dialect.condition(r, typed, known)) for r in rules]


DUCKDB = Dialect()
