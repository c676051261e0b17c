"""Which service a row belongs to: the user's value → service map, service ids, or starter
services made from the values (docs/connectors.md, "Services of tickets and other rows")."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb

from dipstick.connectors import catalog
from dipstick.connectors import pipeline as pl
from dipstick.engine.sql import literal, run
from dipstick.errors import PackageError, Problem
from dipstick.model import ValueModel

UNASSIGNED = "unassigned"   # the starter service of records without a service value
MAP_FILE = "service-map.csv"


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
