"""``dipstick import``: each preset on small real-shaped files, every kind, bad inputs (clear
errors, nothing written), merge and idempotency, skipped rows in a rejects file."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from connector_files import (
    CMDB_HEADER,
    CMDB_ROWS,
    JIRA_HEADER,
    JIRA_ROWS,
    SN_AUDIT_HEADER,
    SN_AUDIT_ROWS,
    SN_ISO_HEADER,
    SN_ISO_ROWS,
    package,
    snapshot,
    write_csv,
    write_parquet,
    write_xlsx,
)
from dipstick.cli import app
from dipstick.connectors.imports import ImportOptions, import_file
from dipstick.errors import PackageError
from dipstick.package import load_package

runner = CliRunner()


def cli(*args: str) -> Any:
    return runner.invoke(app, ["import", *args])


def rows(file: Path, order: str = "id") -> list[dict[str, Any]]:
    con = duckdb.connect()
    scan = f"read_parquet('{file}')" if file.suffix == ".parquet" else f"read_csv('{file}')"
    cur = con.execute(f"SELECT * FROM {scan} ORDER BY {order}")
    names = [d[0] for d in cur.description]
    out = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    con.close()
    return out


# ---- presets ---------------------------------------------------------------------------------

def test_servicenow_audit_trail_collapses_to_one_ticket_per_number(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "incident.csv", SN_AUDIT_HEADER, SN_AUDIT_ROWS)
    pkg = package(tmp_path / "pkg", services=["email", "crm"])
    smap = write_csv(tmp_path / "map.csv", ["value", "service"],
                     [["Group 56", "email"], ["Group 70", "crm"], ["Group 24", "crm"]])
    s = import_file("tickets", src, pkg, ImportOptions(
        preset="servicenow", service_from="assignment_group", service_map=smap))
    assert (s.rows_read, s.rows_written, s.rows_rejected) == (8, 3, 0)
    assert (str(s.first_date), str(s.last_date)) == ("2016-02-29", "2016-03-30")
    got = {r["id"]: r for r in rows(pkg / "tickets.parquet")}
    inc1 = got["INC1"]
    # last state wins; counts are the largest over the updates; the group is the last known
    assert inc1["state"] == "Resolved" and inc1["type"] == "incident"
    assert inc1["opened_at"] == datetime(2016, 2, 29, 1, 16)
    assert inc1["resolved_at"] == datetime(2016, 3, 3, 10, 0)
    assert (inc1["reopened"], inc1["reassignments"]) == (1, 2)
    assert inc1["service"] == "crm"            # Group 70: the last non-missing group
    assert got["INC2"]["resolved_at"] == datetime(2016, 3, 13, 9, 10)
    assert got["INC3"]["resolved_at"] is None and got["INC3"]["service"] == "crm"
    load_package(pkg).close()


def test_servicenow_one_row_per_incident_with_iso_dates(tmp_path: Path) -> None:
    """The Table API's form (what a live pull stages): ISO dates, business_service first."""
    src = write_csv(tmp_path / "pulled.csv", SN_ISO_HEADER, SN_ISO_ROWS)
    pkg = package(tmp_path / "pkg", services=["email", "crm"])
    s = import_file("tickets", src, pkg, ImportOptions(preset="servicenow",
                                                       starter_services=True))
    assert s.services_added == ()              # Email → email, CRM → crm: existing ids
    got = {r["id"]: r for r in rows(pkg / "tickets.parquet")}
    assert got["INC0010001"]["service"] == "email"
    assert got["INC0010001"]["resolved_at"] == datetime(2026, 3, 2, 17, 30)
    assert got["INC0010002"]["resolved_at"] is None
    assert got["INC0010002"]["reassignments"] == 3 and got["INC0010002"]["reopened"] == 1
    assert (pkg / "service-map.csv").read_text().splitlines()[1:] == ["CRM,crm", "Email,email"]


def test_jira_export_types_dates_and_components(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "jira.csv", JIRA_HEADER, JIRA_ROWS)
    pkg = package(tmp_path / "pkg")
    result = cli("tickets", str(src), "--preset", "jira", "--into", str(pkg),
                 "--starter-services", "--format", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows_written"] == 3 and summary["services_added"] == ["email", "laptops",
                                                                         "vpn"]
    got = {r["id"]: r for r in rows(pkg / "tickets.parquet")}
    assert [got[k]["type"] for k in ("ITSM-101", "ITSM-102", "ITSM-103")] == [
        "incident", "question", "request"]
    assert got["ITSM-101"]["opened_at"] == datetime(2024, 3, 12, 10, 15)
    assert got["ITSM-102"]["opened_at"] == datetime(2024, 3, 12, 14, 30)
    assert got["ITSM-103"]["opened_at"] == datetime(2024, 3, 14, 8, 0)
    assert got["ITSM-101"]["state"] == "Done" and got["ITSM-103"]["resolved_at"] is None
    assert got["ITSM-101"]["service"] == "vpn"
    assert "# kept as written" in (pkg / "dipstick.yaml").read_text()


def test_jira_labels_when_there_are_no_components(tmp_path: Path) -> None:
    header = [h for h in JIRA_HEADER if h != "Component/s"]
    body = [[v for h, v in zip(JIRA_HEADER, r, strict=True) if h != "Component/s"]
            for r in JIRA_ROWS[:1]]
    src = write_csv(tmp_path / "jira.csv", header, body)
    pkg = package(tmp_path / "pkg", services=["network"])
    import_file("tickets", src, pkg, ImportOptions(preset="jira"))
    assert rows(pkg / "tickets.parquet")[0]["service"] == "network"


def test_services_from_a_cmdb_ci_service_export_merge_into_the_yaml(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "cmdb_ci_service.csv", CMDB_HEADER, CMDB_ROWS)
    pkg = package(tmp_path / "pkg", services=["email"])
    result = cli("services", str(src), "--preset", "servicenow", "--into", str(pkg))
    assert result.exit_code == 0, result.output
    text = (pkg / "dipstick.yaml").read_text()
    assert text.startswith("# kept as written\norganisation:\n  name: Test Org\n")
    model = load_package(pkg)
    by_id = {s.id: s for s in model.model.services}
    model.close()
    assert list(by_id) == ["email", "crm", "old-fax"]
    assert by_id["email"].name == "Email" and by_id["email"].owner == "Ana Lopes"
    assert by_id["crm"].monthly_cost == 9000 and by_id["old-fax"].lifecycle == "retired"
    again = cli("services", str(src), "--preset", "servicenow", "--into", str(pkg))
    assert again.exit_code == 0 and (pkg / "dipstick.yaml").read_text() == text


def test_services_from_a_csv_catalog_with_a_mapping_file(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "catalog.csv", ["Code", "Service name", "Run cost", "Status"],
                    [["hr", "HR portal", "300", "live"], ["wiki", "Wiki", "50", "retiring"]])
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("id: Code\nname: Service name\nmonthly_cost: Run cost\n"
                       "lifecycle: Status\n")
    pkg = tmp_path / "new-pkg"
    result = cli("services", str(src), "--mapping", str(mapping), "--into", str(pkg))
    assert result.exit_code == 0, result.output
    loaded = load_package(pkg)
    assert [(s.id, s.lifecycle, s.monthly_cost) for s in loaded.model.services] == [
        ("hr", "live", 300), ("wiki", "retiring", 50)]
    loaded.close()


# ---- other kinds and formats -----------------------------------------------------------------

def test_usage_from_excel(tmp_path: Path) -> None:
    src = write_xlsx(tmp_path / "usage.xlsx", ["Day", "App", "Active users"],
                     [[datetime(2026, 3, 1), "crm", 120], [datetime(2026, 3, 2), "crm", 118.0]])
    pkg = package(tmp_path / "pkg", services=["crm"])
    result = cli("usage", str(src), "--into", str(pkg), "--map", "date=Day",
                 "--map", "service=App", "--map", "active_users=Active users")
    assert result.exit_code == 0, result.output
    got = rows(pkg / "usage.parquet", "date")
    assert [(r["date"], r["active_users"]) for r in got] == [
        (datetime(2026, 3, 1), 120), (datetime(2026, 3, 2), 118)]


def test_costs_from_parquet_with_months(tmp_path: Path) -> None:
    src = write_parquet(tmp_path / "costs.parquet", ["month", "service", "amount"],
                        [["2026-01", "crm", "1000.5"], ["2026-02", "crm", "990"]])
    pkg = package(tmp_path / "pkg", services=["crm"])
    import_file("costs", src, pkg)
    got = rows(pkg / "costs.parquet", "month")
    assert [(r["month"], r["amount"]) for r in got] == [
        (datetime(2026, 1, 1), 1000.5), (datetime(2026, 2, 1), 990)]
    load_package(pkg).close()


@pytest.mark.parametrize("kind,header,body,extra", [
    ("training", ["date", "service", "group", "completed", "required"],
     [["2026-03-01", "crm", "sales", "10", "40"]], []),
    ("changes", ["id", "service", "date", "kind", "success", "communicated"],
     [["CHG1", "crm", "2026-03-01", "Release", "yes", "no"]], []),
    ("surveys", ["date", "service", "group", "dimension", "score", "respondent"],
     [["2026-03-01", "crm", "sales", "speed", "7", "r1"]], []),
    ("kpis", ["Date", "KPI", "Actual"], [["01/03/2026", "leads", "1040"]],
     ["--map", "date=Date", "--map", "outcome=KPI", "--map", "value=Actual", "--dayfirst"]),
    ("touchpoints", ["date", "journey", "touchpoint", "satisfaction", "visitors", "drop_offs"],
     [["2026-03-01", "buy", "search", "6.5", "1000", "120"]], []),
])
def test_every_signal_kind_imports_and_validates(tmp_path: Path, kind: str, header: list[str],
                                                 body: list[list[str]], extra: list[str]) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "dipstick.yaml").write_text(
        "organisation: {name: T}\n"
        "stakeholder_groups:\n  - id: sales\n    name: Sales\n    kind: internal\n"
        "    value_dimensions: [{id: speed, name: Speed}]\n"
        "outcomes:\n  - {id: leads, name: Leads}\n"
        "services:\n  - {id: crm, name: CRM}\n"
        "journeys:\n  - id: buy\n    name: Buy\n    stages:\n      - name: Find\n"
        "        touchpoints: [{id: search, name: Search, services: [crm]}]\n")
    src = write_csv(tmp_path / f"{kind}.csv", header, body)
    result = cli(kind, str(src), "--into", str(pkg), *extra)
    assert result.exit_code == 0, result.output
    assert len(rows(pkg / f"{kind}.parquet", "1")) == 1
    load_package(pkg).close()


# ---- encodings -------------------------------------------------------------------------------

def _tickets(rows_: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    return ["id", "service", "opened_at", "type", "reopened"], rows_


def test_utf8_with_bom_utf16_and_latin1_are_detected(tmp_path: Path) -> None:
    """UTF-16 with its byte-order mark is Excel's "Unicode text" (tab-separated, .txt)."""
    header, body = _tickets([["T1", "Café", "2026-03-01", "incident", "0"]])
    pkg = package(tmp_path / "pkg", services=["cafe"])
    smap = write_csv(tmp_path / "map.csv", ["value", "service"], [["Café", "cafe"]])
    for enc, name in (("utf-8-sig", "bom.csv"), ("latin-1", "latin.csv"),
                      ("utf-16", "unicode.txt")):
        src = write_csv(tmp_path / name, header, body, encoding=enc,
                        delimiter="\t" if name.endswith(".txt") else ",")
        s = import_file("tickets", src, pkg, ImportOptions(service_map=smap))
        assert s.rows_written == 1 and s.unmapped == ()
    assert rows(pkg / "tickets.parquet")[0]["service"] == "cafe"


@pytest.mark.parametrize("enc", ["cp1252", "utf-16-be", "utf-16-le"])
def test_windows_1252_and_utf16_in_either_byte_order_are_imported(tmp_path: Path,
                                                                  enc: str) -> None:
    """Excel on Windows writes Windows-1252: a € or a dash (0x80–0x9F) made DuckDB refuse the
    file ("not latin-1 encoded"); big-endian and unmarked UTF-16 did not read either. Each is
    now imported as the text it holds, through the CLI (exit 0), with nothing left behind."""
    name = "Kasse – Süd €"
    header, body = _tickets([["T1", name, "2026-03-01", "incident", "0"]])
    pkg = package(tmp_path / "pkg", services=["kasse"])
    smap = write_csv(tmp_path / "map.csv", ["value", "service"], [[name, "kasse"]])
    src = write_csv(tmp_path / "tickets.csv", header, body, encoding=enc)
    result = cli("tickets", str(src), "--into", str(pkg), "--service-map", str(smap))
    assert result.exit_code == 0, result.output
    assert rows(pkg / "tickets.parquet")[0]["service"] == "kasse"
    assert not [p for p in pkg.parent.iterdir() if p.name.startswith(".")]


def test_a_wrong_encoding_given_is_a_clear_error(tmp_path: Path) -> None:
    header, body = _tickets([["T1", "Café", "2026-03-01", "incident", "0"]])
    src = write_csv(tmp_path / "latin.csv", header, body, encoding="latin-1")
    pkg = package(tmp_path / "pkg", services=["cafe"])
    before = snapshot(pkg)
    result = cli("tickets", str(src), "--into", str(pkg), "--encoding", "utf-8")
    assert result.exit_code == 2
    assert "latin.csv" in result.output and "--encoding latin-1" in result.output
    assert snapshot(pkg) == before


# ---- bad input: a clear error, nothing written -----------------------------------------------

def _xlsx_zero(tmp_path: Path) -> Path:
    (tmp_path / "empty.xlsx").write_bytes(b"")
    return tmp_path / "empty.xlsx"


def _xlsx_broken(tmp_path: Path) -> Path:
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    return tmp_path / "broken.xlsx"


BAD: list[tuple[str, Any, list[str], list[str]]] = [
    # (case, file writer, extra options, text the error must contain)
    ("wrong delimiter",
     lambda d: write_csv(d / "t.csv", *_tickets([["T1", "crm", "2026-03-01", "incident", "0"]]),
                         delimiter=";"),
     ["--delimiter", ","], ["t.csv", "delimiter is probably wrong", "opened_at"]),
    ("missing column",
     lambda d: write_csv(d / "t.csv", ["id", "service", "type"], [["T1", "crm", "incident"]]),
     [], ["t.csv", "opened_at", "no column for the required field"]),
    ("mixed date formats",
     lambda d: write_csv(d / "t.csv", *_tickets([["T1", "crm", "2026-03-01", "incident", "0"],
                                                 ["T2", "crm", "02/03/2026", "incident", "0"]])),
     [], ["t.csv", "│ 2 ", "opened_at", "02/03/2026", "--dayfirst"]),
    ("non-numeric counts",
     lambda d: write_csv(d / "t.csv", *_tickets([["T1", "crm", "2026-03-01", "incident", "0"],
                                                 ["T2", "crm", "2026-03-02", "incident", "two"]])),
     [], ["t.csv", "reopened", "two", "a number"]),
    ("unknown service",
     lambda d: write_csv(d / "t.csv", *_tickets([["T1", "erp", "2026-03-01", "incident", "0"]])),
     [], ["t.csv", "erp", "no service for this value"]),
    ("duplicate ids",
     lambda d: write_csv(d / "t.csv", *_tickets([["T1", "crm", "2026-03-01", "incident", "0"],
                                                 ["T1", "crm", "2026-03-02", "incident", "0"]])),
     [], ["t.csv", "more than one row"]),
    ("empty file", lambda d: ((d / "t.csv").write_bytes(b""), d / "t.csv")[1], [],
     ["t.csv", "is empty"]),
    ("0-byte Excel file", _xlsx_zero, [], ["empty.xlsx", "is empty"]),
    ("broken Excel file", _xlsx_broken, [], ["broken.xlsx", "not an Excel workbook"]),
    ("bad row length",
     lambda d: (d / "t.csv").write_text("id,service,opened_at,type\nT1,crm,2026-03-01,incident\n"
                                        "T2,crm,2026-03-02,incident,extra,fields\n") and
     d / "t.csv", [], ["t.csv", "cannot be read as CSV"]),
]


@pytest.mark.parametrize("case,write,extra,expected", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_clear_error_and_nothing_is_written(
        tmp_path: Path, case: str, write: Any, extra: list[str], expected: list[str]) -> None:
    pkg = package(tmp_path / "pkg", services=["crm"])
    write_csv(pkg / "tickets.csv", *_tickets([["OLD", "crm", "2026-01-01", "request", "0"]]))
    before = snapshot(pkg)
    src = write(tmp_path)
    result = cli("tickets", str(src), "--into", str(pkg), *extra)
    assert result.exit_code == 2, result.output
    assert snapshot(pkg) == before
    as_json = cli("tickets", str(src), "--into", str(pkg), *extra, "--format", "json")
    assert as_json.exit_code == 2
    problems = json.loads(as_json.stdout)["problems"]
    said = " ".join(f"{p['file']} │ {p['row']} │ {p['field']} │ {p['value']} │ {p['message']}"
                    for p in problems)
    for text in expected:
        assert text in said, (case, text, said)
    assert snapshot(pkg) == before


def test_a_new_package_is_not_created_when_the_import_fails(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "t.csv", *_tickets([["T1", "crm", "yesterday", "incident", "0"]]))
    result = cli("tickets", str(src), "--into", str(tmp_path / "new"), "--starter-services")
    assert result.exit_code == 2 and "yesterday" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_bad_options_exit_2(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "t.csv", *_tickets([["T1", "crm", "2026-03-01", "incident", "0"]]))
    pkg = package(tmp_path / "pkg", services=["crm"])
    for args, text in ((["--preset", "remedy"], "no preset 'remedy'"),
                       (["--map", "opened"], "expected field=column"),
                       (["--map", "colour=id"], "not a field of tickets"),
                       (["--encoding", "ebcdic"], "not supported")):
        result = cli("tickets", str(src), "--into", str(pkg), *args)
        assert result.exit_code == 2 and text in result.output, (args, result.output)
    assert cli("gadgets", str(src), "--into", str(pkg)).exit_code == 2


# ---- merge, replace, idempotency -------------------------------------------------------------

def test_reimport_is_idempotent_and_merges_by_key(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "incident.csv", SN_AUDIT_HEADER, SN_AUDIT_ROWS)
    pkg = package(tmp_path / "pkg")
    args = ["tickets", str(src), "--preset", "servicenow", "--service-from",
            "assignment_group", "--starter-services", "--into", str(pkg)]
    assert cli(*args).exit_code == 0
    first, first_rows = snapshot(pkg), rows(pkg / "tickets.parquet")
    second = cli(*args, "--format", "json")
    assert second.exit_code == 0 and rows(pkg / "tickets.parquet") == first_rows
    again = snapshot(pkg)
    assert {k: v for k, v in again.items() if k != "tickets.parquet"} == {
        k: v for k, v in first.items() if k != "tickets.parquet"}   # yaml and map unchanged
    assert json.loads(second.stdout)["rows_replaced"] == 3
    # a later export: INC3 resolved, INC4 new → 4 tickets, INC3 updated, nothing duplicated
    later = [
        *SN_AUDIT_ROWS,
        ["INC3", "Resolved", "true", "0", "0", "1", "false", "30/3/2016 23:59",
         "1/4/2016 10:00", "Category 40", "?", "Group 24", "4 - Low", "1/4/2016 10:00", "?"],
        ["INC4", "New", "true", "0", "0", "0", "true", "2/4/2016 08:00", "2/4/2016 08:00",
         "Category 40", "?", "Group 24", "4 - Low", "?", "?"]]
    src2 = write_csv(tmp_path / "incident2.csv", SN_AUDIT_HEADER, later[5:])
    s = import_file("tickets", src2, pkg, ImportOptions(
        preset="servicenow", service_from="assignment_group", starter_services=True))
    assert (s.rows_written, s.rows_replaced, s.rows_in_table) == (3, 2, 4)
    got = {r["id"]: r for r in rows(pkg / "tickets.parquet")}
    assert sorted(got) == ["INC1", "INC2", "INC3", "INC4"]
    assert got["INC3"]["resolved_at"] == datetime(2016, 4, 1, 10, 0)
    replaced = import_file("tickets", src2, pkg, ImportOptions(
        preset="servicenow", service_from="assignment_group", starter_services=True,
        replace=True))
    assert replaced.rows_in_table == 3
    assert sorted(r["id"] for r in rows(pkg / "tickets.parquet")) == ["INC2", "INC3", "INC4"]


def test_merge_keeps_the_format_of_an_existing_csv_table(tmp_path: Path) -> None:
    pkg = package(tmp_path / "pkg", services=["crm"])
    write_csv(pkg / "tickets.csv", *_tickets([["OLD", "crm", "2026-01-01", "request", "0"]]))
    src = write_csv(tmp_path / "t.csv", *_tickets([["NEW", "crm", "2026-03-01", "incident",
                                                    "1"]]))
    import_file("tickets", src, pkg)
    assert not (pkg / "tickets.parquet").exists()
    assert [r["id"] for r in rows(pkg / "tickets.csv")] == ["NEW", "OLD"]
    load_package(pkg).close()


# ---- skipped rows ----------------------------------------------------------------------------

def test_skip_bad_rows_lists_them_in_a_rejects_file(tmp_path: Path) -> None:
    header, body = _tickets([["T1", "crm", "2026-03-01", "incident", "0"],
                             ["T2", "crm", "2026-13-45", "incident", "0"],
                             ["T3", "crm", "2026-03-03", "complaint", "0"],
                             ["T4", "crm", "2026-03-04", "request", "-1"],
                             ["T5", "crm", "2026-03-05", "question", "2"]])
    src = write_csv(tmp_path / "t.csv", header, body)
    pkg = package(tmp_path / "pkg", services=["crm"])
    result = cli("tickets", str(src), "--into", str(pkg), "--skip-bad-rows")
    assert result.exit_code == 0, result.output
    assert "tickets.rejects.csv" in result.output
    assert [r["id"] for r in rows(pkg / "tickets.parquet")] == ["T1", "T5"]
    rejects = rows(pkg / "tickets.rejects.csv", "rejected_row")
    assert [(r["rejected_row"], r["rejected_field"], str(r["rejected_value"]), r["id"])
            for r in rejects] == [(2, "opened_at", "2026-13-45", "T2"),
                                  (3, "type", "complaint", "T3"), (4, "reopened", "-1", "T4")]
    # a clean re-import removes the stale rejects file: it always describes the last import
    good = write_csv(tmp_path / "good.csv", header, [body[0]])
    assert cli("tickets", str(good), "--into", str(pkg), "--skip-bad-rows").exit_code == 0
    assert not (pkg / "tickets.rejects.csv").exists()


def test_import_file_raises_with_file_row_field_value(tmp_path: Path) -> None:
    header, body = _tickets([["T1", "crm", "2026-03-01", "incident", "0"],
                             ["T2", "crm", "2026-03-01", "incident", "many"]])
    src = write_csv(tmp_path / "t.csv", header, body)
    pkg = package(tmp_path / "pkg", services=["crm"])
    with pytest.raises(PackageError) as e:
        import_file("tickets", src, pkg)
    (p,) = e.value.problems
    assert (p.file, p.row, p.line, p.field, p.value) == (str(src), 2, 3, "reopened", "many")


def test_jira_repeated_component_columns_take_the_first(tmp_path: Path) -> None:
    (tmp_path / "jira.csv").write_text(
        "Issue key,Issue Type,Created,Component/s,Component/s,Labels\n"
        "ITSM-1,Bug,2024-03-12 10:00,vpn,email,network\n", encoding="utf-8")
    pkg = package(tmp_path / "pkg", services=["vpn", "email"])
    import_file("tickets", tmp_path / "jira.csv", pkg, ImportOptions(preset="jira"))
    assert rows(pkg / "tickets.parquet")[0]["service"] == "vpn"


def test_progress_runs_to_100(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "t.csv", *_tickets([["T1", "crm", "2026-03-01", "incident", "0"]]))
    pkg = package(tmp_path / "pkg", services=["crm"])
    seen: list[int] = []
    import_file("tickets", src, pkg, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 100 and len(seen) >= 4


def test_services_replace_cannot_drop_a_service_a_table_still_names(tmp_path: Path) -> None:
    pkg = package(tmp_path / "pkg", services=["crm", "email"])
    write_csv(pkg / "tickets.csv", *_tickets([["T1", "crm", "2026-03-01", "incident", "0"]]))
    src = write_csv(tmp_path / "catalog.csv", ["id", "name"], [["email", "Email"]])
    before = snapshot(pkg)
    result = cli("services", str(src), "--into", str(pkg), "--replace", "--format", "json")
    assert result.exit_code == 2
    problem = json.loads(result.stdout)["problems"][0]
    assert (problem["file"], problem["field"], problem["value"]) == ("tickets.csv", "service",
                                                                      "crm")
    assert snapshot(pkg) == before
    merged = cli("services", str(src), "--into", str(pkg))
    assert merged.exit_code == 0
    assert "name: Email" in (pkg / "dipstick.yaml").read_text()


def test_date_format_reads_month_first_dates_and_checks_the_format(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "logins.csv", ["date", "service", "active_users"],
                    [["03/13/2026", "crm", "40"], ["12/31/2025", "crm", "38"]])
    pkg = package(tmp_path / "pkg", services=["crm"])
    before = snapshot(pkg)
    guessed = cli("usage", str(src), "--into", str(pkg), "--dayfirst", "--format", "json")
    assert guessed.exit_code == 2 and snapshot(pkg) == before
    problems = json.loads(guessed.stdout)["problems"]
    assert {p["value"] for p in problems if p["row"]} == {"03/13/2026", "12/31/2025"}
    # the values were read first: the form they have and the option it needs lead the error
    assert problems[0]["message"].startswith("note: the dates are month-first (e.g. "
                                             "'03/13/2026'): give their form with --date-format")
    bad = cli("usage", str(src), "--into", str(pkg), "--date-format", "%Q")
    assert bad.exit_code == 2 and "not a valid strptime format" in bad.output
    ok = cli("usage", str(src), "--into", str(pkg), "--date-format", "%m/%d/%Y")
    assert ok.exit_code == 0, ok.output
    assert [r["date"] for r in rows(pkg / "usage.parquet", "date")] == [
        datetime(2025, 12, 31), datetime(2026, 3, 13)]


def test_gzip_csv_and_a_mapping_file_with_map_winning(tmp_path: Path) -> None:
    import gzip

    body = "ref,app,opened,kind,when\nR1,crm,2026-03-01,incident,2026-04-01\n"
    (tmp_path / "t.csv.gz").write_bytes(gzip.compress(body.encode()))
    mapping = tmp_path / "m.yaml"
    mapping.write_text("id: ref\nservice: app\nopened_at: when\ntype: kind\n")
    pkg = package(tmp_path / "pkg", services=["crm"])
    result = cli("tickets", str(tmp_path / "t.csv.gz"), "--into", str(pkg), "--mapping",
                 str(mapping), "--map", "opened_at=opened")
    assert result.exit_code == 0, result.output
    assert rows(pkg / "tickets.parquet")[0]["opened_at"] == datetime(2026, 3, 1)


def test_iso_times_with_offsets_are_converted_to_utc(tmp_path: Path) -> None:
    header = ["id", "service", "opened_at", "resolved_at", "type"]
    body = [["A", "crm", "2026-03-01T10:30:00+01:00", "2026-03-01T10:30:00-05:00", "incident"],
            ["B", "crm", "2026-03-01T10:30:00Z", "2026-03-01 10:30:00.250", "incident"],
            ["C", "crm", "2026-03-01", "2026-03-02T00:00:00+0000", "request"]]
    src = write_csv(tmp_path / "t.csv", header, body)
    pkg = package(tmp_path / "pkg", services=["crm"])
    import_file("tickets", src, pkg)
    got = {r["id"]: (r["opened_at"], r["resolved_at"]) for r in rows(pkg / "tickets.parquet")}
    assert got == {
        "A": (datetime(2026, 3, 1, 9, 30), datetime(2026, 3, 1, 15, 30)),
        "B": (datetime(2026, 3, 1, 10, 30), datetime(2026, 3, 1, 10, 30, 0, 250000)),
        "C": (datetime(2026, 3, 1), datetime(2026, 3, 2))}


def test_service_map_problems_are_named_and_an_empty_folder_becomes_a_package(
        tmp_path: Path) -> None:
    src = write_csv(tmp_path / "t.csv", *_tickets([["T1", "Mail", "2026-03-01", "incident", "0"]]))
    pkg = package(tmp_path / "pkg", services=["email"])
    smap = write_csv(tmp_path / "map.csv", ["value", "service"],
                     [["Mail", "e-mail"], ["Web", ""]])
    result = cli("tickets", str(src), "--into", str(pkg), "--service-map", str(smap),
                 "--format", "json")
    assert result.exit_code == 2
    said = [(p["row"], p["field"], p["value"]) for p in json.loads(result.stdout)["problems"]]
    assert said == [(1, "service", "e-mail"), (2, "service", None)]
    nomap = write_csv(tmp_path / "nomap.csv", ["val", "svc"], [["Mail", "email"]])
    assert "value,service" in cli("tickets", str(src), "--into", str(pkg), "--service-map",
                                  str(nomap)).output
    (tmp_path / "empty").mkdir()
    made = cli("tickets", str(src), "--into", str(tmp_path / "empty"), "--starter-services")
    assert made.exit_code == 0, made.output
    load_package(tmp_path / "empty").close()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("not a package")
    other = cli("tickets", str(src), "--into", str(tmp_path / "other"))
    assert other.exit_code == 2 and "not a data package" in other.output


def test_servicenow_excel_export_with_date_cells_and_quoted_text(tmp_path: Path) -> None:
    """An incident export saved as .xlsx (dates are Excel dates), and a CSV whose description
    holds commas, quotes and line breaks, as ServiceNow writes them."""
    header = ["number", "short_description", "opened_at", "resolved_at", "reopen_count",
              "reassignment_count", "cmdb_ci"]
    body = [["INC1", 'VPN "drops", again\nsince Monday', datetime(2026, 3, 2, 9, 0),
             datetime(2026, 3, 2, 17, 30), 0, 2, "vpn"],
            ["INC2", "Mail slow", datetime(2026, 3, 3, 10, 15), None, 1, 0, "email"]]
    pkg = package(tmp_path / "pkg", services=["vpn", "email"])
    s = import_file("tickets", write_xlsx(tmp_path / "incident.xlsx", header, body), pkg,
                    ImportOptions(preset="servicenow", service_from="cmdb_ci"))
    assert s.rows_written == 2
    got = {r["id"]: r for r in rows(pkg / "tickets.parquet")}
    assert got["INC1"]["resolved_at"] == datetime(2026, 3, 2, 17, 30)
    assert got["INC2"]["resolved_at"] is None and got["INC2"]["reopened"] == 1
    csv_body = [[r[0], r[1], f"{r[2]:%d/%m/%Y %H:%M}", "" if r[3] is None else
                 f"{r[3]:%d/%m/%Y %H:%M}", r[4], r[5], r[6]] for r in body]
    pkg2 = package(tmp_path / "pkg2", services=["vpn", "email"])
    s2 = import_file("tickets", write_csv(tmp_path / "incident.csv", header, csv_body), pkg2,
                     ImportOptions(preset="servicenow", service_from="cmdb_ci"))
    assert s2.rows_written == 2 and rows(pkg2 / "tickets.parquet") == rows(pkg / "tickets.parquet")


@pytest.mark.parametrize("delimiter,name", [(";", "t.csv"), ("\t", "t.tsv"), ("|", "t.txt")])
def test_the_delimiter_is_found_from_the_header(tmp_path: Path, delimiter: str,
                                                name: str) -> None:
    src = write_csv(tmp_path / name, *_tickets([["T1", "crm", "2026-03-01", "incident", "0"]]),
                    delimiter=delimiter)
    pkg = package(tmp_path / "pkg", services=["crm"])
    assert import_file("tickets", src, pkg).rows_written == 1


def test_anonymous_survey_answers_share_a_slice_and_reimport_replaces_it(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "dipstick.yaml").write_text(
        "organisation: {name: T}\nservices: [{id: crm, name: CRM}]\n"
        "stakeholder_groups:\n  - id: sales\n    name: Sales\n    kind: internal\n"
        "    value_dimensions: [{id: speed, name: Speed}, {id: ease, name: Ease}]\n")
    header = ["date", "service", "group", "dimension", "score"]
    march = [["2026-03-01", "crm", "sales", "speed", s] for s in ("7", "8", "8")]
    src = write_csv(tmp_path / "march.csv", header, march)
    for _ in range(2):
        assert import_file("surveys", src, pkg).rows_in_table == 3
    april = write_csv(tmp_path / "april.csv", header,
                      [["2026-04-01", "crm", "sales", "ease", "6"],
                       ["2026-03-01", "crm", "sales", "speed", "9"]])
    s = import_file("surveys", april, pkg)
    assert (s.rows_replaced, s.rows_in_table) == (3, 2)   # the March speed slice: 3 → 1 answer
    scores = sorted((str(r["date"].date()), r["dimension"], r["score"])
                    for r in rows(pkg / "surveys.parquet", "date"))
    assert scores == [("2026-03-01", "speed", 9.0), ("2026-04-01", "ease", 6.0)]


def test_a_service_map_may_name_new_services_with_starter_services(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "t.csv", *_tickets([["T1", "Mail", "2026-03-01", "incident", "0"],
                                                   ["T2", "Web", "2026-03-01", "incident", "0"],
                                                   ["T3", "", "2026-03-01", "request", "0"]]))
    pkg = package(tmp_path / "pkg")
    smap = write_csv(tmp_path / "map.csv", ["value", "service"], [["Mail", "messaging"]])
    s = import_file("tickets", src, pkg, ImportOptions(service_map=smap, starter_services=True))
    assert s.services_added == ("web", "messaging", "unassigned") and s.unmapped == ("Web",)
    got = {r["id"]: r["service"] for r in rows(pkg / "tickets.parquet")}
    assert got == {"T1": "messaging", "T2": "web", "T3": "unassigned"}
    assert (pkg / "service-map.csv").read_text().splitlines() == [
        "value,service", "Mail,messaging", "Web,web"]
