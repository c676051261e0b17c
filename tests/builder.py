"""A tiny builder for data packages in tests: a value model and signal rows in a few lines.

Defaults describe one healthy, well-connected service (``crm``) consumed by one internal group,
so each test only states what it changes.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import yaml

AS_OF = date(2026, 11, 1)


def days(start: date, end: date, step: int = 1) -> Iterable[date]:
    d = start
    while d <= end:
        yield d
        d += timedelta(days=step)


class PackageBuilder:
    def __init__(self, root: Path, as_of: date = AS_OF) -> None:
        self.root = root
        self.as_of = as_of
        self.model: dict[str, Any] = {
            "organisation": {"name": "Test Org", "currency": "EUR", "hourly_rate": 50,
                             "as_of": as_of.isoformat()},
            "settings": {},
            "stakeholder_groups": [
                {"id": "staff", "name": "Staff", "kind": "internal", "size": 100,
                 "value_dimensions": [{"id": "time_saved", "name": "Time saved", "weight": 2},
                                      {"id": "ease", "name": "Ease of use", "weight": 1}]},
                {"id": "shoppers", "name": "Shoppers", "kind": "customer", "size": 5000,
                 "value_dimensions": [{"id": "ease", "name": "Ease", "weight": 1}]},
            ],
            "outcomes": [{"id": "sales", "name": "More sales", "status": "active",
                          "kpi": {"name": "Orders", "target": 100, "direction": "up"}}],
            "services": [],
            "value_streams": [],
            "journeys": [],
        }
        self.tables: dict[str, list[dict[str, Any]]] = {}

    # -- value model -------------------------------------------------------------------------
    def service(self, sid: str = "crm", **fields: Any) -> PackageBuilder:
        base: dict[str, Any] = {
            "id": sid, "name": sid.upper(), "owner": f"{sid}@example.org", "lifecycle": "live",
            "capability": f"cap-{sid}", "monthly_cost": 1000, "licences": 100,
            "licence_cost_monthly": 10, "consumers": ["staff"],
            "supports": [{"outcome": "sales", "contribution": 1.0}],
        }
        base.update(fields)
        self.model["services"].append(base)
        return self

    def set(self, section: str, value: Any) -> PackageBuilder:
        self.model[section] = value
        return self

    def settings(self, **values: Any) -> PackageBuilder:
        self.model["settings"].update(values)
        return self

    # -- signals -----------------------------------------------------------------------------
    def rows(self, table: str, rows: Iterable[dict[str, Any]]) -> PackageBuilder:
        self.tables.setdefault(table, []).extend(rows)
        return self

    def usage(self, sid: str = "crm", users: float = 90, since_days: int = 500,
              after: tuple[date, float] | None = None) -> PackageBuilder:
        """Daily active users; ``after=(day, users)`` changes the level from that day on."""
        start = self.as_of - timedelta(days=since_days)
        return self.rows("usage", (
            {"date": d.isoformat(), "service": sid,
             "active_users": after[1] if after and d >= after[0] else users}
            for d in days(start, self.as_of)))

    def tickets(self, sid: str = "crm", *, per_week: int = 5, since_days: int = 500,
                kind: str = "incident", satisfaction: float = 8, lost_minutes: float = 30,
                resolve_hours: float = 8, reopened: int = 0, reassignments: int = 0,
                group: str | None = "staff", start_day: date | None = None,
                end_day: date | None = None, prefix: str = "") -> PackageBuilder:
        start = start_day or self.as_of - timedelta(days=since_days)
        end = end_day or self.as_of
        rows = []
        # numbered on from the last call's last number, skipped days included: numbering on
        # from the row count repeated ids after a call that skipped days (issue 17 made
        # a repeated ticket id a problem)
        n = max(len(self.tables.get("tickets", [])), getattr(self, "_tickets_numbered", 0))
        for d in days(start, end, 7):
            for k in range(per_week):
                n += 1
                opened = d + timedelta(days=k % 7)
                if opened > end:
                    continue
                rows.append({
                    "id": f"{prefix}T{n}", "service": sid, "type": kind,
                    "opened_at": f"{opened.isoformat()}T09:00:00Z",
                    "resolved_at": (datetime.combine(opened, time(9))
                                    + timedelta(hours=resolve_hours)).isoformat() + "Z",
                    "satisfaction": satisfaction, "lost_minutes": lost_minutes,
                    "reopened": reopened, "reassignments": reassignments,
                    "requester_group": group or ""})
        self._tickets_numbered = n
        return self.rows("tickets", rows)

    def satisfaction_step(self, sid: str = "crm", days_ago: int = 120, before: float = 8.5,
                          after: float = 4.0) -> PackageBuilder:
        """Ten tickets a week whose satisfaction steps from ``before`` to ``after``."""
        step = self.as_of - timedelta(days=days_ago)
        self.tickets(sid, per_week=10, satisfaction=before, end_day=step - timedelta(days=1))
        return self.tickets(sid, per_week=10, satisfaction=after, start_day=step, prefix="B")

    def surveys(self, sid: str = "crm", group: str = "staff", score: float = 8,
                on: Iterable[date] | None = None, respondents: int = 5,
                dimensions: tuple[str, ...] = ("time_saved", "ease")) -> PackageBuilder:
        dates = list(on) if on is not None else [self.as_of - timedelta(days=30 + 91 * k)
                                                 for k in range(5)]
        return self.rows("surveys", (
            {"date": d.isoformat(), "service": sid, "group": group, "dimension": dim,
             "score": score, "respondent": f"r{r}"}
            for d in dates for dim in dimensions for r in range(respondents)))

    def kpis(self, outcome: str = "sales", value: float = 105) -> PackageBuilder:
        return self.rows("kpis", ({"date": d.isoformat(), "outcome": outcome, "value": value}
                                  for d in days(self.as_of - timedelta(days=400), self.as_of, 30)))

    def journey(self, jid: str = "buy",
                stages: dict[str, list[tuple[str, list[str]]]] | None = None, *,
                persona: str = "Shopper", group: str = "shoppers") -> PackageBuilder:
        """A journey map; ``stages`` maps each stage name to its (touchpoint id, services);
        touchpoint names are the ids capitalised."""
        stages = stages if stages is not None else {"Pay": [("checkout", ["crm"])]}
        self.model["journeys"].append({
            "id": jid, "name": jid.capitalize(), "persona": persona, "stakeholder_group": group,
            "stages": [{"name": stage, "touchpoints": [
                {"id": tid, "name": tid.capitalize(), "channel": "web", "services": services}
                for tid, services in tps]} for stage, tps in stages.items()]})
        return self

    def touchpoint_rows(self, journey: str, touchpoint: str,
                        rows: Iterable[tuple[date, float, float, float]]) -> PackageBuilder:
        """Touchpoint rows as (date, satisfaction, visitors, drop_offs)."""
        return self.rows("touchpoints", (
            {"date": d.isoformat(), "journey": journey, "touchpoint": touchpoint,
             "satisfaction": sat, "visitors": visitors, "drop_offs": drops}
            for d, sat, visitors, drops in rows))

    def healthy(self, sid: str = "crm") -> PackageBuilder:
        """A healthy service with every signal in good shape."""
        return (self.service(sid).usage(sid).tickets(sid).surveys(sid).kpis())

    # -- output ------------------------------------------------------------------------------
    def write(self, fmt: str = "csv") -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "dipstick.yaml").write_text(yaml.safe_dump(self.model, sort_keys=False))
        for name, rows in self.tables.items():
            cols: list[str] = []
            for r in rows:
                cols += [c for c in r if c not in cols]
            if fmt == "parquet":
                import pyarrow as pa
                import pyarrow.parquet as pq

                pq.write_table(pa.Table.from_pylist([{c: r.get(c) for c in cols} for r in rows]),
                               self.root / f"{name}.parquet")
                continue
            with (self.root / f"{name}.csv").open("w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=cols)
                w.writeheader()
                w.writerows(rows)
        return self.root


def typed_parquet(root: Path) -> Path:
    """Each CSV of the package ``root`` rewritten as a Parquet file with typed columns (dates as
    timestamps, numbers as numbers, text as Parquet strings), as an export would be: what the
    loader's typed-first path reads."""
    import duckdb

    con = duckdb.connect()
    try:
        for f in sorted(root.glob("*.csv")):
            con.execute(f"COPY (SELECT * FROM read_csv('{f}', header = true)) TO "
                        f"'{f.with_suffix('.parquet')}' (FORMAT parquet)").fetchall()
            f.unlink()
    finally:
        con.close()
    return root


def plain_signals(pkg: Path) -> Any:
    """The package's CSV tables loaded as the engine loads them but uncoded (text keys, no
    ENUM views): the paths a Parquet lake or Spark takes, to compare with the coded ones."""
    from functools import partial

    from dipstick.engine import Signals, sql
    from dipstick.package import load_package, reference_ids
    from dipstick.package.tables import TABLES, keys_of

    con = sql.connect()
    refs = reference_ids(load_package(pkg).model)
    for f in sorted(pkg.glob("*.csv")):
        assert sql.load_table(con, f.stem, f, TABLES[f.stem], refs, f.name,
                              partial(keys_of, f.stem), coded=False) == []
    return Signals(con, {f.stem: f.stem for f in pkg.glob("*.csv")})
