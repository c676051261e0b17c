"""Writing the package: ``dipstick.yaml`` from the catalog, and the signal tables as files.

CSV is what organisations export, so the default demo is CSV; the large one is Parquet, the
format a warehouse hands over. Both writers are deterministic (no timestamps or thread-order
effects in the bytes), so the same seed gives byte-identical files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml

from dipstick.demo import orgdata as od
from dipstick.demo.catalog import Catalog, ServiceDef
from dipstick.demo.timeline import Timeline

CURRENCY = "EUR"
HOURLY_RATE = 65
VALUE_PER_DROP_OFF = 25


def value_model(cat: Catalog, tl: Timeline) -> dict[str, Any]:
    """The ``dipstick.yaml`` document (contract v1 plus the ``runs_per_month`` extension)."""
    return {
        "organisation": {"name": od.ORGANISATION, "currency": CURRENCY,
                         "hourly_rate": HOURLY_RATE, "as_of": tl.as_of},
        "settings": {"value_per_drop_off": VALUE_PER_DROP_OFF},
        "stakeholder_groups": [
            {"id": g.id, "name": g.name, "kind": g.kind, "size": g.size,
             "value_dimensions": [{"id": i, "name": n, "weight": _num(w)} for i, n, w in g.dims]}
            for g in cat.groups],
        "outcomes": [
            {"id": o.id, "name": o.name, "owner": o.owner, "status": o.status,
             "kpi": {"name": o.kpi, "target": _num(o.target), "direction": o.direction}}
            for o in cat.outcomes],
        "services": [_service(s) for s in cat.services],
        "value_streams": [
            {"id": sid, "name": name, "runs_per_month": _num(runs), "steps": [
                {"name": st.name, "process_minutes": _num(st.process),
                 "wait_minutes": _num(st.wait), "complete_accurate": _num(st.ca),
                 "services": list(st.services),
                 "baseline": {"process_minutes": _num(st.base[0]),
                              "wait_minutes": _num(st.base[1]),
                              "complete_accurate": _num(st.base[2])}}
                for st in cat.steps if st.stream == sid]}
            for sid, name, runs in cat.streams],
        "journeys": [
            {"id": jid, "name": name, "persona": persona, "stakeholder_group": group,
             "stages": _stages(cat, jid)}
            for jid, name, persona, group in cat.journeys],
    }


def _service(s: ServiceDef) -> dict[str, Any]:
    out: dict[str, Any] = {"id": s.id, "name": s.name, "owner": s.owner, "lifecycle": "live",
                           "capability": s.capability, "monthly_cost": _num(s.monthly_cost)}
    if s.licences:
        out["licences"] = s.licences
        out["licence_cost_monthly"] = round(0.6 * s.monthly_cost / s.licences, 2)
    if s.end_of_life:
        out["end_of_life"] = s.end_of_life
    if s.launched:
        out["launched"] = s.launched
    out["consumers"] = list(s.consumers)
    out["supports"] = [{"outcome": o, "contribution": c} for o, c in s.supports]
    return out


def _stages(cat: Catalog, journey: str) -> list[dict[str, Any]]:
    stages: dict[str, list[dict[str, Any]]] = {}
    for t in cat.touchpoints:
        if t.journey == journey:
            stages.setdefault(t.stage, []).append(
                {"id": t.id, "name": t.name, "channel": t.channel, "services": list(t.services)})
    return [{"name": k, "touchpoints": v} for k, v in stages.items()]


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else round(float(v), 4)


def write_model(folder: Path, doc: dict[str, Any]) -> None:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text = yaml.dump(doc, Dumper=dumper, sort_keys=False, allow_unicode=True, width=100,
                     default_flow_style=None)
    header = ("# Northwind Retail: a synthetic organisation written by `dipstick demo`.\n"
              "# Seeded leaks and healthy services are listed in ground_truth.json.\n")
    (folder / "dipstick.yaml").write_text(header + text, encoding="utf-8")


def write_table(folder: Path, name: str, table: pa.Table, fmt: str) -> Path:
    """Write one signal table as ``name.csv`` or ``name.parquet``."""
    if fmt == "parquet":
        path = folder / f"{name}.parquet"
        pq.write_table(table, path, compression="zstd", row_group_size=1_000_000)
        return path
    path = folder / f"{name}.csv"
    with path.open("wb") as f:
        f.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(table, f, pacsv.WriteOptions(include_header=False,
                                                     quoting_style="needed"))
    return path
