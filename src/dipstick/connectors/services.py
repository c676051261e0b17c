"""Which service a row belongs to: the user's value → service map, service ids, or starter
services made from the values (docs/connectors.md, "Services of tickets and other rows")."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dipstick.connectors import catalog, folder
from dipstick.connectors import pipeline as pl
from dipstick.engine.sql import ident, literal, run
from dipstick.errors import PackageError, Problem
from dipstick.model import ValueModel

UNASSIGNED = "unassigned"   # the starter service of records without a service value
MAP_FILE = "service-map.csv"
WARN_SHARE = 0.05           # more rows than this without a mapped service is worth a warning
TOP = 5                     # the biggest unmapped values named


@dataclass(frozen=True)
class Said:
    """What the service mapping leaves out: problems that sum up failing rows (listed before
    them), and warnings for an import that succeeds."""

    problems: tuple[Problem, ...] = ()
    warnings: tuple[str, ...] = ()


def coverage(con: duckdb.DuckDBPyConnection, p: pl.Plan, display: str, unmapped: list[str],
             has_map: bool, starter: bool, fill: Mapping[str, float]) -> tuple[int, Said]:
    """How many rows of ``_final`` the mapping leaves without a service of their own, said
    with the option that fixes it: the rows with no value (the 'unassigned' service, or a
    failure without --starter-services) and the values nothing maps."""
    if "service" not in {c.name for c in p.columns}:
        return 0, Said()
    total = int(run(con, "SELECT count(*) FROM _final")[0][0])
    if not total:
        return 0, Said()
    col = p.label("service")
    noun = p.kind if p.kind in ("tickets", "changes") else "rows"
    has = "service" in p.sources
    empty = int(run(con, "SELECT count(*) FROM _final WHERE t_service IS NULL")[0][0]) \
        if has else total
    better = [c for c, f in sorted(fill.items(), key=lambda x: -x[1])
              if c != col and f >= 1 - WARN_SHARE]
    other = (f"; {better[0]} is filled on {fill[better[0]]:.1%}: --service-from {better[0]}"
             if better else "; choose another column with --service-from COLUMN")
    problems: list[Problem] = []
    warnings: list[str] = []
    if empty and has:
        share = f"{empty:,} of {total:,} {noun} ({empty / total:.1%}) have no {col}"
        if not starter:
            problems.append(Problem(display, f"{share}: add --starter-services to "
                                    f"put them in the service '{UNASSIGNED}'{other}",
                                    field=col))
        elif empty / total > WARN_SHARE:
            warnings.append(f"{share}: they go to the service '{UNASSIGNED}'{other}")
    if unmapped and (not starter or has_map):
        counts = con.execute(
            "SELECT t_service, count(*) AS n FROM _final WHERE t_service IN (SELECT unnest("
            "$v::VARCHAR[])) GROUP BY 1 ORDER BY n DESC, 1", {"v": unmapped}).fetchall()
        n = sum(int(c) for _, c in counts)
        top = ", ".join(f"{v} ({int(c):,})" for v, c in counts[:TOP])
        share = (f"{n:,} of {total:,} {noun} ({n / total:.1%}) name {len(unmapped):,} "
                 f"{col} values that are not services yet (biggest: {top})")
        if not starter:
            problems.append(Problem(display, f"{share}: add --starter-services to "
                                    "make one service of each (and a service-map.csv to edit), "
                                    "or map them to services with --service-map FILE",
                                    field=col))
        elif n / total > WARN_SHARE:
            warnings.append(f"{share}: the service map does not name them, so each became a "
                            "starter service; map them in the service map to fold them in")
    return empty if starter else 0, Said(tuple(problems), tuple(warnings))


def resolve_services(con: duckdb.DuckDBPyConnection, p: pl.Plan, service_map: Path | None,
                     starter: bool, model: ValueModel
                     ) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    """Create ``_final`` (``_rows`` with ``v_service`` resolved to a service id) and return
    (unmapped values, services to add (id, name), the value → id pairs used)."""
    ids = {s.id for s in model.services}
    given = read_service_map(service_map, ids, starter)
    if "service" not in {c.name for c in p.columns}:
        run(con, "CREATE OR REPLACE VIEW _final AS SELECT * FROM _rows")
        return [], [], []
    has = "service" in p.sources
    values = [str(r[0]) for r in run(con, "SELECT DISTINCT t_service FROM _rows WHERE t_service "
                                          "IS NOT NULL ORDER BY 1")] if has else []
    resolved = {v: given.get(v, v if v in ids else "") for v in values}
    unmapped = [v for v, sid in resolved.items() if not sid]
    added: list[tuple[str, str]] = []
    if starter:
        starters = catalog.starter_ids(unmapped, ids)
        resolved.update(starters)
        added = [(sid, v) for v, sid in starters.items() if sid not in ids]
        # services the user's map names but dipstick.yaml lacks: created under their id
        for sid in dict.fromkeys(s for s in given.values() if s not in ids):
            if sid not in {a for a, _ in added}:
                added.append((sid, sid))
        empty = int(run(con, "SELECT count(*) FROM _rows WHERE t_service IS NULL")[0][0]) \
            if has else 1
        if empty and UNASSIGNED not in ids and UNASSIGNED not in {a for a, _ in added}:
            added.append((UNASSIGNED, f"Unassigned (no {p.label('service')})"))
    pairs = [(v, s) for v, s in resolved.items() if s]
    con.execute("CREATE OR REPLACE TABLE _svcmap AS SELECT unnest($v::VARCHAR[]) AS value, "
                "unnest($s::VARCHAR[]) AS service",
                {"v": [v for v, _ in pairs], "s": [s for _, s in pairs]}).fetchall()
    fallback = literal(UNASSIGNED) if starter else "NULL"
    run(con, "CREATE OR REPLACE VIEW _final AS SELECT r.* REPLACE (coalesce(m.service, CASE WHEN "
             f"r.t_service IS NULL THEN {fallback} END) AS v_service) FROM _rows r LEFT JOIN "
             "_svcmap m ON m.value = r.t_service")
    return unmapped, added, pairs


def read_service_map(path: Path | None, ids: set[str], starter: bool) -> dict[str, str]:
    """The user's CSV of ``value,service`` pairs; each service must exist (or be created by
    ``--starter-services``)."""
    if path is None:
        return {}
    display = str(path)
    if not path.is_file():
        raise PackageError([Problem(display, "service map not found")])
    problems: list[Problem] = []
    out: dict[str, str] = {}
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        header = [h.strip().lower() for h in reader.fieldnames or []]
        if not {"value", "service"} <= set(header):
            raise PackageError([Problem(display, "a service map needs the columns value,service "
                                        f"(found: {', '.join(header) or 'none'})")])
        for row, rec in enumerate(reader, 1):
            rec = {k.strip().lower(): (v or "").strip() for k, v in rec.items() if k}
            value, sid = rec.get("value", ""), rec.get("service", "")
            if not value or not sid:
                problems.append(Problem(display, "value and service are both required", row=row,
                                        line=row + 1, field="service" if value else "value"))
            elif sid not in ids and not starter:
                problems.append(Problem(display, "unknown service id (not in dipstick.yaml; "
                                        "add it, or use --starter-services)", row=row,
                                        line=row + 1, field="service", value=sid))
            elif value in out and out[value] != sid:
                problems.append(Problem(display, f"the value is mapped twice ({out[value]!r} "
                                        "above)", row=row, line=row + 1, field="value",
                                        value=value))
            else:
                out[value] = sid
    if problems:
        raise PackageError(problems)
    return out


def write_map(into: Path, staged: Path, pairs: list[tuple[str, str]]) -> Path:
    """The starter mapping, merged with the one already in the package: edit it, then pass it
    with --service-map on the next import."""
    known: dict[str, str] = {}
    old = into / MAP_FILE
    if old.is_file():
        with old.open(encoding="utf-8-sig", newline="") as f:
            for rec in csv.DictReader(f):
                if rec.get("value") and rec.get("service"):
                    known[rec["value"]] = rec["service"]
    known.update(pairs)
    out = staged / MAP_FILE
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["value", "service"])
        w.writerows(sorted(known.items()))
    return out


def group_columns(p: pl.Plan) -> list[str]:
    return [p.sources[c.name] for c in p.columns if c.ref == "group" and c.name in p.sources]


def starter_groups(con: duckdb.DuckDBPyConnection, p: pl.Plan, text: str, model: ValueModel,
                    work: Path) -> tuple[str, ValueModel, list[str]]:
    """Every group value of the export that dipstick.yaml lacks becomes a stakeholder group
    (id and name the value, kind internal): requesters are people inside the organisation
    until the user says otherwise. Returns the new model text, model and the ids added."""
    cols = group_columns(p)
    if not cols:
        return text, model, []
    known = {g.id for g in model.stakeholder_groups}
    marks = ", ".join(literal(m) for m in p.missing)
    found: set[str] = set()
    for col in cols:
        found |= {str(v) for (v,) in run(
            con, f"SELECT DISTINCT trim({ident(col)}) AS v FROM {pl.RAW} WHERE "
                 f"trim({ident(col)}) NOT IN ({marks}) AND {ident(col)} IS NOT NULL")}
    new = sorted(found - known)
    if not new:
        return text, model, []
    groups = [*catalog.raw_block(text, "stakeholder_groups"),
              *({"id": g, "name": g, "kind": "internal"} for g in new)]
    text = catalog.with_block(text, "stakeholder_groups", groups)
    return text, folder.check_model(text, work), new
