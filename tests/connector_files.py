"""Small files in the shape of real exports, written by the connector tests.

Column names and value forms are those of the exports themselves: ServiceNow's incident table
(one row per incident, or the audit trail like ../shared/data), Jira's CSV export, a
``cmdb_ci_service`` export.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

SN_AUDIT_HEADER = ["number", "incident_state", "active", "reassignment_count", "reopen_count",
                   "sys_mod_count", "made_sla", "opened_at", "sys_updated_at", "category",
                   "cmdb_ci", "assignment_group", "priority", "resolved_at", "closed_at"]

# INC1: opened, reassigned, resolved, reopened, resolved again; INC2: one update, no group yet
# then assigned; INC3: still active. Day-first dates, `?` for missing, like the real log.
SN_AUDIT_ROWS = [
    ["INC1", "New", "true", "0", "0", "0", "true", "29/2/2016 01:16", "29/2/2016 01:23",
     "Category 55", "?", "?", "3 - Moderate", "?", "?"],
    ["INC1", "Active", "true", "1", "0", "1", "true", "29/2/2016 01:16", "29/2/2016 08:53",
     "Category 55", "?", "Group 56", "3 - Moderate", "?", "?"],
    ["INC1", "Resolved", "true", "1", "0", "2", "true", "29/2/2016 01:16", "1/3/2016 11:29",
     "Category 55", "?", "Group 56", "3 - Moderate", "1/3/2016 11:29", "?"],
    ["INC1", "Active", "true", "2", "1", "3", "true", "29/2/2016 01:16", "2/3/2016 09:00",
     "Category 55", "?", "Group 70", "3 - Moderate", "?", "?"],
    ["INC1", "Resolved", "true", "2", "1", "4", "true", "29/2/2016 01:16", "3/3/2016 10:00",
     "Category 55", "?", "?", "3 - Moderate", "3/3/2016 10:00", "?"],
    ["INC2", "New", "true", "0", "0", "0", "true", "13/3/2016 04:40", "13/3/2016 04:41",
     "Category 40", "?", "?", "2 - High", "?", "?"],
    ["INC2", "Closed", "false", "0", "0", "1", "true", "13/3/2016 04:40", "18/3/2016 12:00",
     "Category 40", "?", "Group 70", "2 - High", "13/3/2016 09:10", "18/3/2016 12:00"],
    ["INC3", "Active", "true", "0", "0", "0", "false", "30/3/2016 23:59", "31/3/2016 08:00",
     "Category 40", "?", "Group 24", "4 - Low", "?", "?"],
]

# One row per incident, ISO dates: what the Table API (and the pull's staging CSV) gives.
SN_ISO_HEADER = ["number", "state", "opened_at", "resolved_at", "reopen_count",
                 "reassignment_count", "business_service", "assignment_group"]
SN_ISO_ROWS = [
    ["INC0010001", "Resolved", "2026-03-02 09:00:00", "2026-03-02 17:30:00", "0", "1",
     "Email", "Service Desk"],
    ["INC0010002", "In Progress", "2026-03-03 10:15:00", "", "1", "3", "CRM", "Apps"],
]

JIRA_HEADER = ["Summary", "Issue key", "Issue id", "Issue Type", "Status", "Priority",
               "Created", "Updated", "Resolved", "Component/s", "Labels"]
JIRA_ROWS = [
    ["VPN drops every hour", "ITSM-101", "10101", "Bug", "Done", "High",
     "12/Mar/24 10:15 AM", "13/Mar/24 9:00 AM", "13/Mar/24 8:45 AM", "VPN", "network"],
    ["How do I share a calendar?", "ITSM-102", "10102", "Question", "Resolved", "Low",
     "12/Mar/24 2:30 PM", "12/Mar/24 3:00 PM", "12/Mar/24 3:00 PM", "Email", ""],
    ["New laptop for Ana", "ITSM-103", "10103", "Service Request", "In Progress", "Medium",
     "2024-03-14 08:00", "2024-03-14 08:00", "", "Laptops", "hardware"],
]

CMDB_HEADER = ["name", "owned_by", "operational_status", "service_classification", "cost",
               "sys_id"]
CMDB_ROWS = [
    ["Email", "Ana Lopes", "Operational", "Business Service", "1200", "a1"],
    ["CRM", "Ben Okafor", "Operational", "Business Service", "9000", "b2"],
    ["Old Fax", "", "Non-Operational", "Technical Service", "", "c3"],
]


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]],
              delimiter: str = ",", encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return path


def write_xlsx(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(header))
    for r in rows:
        sheet.append(list(r))
    book.save(path)
    return path


def write_parquet(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    con = duckdb.connect()
    csv_path = path.with_suffix(".src.csv")
    write_csv(csv_path, header, rows)
    con.execute(f"COPY (SELECT * FROM read_csv('{csv_path}', header = true)) TO '{path}' "
                "(FORMAT parquet)").fetchall()
    con.close()
    csv_path.unlink()
    return path


def package(root: Path, services: Sequence[str] = (), groups: Sequence[str] = ()) -> Path:
    """A minimal package with the given service and stakeholder group ids."""
    root.mkdir(parents=True, exist_ok=True)
    lines = ["# kept as written", "organisation:", "  name: Test Org", "  currency: EUR"]
    if groups:
        lines.append("stakeholder_groups:")
        lines += [f"  - {{id: {g}, name: {g}, kind: internal}}" for g in groups]
    if services:
        lines.append("services:")
        lines += [f"  - {{id: {s}, name: {s.upper()}}}" for s in services]
    (root / "dipstick.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of a folder and its bytes: 'nothing written' is this, unchanged."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}
