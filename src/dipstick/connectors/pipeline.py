"""The DuckDB SQL of an import: map columns, type values, check every row, collapse audit
trails, resolve services, merge with the existing table.

Every step is a table or view in the import's own on-disk DuckDB database, so a 5 GB export
streams through in bounded memory. Bad rows are collected in one table ``_bad`` (row, field,
value, message): they either stop the import (reported like the package loader does, the first
rows of each kind with their row numbers) or are written to a rejects file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import duckdb

from dipstick.connectors.presets import Preset
from dipstick.engine.casts import whole_sql
from dipstick.engine.log_times import (
    DAYFIRST_EXPECTED,
    DMY,
    ISO_EXPECTED,
    Slash,
    iso_sql,
    timestamp_sql,
)
from dipstick.engine.sql import MAX_ROWS_PER_PROBLEM, ident, literal, run, value_rules
from dipstick.errors import PackageError, Problem, UsageError
from dipstick.package.tables import Column

RAW = "_raw"
EXTRA: dict[str, tuple[Column, ...]] = {"tickets": (Column("state"),)}
@dataclass(frozen=True)
class Plan:
    """Where each dipstick field comes from: a source column, or a constant."""

    kind: str
    columns: tuple[Column, ...]
    sources: Mapping[str, str]                 # field -> source column
    constants: Mapping[str, str] = field(default_factory=dict)
    preset: Preset | None = None
    missing: tuple[str, ...] = ("", "?")
    order: str | None = None                   # collapse: the order column (source name)

    def label(self, f: str) -> str:
        return self.sources.get(f, f)


@dataclass(frozen=True)
class Dates:
    dayfirst: bool = False
    fmt: str | None = None
    extra: tuple[str, ...] = ()


def plan(kind: str, columns: tuple[Column, ...], found: Sequence[str], display: str,
         mapping: Mapping[str, str], service_from: str | None, preset: Preset | None,
         service_optional: bool) -> Plan:
    """Match fields to source columns: ``--map`` first, then the preset's candidates, then a
    column named like the field (case-insensitive). A missing required column is a problem."""
    names = {c.name for c in columns}
    unknown = sorted(set(mapping) - names)
    if unknown:
        raise UsageError(f"--map: {', '.join(unknown)} is not a field of {kind} (fields: "
                         f"{', '.join(c.name for c in columns)})")
    lower = {c.lower(): c for c in found}
    sources: dict[str, str] = {}
    problems: list[Problem] = []

    def missing(f: str, col: str) -> None:
        problems.append(Problem(display, f"the column {col!r} for {f} is missing (columns "
                                f"found: {', '.join(found) or 'none'}){_delimiter_hint(found)}",
                                field=col))

    wanted = dict(mapping)
    if service_from and "service" in names and "service" not in wanted:
        wanted["service"] = service_from
    for f, col in wanted.items():
        if col.lower() in lower:
            sources[f] = lower[col.lower()]
        else:
            missing(f, col)
    candidates = dict(preset.columns) if preset else {}
    if preset and preset.service_from and "service" in names:
        candidates["service"] = preset.service_from
    constants = {f: v for f, v in (preset.constants if preset else {}).items()
                 if f not in sources}
    for c in columns:
        if c.name in sources or c.name in wanted:
            continue
        for cand in (*candidates.get(c.name, ()), c.name):
            if cand.lower() in lower:
                sources[c.name] = lower[cand.lower()]
                break
        else:
            optional = c.name == "service" and service_optional
            if c.required and c.name not in constants and not optional:
                tried = [*candidates.get(c.name, ()), c.name]
                hint = " or --service-from" if c.name == "service" else ""
                problems.append(Problem(display, f"no column for the required field {c.name} "
                                        f"(looked for {', '.join(map(repr, tried))}; map one "
                                        f"with --map {c.name}=COLUMN{hint}; columns found: "
                                        f"{', '.join(found) or 'none'})"
                                        f"{_delimiter_hint(found)}", field=c.name))
    if problems:
        raise PackageError(problems)
    order = None
    if preset and preset.collapse and preset.collapse.order.lower() in lower:
        order = lower[preset.collapse.order.lower()]
    return Plan(kind, columns, sources, constants, preset,
                preset.missing if preset else ("", "?"), order)


def _delimiter_hint(found: Sequence[str]) -> str:
    if len(found) == 1 and any(d in found[0] for d in ";\t|,"):
        return (" — the whole header is one column: the delimiter is probably wrong (give it "
                "with --delimiter)")
    return ""


# The mapped expressions below (missing-value marks, date formats, value maps, constants,
# choices) are compiled into the ``_typed`` view, where DuckDB cannot bind parameters: their
# values are literals by ``engine.sql.literal``, the one escaping helper.

def _text(col: str, missing: Sequence[str]) -> str:
    v = f"trim(CAST({ident(col)} AS VARCHAR))"
    marks = ", ".join(literal(m) for m in missing)
    return f"CASE WHEN {v} IN ({marks}) THEN NULL ELSE {v} END" if missing else v


def date_sql(t: str, dates: Dates, month: bool = False) -> tuple[str, str]:
    """SQL turning text into a TIMESTAMP (NULL when unparseable) and the expected form.

    ISO 8601 is always accepted unless an explicit format is given; day-first (d/m/yyyy) only
    with ``dayfirst``, so 3/4/2026 is never guessed."""
    if month:
        t = (f"CASE WHEN regexp_full_match({t}, '\\d{{4}}-\\d{{1,2}}') THEN {t} || '-01' "
             f"ELSE {t} END")
    if dates.fmt is not None:
        return timestamp_sql(t, dates.fmt, None)
    iso_expected = ISO_EXPECTED
    # ISO as an event log's: the time-zone parse, which honours an offset or a zone (Z, +01:00,
    # UTC, or after a space as Java writes it) and refuses other text after the time (the plain
    # TIMESTAMP cast read "2016-02-29 10:00 PM" as 10:00); only after a four-digit year (t is
    # trimmed): a day-first date failing that parse cost 0.4 s per 1.2 M values
    parts = [f"CASE WHEN substr({t}, 5, 1) = '-' THEN {iso_sql(t, spaced=True)} END"]
    expected = [iso_expected]
    if dates.dayfirst:
        parts.append(timestamp_sql(t, None, Slash(DMY))[0])
        expected.append(DAYFIRST_EXPECTED)
    if dates.extra:
        forms = ", ".join(literal(f) for f in dates.extra)
        parts.append(f"CAST(try_strptime({t}, [{forms}]) AS TIMESTAMP)")
        expected.append(" or ".join(dates.extra))
    hint = "" if dates.dayfirst else " (day-first dates like 29/2/2016: --dayfirst; other forms: "\
        "--date-format)"
    return f"coalesce({', '.join(parts)})", " or ".join(expected) + hint


def typed_sql(c: Column, t: str, dates: Dates, values: Mapping[str, str] | None,
              default: str | None) -> tuple[str, str]:
    """SQL of the typed value of column ``c`` from text ``t``, and what a valid value is."""
    if values:
        cases = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in values.items())
        other = literal(default) if default is not None else f"lower({t})"
        return f"CASE WHEN {t} IS NULL THEN NULL ELSE CASE lower({t}) {cases} ELSE {other} " \
            "END END", ""
    if c.kind == "timestamp":
        return date_sql(t, dates)
    if c.kind == "month":
        s, exp = date_sql(t, dates, month=True)
        return f"date_trunc('month', {s})", "a month (2026-03 or a date in it): " + exp
    if c.kind == "number":
        return f"TRY_CAST({t} AS DOUBLE)", "a number"
    if c.kind == "integer":
        # (a whole number beyond BIGINT, 20 or 5,000 digits, is not valid either)
        return whole_sql(t), "a whole number"
    if c.kind == "boolean":
        return (f"CASE WHEN lower({t}) IN ('true', 'yes', 'y', '1', 't') THEN true WHEN "
                f"lower({t}) IN ('false', 'no', 'n', '0', 'f') THEN false END",
                "true/false or yes/no")
    if c.choices:
        return f"lower({t})", ""
    return t, ""


def build_typed(con: duckdb.DuckDBPyConnection, p: Plan, dates: Dates,
                refs: Mapping[str, set[str]]) -> list[tuple[str, str, str, str]]:
    """Create ``_typed`` (``_row``, ``t_<field>`` text, ``v_<field>`` typed) from the source
    view ``_raw`` and return the row checks as (field label, condition, message, value SQL).

    The file is read once, straight into one on-disk table in file order (its rowid is the
    data row). What is stored is what later steps need, no more (writing it is half the
    import): a text field once; a typed field as its value, plus its source text only on the
    rows where a check of that field fails (``e_<field>``, for the messages). The view shows
    ``t_<field>`` for every field: the source text where kept, else the value as text."""
    cols: list[str] = []
    shown: list[str] = []
    inner: dict[str, str] = {}   # each source column's text, computed once per row
    checks: list[tuple[str, str, str, str]] = []
    preset = p.preset

    def text(col: str) -> str:
        name = f"s_{len(inner)}" if col not in inner else inner[col].rsplit(" AS ", 1)[1]
        inner.setdefault(col, f"{_text(col, p.missing)} AS {name}")
        return name

    for c in p.columns:
        tx, vx, ex = ident("t_" + c.name), ident("v_" + c.name), ident("e_" + c.name)
        if c.name in p.sources:
            t = text(p.sources[c.name])
            values = preset.values.get(c.name) if preset else None
            default = preset.default_value.get(c.name) if preset else None
            v, expected = typed_sql(c, t, dates, values, default)
        elif c.name in p.constants:
            t = v = literal(p.constants[c.name])
            expected = ""
        else:
            shown += [f"CAST(NULL AS VARCHAR) AS {tx}", f"CAST(NULL AS {c.sql_type}) AS {vx}"]
            continue
        label = p.label(c.name)
        if v == t:   # plain text: stored once, checked as text
            cols.append(f"{t} AS {tx}")
            shown.append(f"{tx} AS {vx}")
            if c.name == "service":
                continue   # resolved and checked after the service mapping
            if c.required:
                checks.append((label, f"{tx} IS NULL", "is required but empty", tx))
            if c.ref and c.ref != "service":
                owner = {"dimension": "group", "touchpoint": "journey"}.get(c.ref)
                key = tx if owner is None else f"(t_{owner} || chr(31) || {tx})"
                known = _ref(con, c.ref, refs.get(c.ref, set()))
                hint = " — add it, or use --starter-groups" if c.ref == "group" else ""
                checks.append((label, f"{tx} IS NOT NULL AND {key} NOT IN {known}",
                               f"unknown {c.ref} id (not in dipstick.yaml){hint}", tx))
            continue
        rules: list[tuple[str, str, str]] = []   # (condition on v, on the stored columns, message)
        if expected:
            rules.append((f"{t} IS NOT NULL AND {v} IS NULL", f"{ex} IS NOT NULL AND {vx} IS NULL",
                          f"is not valid: expected {expected}"))
        # the package loader's own rules (engine.sql.value_rules): one copy for both
        rules += [(on_v, on_stored, message) for (on_v, message), (on_stored, _)
                  in zip(value_rules(c, v), value_rules(c, vx), strict=True)]
        cols.append(f"{v} AS {vx}")
        if rules:
            fails = " OR ".join(f"coalesce({r[0]}, false)" for r in rules)
            cols.append(f"CASE WHEN {fails} THEN {t} END AS {ex}")
            shown.append(f"coalesce({ex}, CAST({vx} AS VARCHAR)) AS {tx}")
        else:
            shown.append(f"CAST({vx} AS VARCHAR) AS {tx}")
        if c.required:
            empty = f"{vx} IS NULL" + (f" AND {ex} IS NULL" if rules else "")
            checks.append((label, empty, "is required but empty", "NULL"))
        checks += [(label, on_stored, message, ex) for _, on_stored, message in rules]
    if p.order is not None:
        t = text(p.order)
        cols += [f"TRY_CAST({t} AS DOUBLE) AS _ord",
                 f"CASE WHEN {t} IS NOT NULL AND TRY_CAST({t} AS DOUBLE) IS NULL THEN {t} END "
                 "AS _tord"]
        checks.append((p.order, "_tord IS NOT NULL",
                       "is not a number (it orders the updates of a record)", "_tord"))
    run(con, f"CREATE OR REPLACE TABLE _typed_t AS SELECT {', '.join(cols)} FROM (SELECT "
             f"{', '.join(inner.values()) or '1 AS _none'} FROM {RAW})")
    run(con, "CREATE OR REPLACE VIEW _typed AS SELECT rowid + 1 AS _row, *"
             f"{''.join(', ' + a for a in shown)} FROM _typed_t")
    return checks


def _ref(con: duckdb.DuckDBPyConnection, kind: str, ids: set[str]) -> str:
    name = f"_ref_{kind}"
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT unnest($ids::VARCHAR[]) AS id",
                {"ids": sorted(ids)}).fetchall()
    return f"(SELECT id FROM {name})"


def collect_bad(con: duckdb.DuckDBPyConnection, relation: str,
                checks: Sequence[tuple[str, str, str, str]], stage: str) -> None:
    """Append the rows of ``relation`` failing any check to ``_bad`` (one row per failure).

    One scan counts every check; only the checks that fail scan again, so a clean file costs
    one pass whatever the number of checks."""
    run(con, "CREATE TABLE IF NOT EXISTS _bad (row BIGINT, field VARCHAR, value VARCHAR, "
             "message VARCHAR, stage VARCHAR)")
    if not checks:
        return
    counts = run(con, "SELECT " + ", ".join(f"count(*) FILTER (WHERE {c[1]})" for c in checks)
                 + f" FROM {relation}")[0]
    for (label, cond, message, value), n in zip(checks, counts, strict=True):
        if n:
            run(con, f"INSERT INTO _bad SELECT _row, ?, CAST({value} AS VARCHAR), ?, ? "
                     f"FROM {relation} WHERE {cond}", [label, message, stage])


def bad_problems(con: duckdb.DuckDBPyConnection, display: str, lines: bool) -> list[Problem]:
    """The bad rows as problems: the first rows of each kind, then a count of the rest."""
    problems: list[Problem] = []
    kinds = run(con, "SELECT field, message, count(*) FROM _bad GROUP BY ALL "
                     "ORDER BY min(row), field")
    for f, message, n in kinds:
        rows = con.execute("SELECT row, value FROM _bad WHERE field = $f AND message = $m "
                           f"ORDER BY row LIMIT {MAX_ROWS_PER_PROBLEM}",
                           {"f": f, "m": message}).fetchall()
        for r, v in rows:
            problems.append(Problem(display, message, row=int(r), field=f, value=v,
                                    line=int(r) + 1 if lines else None))
        if n > len(rows):
            problems.append(Problem(display, f"{message}: {n - len(rows):,} more rows like the "
                                    "ones above", field=f))
    return problems


def collapse_sql(p: Plan) -> str:
    """One row per record of an audit trail: the last update wins (by the order column, then
    file order), counts take their maximum, ``last_known`` fields their last non-missing value."""
    assert p.preset is not None and p.preset.collapse is not None
    spec = p.preset.collapse
    order = "_ord, _row" if p.order else "_row"
    out = ["max(_row) FILTER (WHERE _last) AS _row"]
    for c in p.columns:
        for pre in ("t_", "v_"):
            x = ident(pre + c.name)
            if c.name == "id":
                continue
            if c.name in spec.maximum and pre == "v_":
                agg = f"max({x})"
            elif c.name in spec.last_known:
                agg = f"last({x} ORDER BY {order}) FILTER (WHERE {x} IS NOT NULL)"
            else:
                agg = f"last({x} ORDER BY {order})"
            out.append(f"{agg} AS {x}")
    last = f"row_number() OVER (PARTITION BY v_id ORDER BY {order} DESC) = 1 AS _last"
    return (f"SELECT t_id, v_id, {', '.join(out)} FROM (SELECT *, {last} FROM _typed "
            "WHERE _row NOT IN (SELECT row FROM _bad)) GROUP BY t_id, v_id")
