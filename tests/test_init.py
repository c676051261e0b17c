"""`dipstick init`: a starter model that checks, and a ranked what-to-add-next list — on small
hand-made exports and on the real ServiceNow log (docs/init.md)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from dipstick.indicators.registry import CAUSES

from clirun import dipstick
from realdata import SERVICENOW_LOG, require


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def tickets(n: int = 30) -> list[dict[str, Any]]:
    """A hand-made ticket export: two services, two requester groups, lost time on one."""
    out = []
    for i in range(n):
        day = 1 + i % 28
        out.append({"id": f"T{i}", "service": "mail" if i % 3 else "erp",
                    "opened_at": f"2026-03-{day:02d}T09:00:00",
                    "resolved_at": f"2026-03-{day:02d}T{10 + i % 5}:00:00",
                    "type": "incident" if i % 2 else "request",
                    "requester_group": "finance" if i % 2 else "sales",
                    "lost_minutes": 30 if i % 3 == 0 else ""})
    return out


def init_json(pkg: Path, *args: str) -> dict[str, Any]:
    ran = dipstick("init", pkg, "--format", "json", *args)
    assert ran.returncode == 0, ran.stderr + ran.stdout
    return dict(json.loads(ran.stdout))


def steps(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["key"]: s for s in result["next_steps"]}


def test_init_on_a_hand_made_export_infers_groups_and_the_model_checks(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    write_csv(pkg / "tickets.csv", tickets())
    write_csv(pkg / "kpis.csv", [{"date": "2026-03-01", "outcome": "faster-close",
                                  "value": 5}])
    assert dipstick("validate", pkg).returncode == 2     # no dipstick.yaml yet
    result = init_json(pkg)
    assert result["written"] and not result["placeholder_group"]
    assert result["added"] == {"stakeholder_groups": ["finance", "sales"],
                               "outcomes": ["faster-close"], "services": ["erp", "mail"]}
    model = yaml.safe_load((pkg / "dipstick.yaml").read_text())
    assert model["organisation"] == {"name": "pkg", "currency": "EUR", "hourly_rate": 60}
    # consumers come from who raised the tickets: nothing invented
    assert {s["id"]: s["consumers"] for s in model["services"]} == {
        "erp": ["finance", "sales"], "mail": ["finance", "sales"]}
    assert "# TODO" in (pkg / "dipstick.yaml").read_text()
    assert dipstick("validate", pkg).returncode == 0
    checked = dipstick("check", pkg, "--no-store", "--format", "json")
    assert checked.returncode in (0, 1), checked.stderr
    assert json.loads(checked.stdout)["summary"]["services"] == 2

    found = steps(result)
    assert found["costs"]["services"] == 2 and found["costs"]["money"]
    assert set(found["costs"]["unlocks"]) == {"retirement", "alignment"}
    assert found["value_links"]["unlocks"] == ["alignment"]
    assert found["pulse_check"]["group_ids"] == ["finance", "sales"]
    assert "ticket_fields" in found and "lost_minutes" not in found["ticket_fields"]["add"]
    for s in result["next_steps"]:
        assert set(s["unlocks"]) <= set(CAUSES) and s["why"]
    weights = [s["weight"] for s in result["next_steps"]]
    assert weights == sorted(weights, reverse=True)
    # erp carries lost_minutes (measured); mail does not (assumed share of the open time)
    money = {e["key"]: e for e in result["estimates"]}
    months = 27 / (365.25 / 12)     # opened 1 … 28 March
    erp = sum(30 for i in range(30) if i % 3 == 0) / 60 / months * 60
    assert money["lost_time_measured"]["services"] == {"erp": pytest.approx(erp, abs=0.01)}
    assert "assumption" in money["lost_time_open_tickets"]["assumption"]
    assert "× 0.03 × 60 EUR/h" in money["lost_time_open_tickets"]["formula"]


def test_a_second_init_writes_nothing_and_the_list_follows_the_model(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    write_csv(pkg / "tickets.csv", tickets())
    init_json(pkg)
    text = (pkg / "dipstick.yaml").read_text()
    edited = text.replace("  - id: erp\n", "  - id: erp\n    monthly_cost: 900\n")
    (pkg / "dipstick.yaml").write_text(edited)
    again = init_json(pkg)
    assert not again["written"] and again["added"] == {}
    assert (pkg / "dipstick.yaml").read_text() == edited
    assert steps(again)["costs"]["service_ids"] == ["mail"]
    unlinked = {e["key"]: e for e in again["estimates"]}["unlinked_run_cost"]
    assert unlinked["monthly"] == 900 and unlinked["services"] == {"erp": 900}


def test_init_refuses_to_change_your_own_model_without_force(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    mine = ("organisation: {name: Acme, hourly_rate: 80}\n"
            "# my outcomes\n"
            "outcomes:\n  - id: growth   # keep this comment\n    name: Growth\n"
            "services:\n  - {id: erp, name: ERP, owner: me@acme.example, supports: "
            "[{outcome: growth}]}\n\n# the end\n")
    (pkg / "dipstick.yaml").write_text(mine)
    write_csv(pkg / "tickets.csv", tickets())
    refused = dipstick("init", pkg)
    assert refused.returncode == 2
    assert "--force" in refused.stderr and "mail" in refused.stderr
    assert (pkg / "dipstick.yaml").read_text() == mine
    result = init_json(pkg, "--force")
    text = (pkg / "dipstick.yaml").read_text()
    assert text.startswith(mine.split("services:")[0])          # every byte above kept
    assert "# keep this comment" in text
    # the new service joins the end of the list, before the comment that follows it
    assert text.index("id: mail") < text.index("# the end") < text.index("stakeholder_groups:")
    assert result["added"] == {"stakeholder_groups": ["finance", "sales"],
                               "services": ["mail"]}
    model = yaml.safe_load(text)
    assert model["organisation"]["hourly_rate"] == 80
    assert [s["id"] for s in model["services"]] == ["erp", "mail"]
    assert model["services"][0]["owner"] == "me@acme.example"
    assert dipstick("validate", pkg).returncode == 0


def test_bad_input_is_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    assert dipstick("init", tmp_path / "missing").returncode == 2
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    rows = tickets()
    rows[3]["opened_at"] = "not a date"
    write_csv(pkg / "tickets.csv", rows)
    bad = dipstick("init", pkg, "--format", "json")
    assert bad.returncode == 2
    problem = json.loads(bad.stdout)["problems"][0]
    assert problem["file"] == "tickets.csv" and problem["field"] == "opened_at"
    assert not (pkg / "dipstick.yaml").exists()
    assert [p.name for p in pkg.iterdir()] == ["tickets.csv"]     # no temporary left over
    assert dipstick("init", pkg, "--lost-share", "0").returncode == 2
    assert dipstick("init", pkg, "--format", "xml").returncode == 2


def test_dry_run_shows_the_model_and_writes_nothing(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    write_csv(pkg / "tickets.csv", tickets())
    ran = dipstick("init", pkg, "--dry-run")
    assert ran.returncode == 0 and "would write" in ran.stdout
    assert "stakeholder_groups:" in ran.stdout and "What to add next" in ran.stdout
    assert not (pkg / "dipstick.yaml").exists()


# ---- the real ServiceNow log ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_pkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    log = require(SERVICENOW_LOG)
    pkg = tmp_path_factory.mktemp("real") / "pkg"
    ran = dipstick("import", "tickets", log, "--preset", "servicenow", "--service-from",
                   "assignment_group", "--starter-services", "--into", pkg)
    assert ran.returncode == 0, ran.stderr
    return pkg


def test_init_on_the_imported_real_log_writes_a_model_that_checks(real_pkg: Path) -> None:
    before = yaml.safe_load((real_pkg / "dipstick.yaml").read_text())
    result = init_json(real_pkg)
    services = len(before["services"])
    assert services > 50 and result["services"] == services
    # tickets of the log name no requester group: one placeholder group, nothing invented
    assert result["placeholder_group"]
    assert result["added"] == {"stakeholder_groups": ["all-users"]}
    model = yaml.safe_load((real_pkg / "dipstick.yaml").read_text())
    assert [s["id"] for s in model["services"]] == [s["id"] for s in before["services"]]
    assert all("consumers" not in s for s in model["services"])
    checked = dipstick("check", real_pkg, "--no-store", "--format", "json")
    assert checked.returncode in (0, 1), checked.stderr
    assert json.loads(checked.stdout)["summary"]["services"] == services

    found = steps(result)
    assert found["costs"]["services"] == services
    assert found["value_links"]["services"] == services
    assert found["pulse_check"]["services"] == services
    assert found["pulse_check"]["group_ids"] == ["all-users"]
    assert found["ticket_fields"]["add"].startswith(
        "ticket fields satisfaction, lost_minutes, requester_group")
    assert result["next_steps"][0]["key"] == "costs"

    # the assumed lost time, recomputed from the imported tickets independently
    con = duckdb.connect()
    expected = con.execute(f"""
        WITH t AS (SELECT * FROM read_parquet('{real_pkg / "tickets.parquet"}')),
             span AS (SELECT epoch(max(opened_at) - min(opened_at)) / 86400 / (365.25 / 12)
                             AS months FROM t)
        SELECT sum(n * med) / any_value(months) * 0.03 * 60 FROM (
            SELECT service, count(*) AS n, median(epoch(resolved_at - opened_at) / 3600) AS med
            FROM t WHERE resolved_at >= opened_at GROUP BY service), span""").fetchone()[0]
    money = {e["key"]: e for e in result["estimates"]}
    assert "lost_time_measured" not in money
    assert money["lost_time_open_tickets"]["monthly"] == pytest.approx(expected, rel=1e-6)
    assert money["lost_time_open_tickets"]["currency"] == "EUR"
