"""Text columns of a known, small set of values kept as DuckDB ENUMs behind a view of text.

Why: a loaded table lives in DuckDB's uncompressed in-memory storage, where every text value
is copied into the table's blocks and every later scan rebuilds it. A column a rule confines
to the package's ids or to a list of choices (a ticket's service, type and requester group)
fits an ENUM instead: one or two bytes a row and a scan that reads them (5.3 M tickets: the
table 690 → 430 MB, a check's group-by on service and type 0.22 → 0.16 s of CPU). The table is
exposed as a view casting each such column back to VARCHAR, so every reader sees the same
types and the same strings as before; an ENUM's order is never compared. The check's hottest
scans opt in to the ENUMs as stored (``Signals.frame(name, coded=True)``) and cast their keys
to text once aggregated.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence

import duckdb

from dipstick.engine.quote import ident, literal
from dipstick.engine.rules import Rule

MAX_CODES = 2**16 - 1   # two bytes a row at most: above, a column stays VARCHAR
_BY_VALUE = {"choices", "ref", "pair_ref"}


def codes_of(rules: Sequence[Rule], read_columns: Mapping[int, tuple[str, ...]],
             as_read: Mapping[int, bool], refs: Mapping[str, Iterable[str]]
             ) -> dict[str, tuple[str, ...]]:
    """The columns to keep as ENUMs, with their values sorted: each a text column kept as
    read whose every non-null value a rule (choices, a reference) requires to be one of a
    known set, and that no other rule reads but its null test. A package whose values pass
    its rules then casts without a loss; one that does not is refused anyway."""
    sets: dict[str, set[str]] = {}
    barred: set[str] = set()
    for i, r in enumerate(rules):
        if r.test == "required":
            continue
        if r.test not in _BY_VALUE or not as_read[i]:
            barred.update(read_columns[i])
            continue
        sets.setdefault(r.field, set()).update(values_of(r, refs))
    return {name: tuple(sorted(vs)) for name, vs in sets.items()
            if name not in barred and 0 < len(vs) <= MAX_CODES}


def values_of(rule: Rule, refs: Mapping[str, Iterable[str]]) -> set[str]:
    """The values a choices or reference rule allows its column (a pair's ids, of any
    owner)."""
    if rule.test == "choices":
        assert isinstance(rule.arg, tuple)
        return set(rule.arg)
    ids = refs.get(str(rule.ref), ())
    return {v.split(chr(31), 1)[-1] for v in ids} if rule.test == "pair_ref" else set(ids)


def judged(rule: Rule, codes: Mapping[str, Sequence[str]],
           refs: Mapping[str, Iterable[str]]) -> bool:
    """Whether ``rule`` holds on every row of a table whose ``codes`` columns were cast:
    a choices or reference rule whose column is an ENUM of exactly its values (the cast
    fails on any other value). A pair's owner is not in the ENUM: it is still counted."""
    return (rule.test in ("choices", "ref") and rule.field in codes
            and set(codes[rule.field]) == values_of(rule, refs))


def enum_type(values: Sequence[str]) -> str:
    """An anonymous ENUM of ``values`` (a table's column type: dropped with the table)."""
    return "ENUM(" + ", ".join(literal(v) for v in values) + ")"


def stored(table: str) -> str:
    """The name of the table under ``table``'s view."""
    return f"_coded_{table}"


def drop_kept(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Drop a signal table loaded before, whichever form it took (a table, or a view over
    its coded table): DuckDB's ``DROP TABLE IF EXISTS`` refuses a view of that name."""
    for kind, name in (("VIEW", table), ("TABLE", table), ("TABLE", stored(table))):
        with contextlib.suppress(duckdb.CatalogException):
            con.execute(f"DROP {kind} IF EXISTS {ident(name)}").fetchall()


def view_sql(table: str, names: Sequence[str], codes: Mapping[str, object]) -> str:
    """The view ``table`` over its coded table: the coded columns as text again."""
    cols = [f"CAST({ident(n)} AS VARCHAR) AS {ident(n)}" if n in codes else ident(n)
            for n in names]
    return f"CREATE VIEW {ident(table)} AS SELECT {', '.join(cols)} FROM {ident(stored(table))}"
