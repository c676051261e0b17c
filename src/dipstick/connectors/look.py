"""Look before the leap: what an export actually holds, read before an import maps it.

A preset names the columns a tool usually exports; a real export differs. Before the plan is
made, this reads the header and the candidate columns' fill rates and decides, saying why:

- **the service column**: the preset's candidates in their documented order (ServiceNow:
  business_service, cmdb_ci, assignment_group), the first filled on at least 95 % of records
  with more than one value, else the most filled one (and a warning);
- **near misses**: a preset column exported under another name (``state`` as ``ident_state``)
  is matched when exactly one header fits, else the headers that fit are suggested;
- **duplicate headers**, which DuckDB renames (``category`` twice → ``category_1``);
- **date forms** read from sample values: slash dates whose first part passes 12 are
  day-first (``--dayfirst``), whose second part does are month-first (``--date-format``).

After the rows are typed, :func:`fill_rates` gives each mapped field's share of rows with a
value and its distinct count, for ``--dry-run`` and the summary. See docs/connectors.md.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dipstick.connectors import pipeline as pl
from dipstick.connectors.presets import Preset
from dipstick.connectors.sources import Source, stage
from dipstick.engine.log_times import named_form
from dipstick.engine.sql import ident, literal, run

FILLED_ENOUGH = 0.95    # a service column leaving more than 5 % of records without one is weak
SAMPLE = 2000           # date values read to tell day-first from month-first


@dataclass(frozen=True)
class FieldLook:
    """One dipstick field as the export fills it: one row of the mapping table."""

    field: str
    column: str | None
    how: str                    # --map, --service-from, preset, near match, same name, constant
    filled: float | None = None  # share of rows with a value (of records, for an audit trail)
    distinct: int | None = None

    def to_json(self) -> dict[str, object]:
        return {"field": self.field, "column": self.column, "how": self.how,
                "filled": self.filled, "distinct": self.distinct}


@dataclass(frozen=True)
class Choice:
    """What the look decided before the plan: extra ``field -> column`` pairs (near matches),
    the service column, and what to tell the user."""

    mapping: Mapping[str, str] = field(default_factory=dict)
    service_from: str | None = None
    service_fill: Mapping[str, float] = field(default_factory=dict)   # candidate -> filled
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    dates: str | None = None       # the option the date values need, if any
    date_forms: tuple[str, ...] = ()   # the form of dates whose month is a name, read as shown


def choose(con: duckdb.DuckDBPyConnection, src: Source, kind: str, spec: Preset | None,
           mapping: Mapping[str, str], service_from: str | None, dayfirst: bool,
           date_format: str | None, date_fields: Sequence[str]) -> Choice:
    """Read the export's header and candidate columns and decide what the plan cannot know."""
    notes: list[str] = []
    warnings = [*duplicate_headers(src)]
    extra: dict[str, str] = {}
    lower = {c.lower(): c for c in src.columns}
    if spec is not None:
        taken = {c.lower() for c in mapping.values()}
        absent = []
        for f, candidates in spec.columns.items():
            if f in mapping or any(c.lower() in lower for c in (*candidates, f)):
                continue
            near = near_misses((*candidates, f), src.columns, taken)
            tried = " or ".join(dict.fromkeys((*candidates, f)))
            if len(near) == 1:
                extra[f] = near[0]
                taken.add(near[0].lower())
                notes.append(f"{f} ← {near[0]}: the export has no {tried}; {near[0]} is the "
                             f"one near match (--map {f}=COLUMN to choose another)")
            elif near:
                warnings.append(f"{f}: the export has no {tried}; near matches "
                                f"{', '.join(near)}: choose with --map {f}={near[0]} "
                                f"(imported without {f})")
            else:
                absent.append(f"{f} ({tried})")
        if absent:
            notes.append(f"not in the export, imported without: {', '.join(absent)} (map "
                         "another column with --map FIELD=COLUMN)")
    fill: dict[str, float] = {}
    chosen = service_from
    if spec is not None and spec.service_from and service_from is None \
            and "service" not in mapping:
        present = [lower[c.lower()] for c in spec.service_from if c.lower() in lower]
        fill, distinct = _fill(con, src, present, spec, lower)
        chosen, said = pick_service(spec.service_from, present, fill, distinct)
        (notes if chosen and fill.get(chosen, 0) >= FILLED_ENOUGH else warnings).append(said)
    cols = [c for c in dict.fromkeys(mapping.get(f) or _column(f, spec, lower)
                                     for f in date_fields) if c]
    values = [v for v in _sample(con, src, cols) if v.strip()] if cols else []
    hint = _date_hint(values, dayfirst or bool(spec and spec.dayfirst), date_format)
    if hint:
        warnings.append(hint)
    forms: tuple[str, ...] = ()
    named = None if date_format is not None else _named(con, values)
    if named is not None:
        forms = (named[0],)
        notes.append(f"dates read in the form {named[0]}, as {named[1]!r} shows (--date-format "
                     "sets another)")
    return Choice(extra, chosen, fill, tuple(notes), tuple(warnings), hint, forms)


def _named(con: duckdb.DuckDBPyConnection, values: Sequence[str]) -> tuple[str, str] | None:
    """The form of a sampled date whose month is a name (``log_times.named_form``), among the
    first ten distinct values of the date columns (rows interleave them), and that date; a
    month name tells the order, so it is read, not guessed."""
    for v in list(dict.fromkeys(v.strip() for v in values))[:10]:
        found = named_form(con, v)
        if found is not None:
            return found, v
    return None


def pick_service(order: Sequence[str], present: Sequence[str], fill: Mapping[str, float],
                 distinct: Mapping[str, int]) -> tuple[str | None, str]:
    """The first candidate (in ``order``) filled on ≥ 95 % of records with more than one
    value, else the most filled; and the sentence saying which and why."""
    lower = {c.lower(): c for c in present}
    said = []
    for cand in order:
        col = lower.get(cand.lower())
        if col is None:
            said.append(f"{cand} not in the export")
        else:
            n = distinct.get(col, 0)
            said.append(f"{col} filled on {fill.get(col, 0):.1%} ({n:,} value"
                        f"{'' if n == 1 else 's'})")
    good = [c for c in present if fill.get(c, 0) >= FILLED_ENOUGH and distinct.get(c, 0) > 1]
    if good:
        chosen: str | None = good[0]
        why = "the first filled on at least 95 %"
    else:
        filled = [c for c in present if fill.get(c, 0) > 0]
        chosen = max(filled, key=lambda c: fill[c]) if filled else None
        why = "the most filled, but under 95 %: choose with --service-from COLUMN" if chosen \
            else "none is filled: name the service column with --service-from COLUMN"
    head = f"services from {chosen}" if chosen else "no service column"
    return chosen, f"{head} ({why}; {'; '.join(said)})"


def _column(f: str, spec: Preset | None, lower: Mapping[str, str]) -> str | None:
    for cand in (*(spec.columns.get(f, ()) if spec else ()), f):
        if cand.lower() in lower:
            return lower[cand.lower()]
    return None


def _fill(con: duckdb.DuckDBPyConnection, src: Source, cols: Sequence[str], spec: Preset,
          lower: Mapping[str, str]) -> tuple[dict[str, float], dict[str, int]]:
    """Each column's share of records with a value and its distinct values, in one pass. An
    audit trail counts records (a value on any update fills the record), not rows."""
    if not cols:
        return {}, {}
    key = _column("id", spec, lower) if spec.collapse else None
    stage(con, src, "_look", [*cols, *([key] if key else [])])
    marks = ", ".join(literal(m) for m in spec.missing)

    def has(c: str) -> str:
        return f"trim({ident(c)}) NOT IN ({marks})"

    if key:
        unit = f"count(DISTINCT {ident(key)})"
        parts = [f"count(DISTINCT {ident(key)}) FILTER (WHERE {has(c)})" for c in cols]
    else:
        unit = "count(*)"
        parts = [f"count(*) FILTER (WHERE {has(c)})" for c in cols]
    parts += [f"count(DISTINCT {ident(c)}) FILTER (WHERE {has(c)})" for c in cols]
    got = run(con, f"SELECT {unit}, {', '.join(parts)} FROM _look")[0]
    total = int(got[0]) or 1
    n = len(cols)
    return ({c: int(got[1 + i]) / total for i, c in enumerate(cols)},
            {c: int(got[1 + n + i]) for i, c in enumerate(cols)})


def near_misses(wanted: Sequence[str], headers: Sequence[str], taken: set[str]) -> list[str]:
    """Headers that look like one of ``wanted``: one contains the other as a word part
    (``ident_state`` for ``state``), or they differ by little (difflib ratio ≥ 0.8)."""
    out: list[str] = []
    for h in headers:
        if h.lower() in taken:
            continue
        words = set(re.split(r"[^a-z0-9]+", h.lower())) - {""}
        for w in wanted:
            wl = w.lower()
            wwords = set(re.split(r"[^a-z0-9]+", wl)) - {""}
            if (wwords and wwords <= words) or (words and words <= wwords) or \
                    difflib.SequenceMatcher(None, wl, h.lower()).ratio() >= 0.8:
                out.append(h)
                break
    return out


def duplicate_headers(src: Source) -> list[str]:
    """The header names given more than once, with the names they are read under."""
    header = _raw_header(src)
    if not header:
        return []
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(header):
        seen.setdefault(name.strip(), []).append(i)
    out = []
    for name, places in seen.items():
        if len(places) > 1 and name:
            read_as = [src.columns[i] for i in places if i < len(src.columns)]
            out.append(f"the header names {name!r} {len(places)} times (columns "
                       f"{', '.join(str(i + 1) for i in places)}); they are read as "
                       f"{', '.join(map(repr, read_as))}: map the one you mean with --map "
                       f"FIELD=COLUMN")
    return out


def _sample(con: duckdb.DuckDBPyConnection, src: Source, cols: Sequence[str]) -> list[str]:
    """The first ``SAMPLE`` rows' values of ``cols``: read by the csv module from the top of a
    text file (DuckDB would sniff and scan a gzip file again), by DuckDB from Parquet."""
    if src.format == "parquet":
        stage(con, src, "_look_sample", list(cols))
        return [str(v) for c in cols for (v,) in run(
            con, f"SELECT {ident(c)} FROM _look_sample WHERE {ident(c)} IS NOT NULL "
                 f"LIMIT {SAMPLE}")]
    at = [src.columns.index(c) for c in cols if c in src.columns]
    path = Path(src.csv_file)
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    encoding = "utf-8-sig" if src.encoding == "utf-8" else src.encoding
    out: list[str] = []
    try:
        with opener(path, "rt", encoding=encoding, errors="replace", newline="") as f:
            rows = csv.reader(f, delimiter=src.delimiter or ",")
            next(rows, None)
            for n, row in enumerate(rows):
                if n >= SAMPLE:
                    break
                out += [row[i] for i in at if i < len(row)]
    except (OSError, csv.Error):
        return out
    return out


def _raw_header(src: Source) -> list[str]:
    if src.format == "parquet":
        return []
    path = Path(src.csv_file)
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    encoding = "utf-8-sig" if src.encoding == "utf-8" else src.encoding
    try:
        with opener(path, "rt", encoding=encoding, errors="replace", newline="") as f:
            return next(csv.reader(f, delimiter=src.delimiter or ","), [])
    except (OSError, csv.Error, StopIteration):
        return []


_SLASH = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{2,4})\b")


def date_hint(con: duckdb.DuckDBPyConnection, src: Source, cols: Sequence[str | None],
              dayfirst: bool, date_format: str | None) -> str | None:
    """A sentence naming the option the dates need, from the first values of the date
    columns: day-first (a first part over 12) or month-first (a second part over 12)."""
    names = [c for c in dict.fromkeys(cols) if c]
    if not names or date_format is not None:
        return None
    return _date_hint([v for v in _sample(con, src, names) if v.strip()], dayfirst, date_format)


def _date_hint(values: Sequence[str], dayfirst: bool, date_format: str | None) -> str | None:
    """:func:`date_hint` of the sampled values."""
    if date_format is not None:
        return None
    forms = [m.groups() for v in values if (m := _SLASH.match(v))]
    if not forms:
        return None
    first_big = next((v for v in values if (m := _SLASH.match(v)) and int(m.group(1)) > 12), None)
    second_big = next((v for v in values if (m := _SLASH.match(v)) and int(m.group(2)) > 12),
                      None)
    if first_big and not dayfirst and not second_big:
        return (f"the dates are day-first (e.g. {first_big.strip()!r}): add --dayfirst")
    if second_big and not first_big:
        return (f"the dates are month-first (e.g. {second_big.strip()!r}): give their form "
                "with --date-format, e.g. '%m/%d/%Y %H:%M'")
    if not first_big and not second_big and not dayfirst:
        return (f"the slash dates (e.g. {values[0].strip()!r}) could be day- or month-first: "
                "add --dayfirst or give --date-format")
    return None


def fill_rates(con: duckdb.DuckDBPyConnection, p: pl.Plan, how: Mapping[str, str],
               collapse: bool, distinct: bool = True) -> list[FieldLook]:
    """Each field of the plan with its source, how it was matched, and how filled it is in
    ``_typed`` (of records for an audit trail, as :func:`_fill`); with ``distinct``, how many
    values it takes (exact, so a cost on big exports: a dry run asks for it)."""
    fields = [c.name for c in p.columns if c.name in p.sources or c.name in p.constants]
    mapped = [f for f in fields if f in p.sources]
    got: Sequence[object] = ()
    if mapped:
        if collapse:
            unit = "count(DISTINCT v_id)"
            parts = [f"count(DISTINCT v_id) FILTER (WHERE {ident('v_' + f)} IS NOT NULL)"
                     for f in mapped]
        else:
            unit = "count(*)"
            parts = [f"count({ident('v_' + f)})" for f in mapped]
        parts += [f"count(DISTINCT {ident('v_' + f)})" if distinct else "NULL"
                  for f in mapped]
        got = run(con, f"SELECT {unit}, {', '.join(parts)} FROM _typed")[0]
    total = int(got[0]) if got else 0   # type: ignore[call-overload]
    out = []
    for c in p.columns:
        if c.name in p.sources:
            i = mapped.index(c.name)
            out.append(FieldLook(c.name, p.sources[c.name], how.get(c.name, "same name"),
                                 int(got[1 + i]) / total if total else None,  # type: ignore
                                 _int(got[1 + len(mapped) + i])))
        elif c.name in p.constants:
            out.append(FieldLook(c.name, None, f"constant {p.constants[c.name]!r}"))
        else:
            out.append(FieldLook(c.name, None, "not in the export"))
    return out


def _int(v: object) -> int | None:
    return None if v is None else int(v)  # type: ignore[call-overload]
