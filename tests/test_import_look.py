"""An import that looks before it leaps (issue 14, item 1): the service column chosen from fill
rates, near-miss and duplicate headers, date forms, unassigned shares, ``--dry-run``; on the
real ServiceNow log and on small hand-made exports."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Any

import duckdb
import yaml

from connector_files import write_csv
from dipstick.connectors.imports import ImportOptions, import_file

from clirun import dipstick
from realdata import SERVICENOW_LOG, require


def imported(*args: str | Path) -> tuple[int, dict[str, Any]]:
    ran = dipstick("import", *args, "--format", "json")
    return ran.returncode, json.loads(ran.stdout)


def test_the_real_log_with_the_preset_alone_fails_naming_the_option_then_imports(
        tmp_path: Path) -> None:
    log = require(SERVICENOW_LOG)
    pkg = tmp_path / "pkg"
    code, error = imported("tickets", log, "--preset", "servicenow", "--into", pkg)
    assert code == 2 and not pkg.exists()
    rest = error["problems"]
    # the service column was chosen by its fill rate, and said (cmdb_ci is '?' almost always)
    chosen = next(p["message"] for p in rest if p["message"].startswith("note: services from"))
    assert chosen.startswith("note: services from assignment_group")
    assert "cmdb_ci filled on 0.3%" in chosen
    # the failing rows are summed up first, each naming the option that fixes them
    lead = [p["message"] for p in rest if p["row"] is None and "--starter-services" in
            p["message"]]
    assert any("have no assignment_group" in m for m in lead)
    assert any("biggest: Group 70" in m for m in lead)
    assert error["message"].startswith(f"{len(error['problems'])} problem(s) in "
                                       "incident_event_log.csv.gz")

    code, summary = imported("tickets", log, "--preset", "servicenow", "--starter-services",
                             "--into", pkg)
    assert code == 0, summary
    con = duckdb.connect()
    total, empty = con.execute(
        "SELECT count(DISTINCT number), count(DISTINCT number) FILTER (WHERE number NOT IN ("
        "SELECT number FROM read_csv(?, all_varchar = true) WHERE assignment_group <> '?')) "
        "FROM read_csv(?, all_varchar = true)", [str(log), str(log)]).fetchone()
    assert summary["rows_written"] == total and summary["unassigned"] == empty
    assert 0 < summary["unassigned"] / summary["rows_written"] < 0.05
    assert not any("unassigned" in w for w in summary["warnings"])
    assert any(n.startswith("services from assignment_group") for n in summary["notes"])
    mapping = {m["field"]: m for m in summary["mapping"]}
    assert mapping["service"]["column"] == "assignment_group"
    assert mapping["service"]["filled"] == (total - empty) / total
    assert mapping["state"]["how"] == "servicenow preset"


def _sn_rows(n: int = 40, empty_group_every: int = 0) -> tuple[list[str], list[list[str]]]:
    header = ["number", "ident_state", "reopen_count", "reassignment_count", "opened_at",
              "resolved_at", "cmdb_ci", "assignment_group", "category", "category"]
    rows = []
    for i in range(n):
        group = "?" if empty_group_every and i % empty_group_every == 0 else f"Group {i % 3}"
        rows.append([f"INC{i:04d}", "Resolved", "0", "1", f"{1 + i % 28}/3/2026 09:00",
                     f"{1 + i % 28}/3/2026 17:00", "?" if i % 4 else "CI 1", group,
                     f"Category {i % 5}", f"Subcategory {i % 7}"])
    return header, rows


def test_near_miss_and_duplicate_headers_are_said_and_the_mapping_shown(tmp_path: Path) -> None:
    header, rows = _sn_rows()
    export = write_csv(tmp_path / "incidents.csv", header, rows)
    code, summary = imported("tickets", export, "--preset", "servicenow", "--starter-services",
                             "--into", tmp_path / "pkg")
    assert code == 0, summary
    mapping = {m["field"]: m for m in summary["mapping"]}
    # state exported as ident_state: the one near match, matched and said
    assert (mapping["state"]["column"], mapping["state"]["how"]) == ("ident_state",
                                                                    "near match")
    assert any(n.startswith("state ← ident_state") for n in summary["notes"])
    assert any("satisfaction (u_satisfaction or satisfaction)" in n for n in summary["notes"])
    # cmdb_ci is filled on a quarter of the records: assignment_group serves, and why is said
    assert mapping["service"]["column"] == "assignment_group"
    assert any("cmdb_ci filled on 25.0%" in n for n in summary["notes"])
    dup = [w for w in summary["warnings"] if "'category' 2 times" in w]
    assert dup and "'category_1'" in dup[0] and "--map" in dup[0]
    # values are counted on a dry run only (exact counts cost on big exports)
    assert mapping["reassignments"]["distinct"] is None and mapping["id"]["filled"] == 1.0


def test_a_mapping_that_leaves_many_tickets_unassigned_is_a_warning(tmp_path: Path) -> None:
    header, rows = _sn_rows(40, empty_group_every=5)   # 8 of 40 without a group
    export = write_csv(tmp_path / "incidents.csv", header, rows)
    code, summary = imported("tickets", export, "--preset", "servicenow", "--starter-services",
                             "--service-from", "assignment_group", "--into", tmp_path / "pkg")
    assert code == 0 and summary["unassigned"] == 8
    warning = next(w for w in summary["warnings"] if "have no assignment_group" in w)
    assert "8 of 40 tickets (20.0%)" in warning and "'unassigned'" in warning
    assert "--service-from" in warning

    # a service map that leaves most values out: the biggest unmapped values are named
    smap = write_csv(tmp_path / "map.csv", ["value", "service"], [["Group 0", "g0"]])
    code, summary = imported("tickets", export, "--preset", "servicenow", "--starter-services",
                             "--service-from", "assignment_group", "--service-map", smap,
                             "--into", tmp_path / "pkg2")
    assert code == 0
    warning = next(w for w in summary["warnings"] if "not services yet" in w)
    assert "biggest: Group 1 (" in warning and "Group 2 (" in warning


def test_dry_run_shows_the_mapping_and_writes_nothing(tmp_path: Path) -> None:
    header, rows = _sn_rows()
    export = write_csv(tmp_path / "incidents.csv", header, rows)
    pkg = tmp_path / "pkg"
    ran = dipstick("import", "tickets", export, "--preset", "servicenow", "--starter-services",
                   "--into", pkg, "--dry-run")
    assert ran.returncode == 0, ran.stderr
    assert "nothing written" in ran.stdout and "Chosen by" in ran.stdout
    assert "ident_state" in ran.stdout and "near match" in ran.stdout
    assert not pkg.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["incidents.csv"]
    # an existing package is left byte for byte as it was
    import_file("tickets", export, pkg, ImportOptions(preset="servicenow",
                                                      starter_services=True))
    before = {p.name: p.read_bytes() for p in pkg.iterdir()}
    code, summary = imported("tickets", export, "--preset", "servicenow", "--starter-services",
                             "--into", pkg, "--replace", "--dry-run")
    assert code == 0 and summary["dry_run"] and summary["rows_written"] == 40
    mapping = {m["field"]: m for m in summary["mapping"]}
    assert (mapping["id"]["distinct"], mapping["reassignments"]["distinct"]) == (40, 1)
    assert mapping["service"]["distinct"] == 3
    assert {p.name: p.read_bytes() for p in pkg.iterdir()} == before


def test_date_forms_are_read_from_the_values(tmp_path: Path) -> None:
    header = ["id", "service", "type", "opened_at"]
    pkg = tmp_path / "pkg"
    # month-first: the second part passes 12, so --date-format is named
    us = write_csv(tmp_path / "us.csv", header, [["T1", "mail", "incident", "3/25/2026 10:00"],
                                                 ["T2", "mail", "incident", "4/2/2026 09:00"]])
    code, error = imported("tickets", us, "--starter-services", "--into", pkg)
    assert code == 2
    messages = " ".join(p["message"] for p in error["problems"])
    assert "is not valid" in messages and "month-first (e.g. '3/25/2026 10:00')" in messages
    assert "--date-format" in messages
    code, error = imported("tickets", us, "--dayfirst", "--starter-services", "--into", pkg)
    assert code == 2
    # day-first without --dayfirst: the failing rows' hint, and a warning on a dry run that
    # reads the values
    eu = write_csv(tmp_path / "eu.csv", header, [["T1", "mail", "incident", "25/3/2026 10:00"],
                                                 ["T2", "mail", "incident", "2/4/2026 09:00"]])
    code, error = imported("tickets", eu, "--starter-services", "--into", pkg)
    assert code == 2
    assert any(p["message"] == "note: the dates are day-first (e.g. '25/3/2026 10:00'): add "
               "--dayfirst" for p in error["problems"])
    code, summary = imported("tickets", eu, "--dayfirst", "--starter-services", "--into", pkg)
    assert code == 0 and summary["first_date"] == "2026-03-25"


def test_dates_duckdbs_casts_misread_are_refused_or_read_right(tmp_path: Path) -> None:
    """The plain TIMESTAMP cast reads "2026-03-25 10:00 PM" as 10:00 and the time-zone one
    29/02/16 as the year 29: the first is named (a 12-hour clock needs --date-format), the
    second read as 2016 with --dayfirst, and a zone name still honoured."""
    header = ["id", "service", "type", "opened_at"]
    pkg = tmp_path / "pkg"
    pm = write_csv(tmp_path / "pm.csv", header, [["T1", "mail", "incident", "2026-03-25 10:00"],
                                                 ["T2", "mail", "incident", "2026-03-25 10:00 PM"]])
    code, error = imported("tickets", pm, "--starter-services", "--into", pkg)
    assert code == 2 and not pkg.exists()
    named = [p for p in error["problems"] if p["row"] is not None]
    assert [(p["row"], p["field"], p["value"]) for p in named] == [
        (2, "opened_at", "2026-03-25 10:00 PM")]
    short = write_csv(tmp_path / "short.csv", header, [
        ["T1", "mail", "incident", "29/02/16 22:00"], ["T2", "mail", "incident", "1/3/16"],
        ["T3", "mail", "incident", "2016-03-02 10:00 UTC"]])
    code, summary = imported("tickets", short, "--dayfirst", "--starter-services", "--into", pkg)
    assert code == 0 and (summary["first_date"], summary["last_date"]) == ("2016-02-29",
                                                                           "2016-03-02")
    # an offset after a space, as Java writes it, is honoured as an event log's is
    spaced = write_csv(tmp_path / "spaced.csv", header, [
        ["T1", "mail", "incident", "2016-03-02 10:00:00 +0100"],
        ["T2", "mail", "incident", "2016-03-02 23:30:00 -0100"]])
    code, summary = imported("tickets", spaced, "--starter-services", "--into", tmp_path / "p3")
    assert code == 0 and summary["last_date"] == "2016-03-03"


def test_dates_whose_month_is_a_name_are_read_in_the_form_shown(tmp_path: Path) -> None:
    """An Oracle-style export (01-MAR-2026 10:00) needs no option: a month name tells the
    order, so the form its first date shows is read and said; an ISO date beside it still
    reads, a date in neither form is named. Before session 29 every row was a problem."""
    header = ["id", "service", "type", "opened_at", "resolved_at"]
    pkg = tmp_path / "pkg"
    ora = write_csv(tmp_path / "ora.csv", header, [
        ["T1", "mail", "incident", "01-MAR-2026 10:00", "02-mar-2026 09:30"],
        ["T2", "mail", "incident", "25-MAR-2026 23:05", "2026-03-26T08:00:00Z"]])
    code, summary = imported("tickets", ora, "--starter-services", "--into", pkg)
    assert code == 0, summary
    assert (summary["first_date"], summary["last_date"]) == ("2026-03-01", "2026-03-25")
    said = json.dumps(summary)
    assert "dates read in the form %d-%b-%Y %H:%M, as '01-MAR-2026 10:00' shows" in said
    bad = write_csv(tmp_path / "bad.csv", header, [
        ["T1", "mail", "incident", "01-MAR-2026 10:00", ""],
        ["T2", "mail", "incident", "March 25 2026", ""]])
    code, error = imported("tickets", bad, "--starter-services", "--into", tmp_path / "p2")
    assert code == 2
    assert [(p["row"], p["value"]) for p in error["problems"] if p["row"]] == [
        (2, "March 25 2026")]


def test_date_hints_name_the_option(tmp_path: Path) -> None:
    from dipstick.connectors.look import date_hint
    from dipstick.connectors.sources import open_source

    con = duckdb.connect()
    for name, values, dayfirst, expected in [
        ("eu", ["25/3/2026 10:00", "2/4/2026"], False, "day-first (e.g. '25/3/2026 10:00'): "
                                                       "add --dayfirst"),
        ("us", ["3/25/2026", "4/2/2026"], True, "month-first (e.g. '3/25/2026')"),
        ("unsure", ["3/4/2026", "4/2/2026"], False, "could be day- or month-first"),
        ("known", ["25/3/2026"], True, None),
        ("iso", ["2026-03-25"], False, None),
    ]:
        f = write_csv(tmp_path / f"{name}.csv", ["opened_at"], [[v] for v in values])
        src = open_source(con, f, tmp_path)
        hint = date_hint(con, src, ["opened_at"], dayfirst, None)
        assert (hint is None) if expected is None else (expected in (hint or "")), (name, hint)


def test_a_gzip_export_with_a_duplicated_header_names_it(tmp_path: Path) -> None:
    f = tmp_path / "x.csv.gz"
    with gzip.open(f, "wt", newline="") as out:
        w = csv.writer(out)
        w.writerow(["id", "service", "type", "opened_at", "service"])
        w.writerow(["T1", "mail", "incident", "2026-03-01", "web"])
    code, summary = imported("tickets", f, "--starter-services", "--into", tmp_path / "pkg",
                             "--dry-run")
    assert code == 0
    assert any("'service' 2 times (columns 2, 5)" in w for w in summary["warnings"])


def test_starter_groups_come_from_the_requester_groups(tmp_path: Path) -> None:
    """A ticket export naming its requesters' departments: unknown groups are refused (naming
    --starter-groups), then become internal stakeholder groups that init makes consumers."""
    rows = [[f"T{i}", "mail", "incident", f"2026-03-{1 + i % 28:02d} 09:00",
             ["Finance", "Sales", "?"][i % 3]] for i in range(30)]
    export = write_csv(tmp_path / "tickets.csv",
                       ["id", "service", "type", "opened_at", "requester_group"], rows)
    pkg = tmp_path / "pkg"
    code, error = imported("tickets", export, "--starter-services", "--into", pkg)
    assert code == 2 and not pkg.exists()
    assert any("--starter-groups" in p["message"] and p["value"] == "Finance"
               for p in error["problems"])
    code, summary = imported("tickets", export, "--starter-services", "--starter-groups",
                             "--into", pkg)
    assert code == 0 and summary["groups_added"] == ["Finance", "Sales"]
    assert any("added 2 stakeholder group(s) from the values of requester_group" in n
               for n in summary["notes"])
    model = yaml.safe_load((pkg / "dipstick.yaml").read_text())
    assert [(g["id"], g["kind"]) for g in model["stakeholder_groups"]] == [
        ("Finance", "internal"), ("Sales", "internal")]
    # a second import knows them: nothing added again
    code, again = imported("tickets", export, "--starter-services", "--starter-groups",
                           "--into", pkg)
    assert code == 0 and again["groups_added"] == []
    ran = dipstick("init", pkg, "--format", "json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["placeholder_group"] is False   # real groups, no stand-in
