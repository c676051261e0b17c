"""Loading and validating data packages: every problem names file, row, field and value."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from dipstick.errors import PackageError, Problem
from dipstick.package import load_package, validate

from builder import PackageBuilder


def _problems(tmp_path: Path, build: Callable[[PackageBuilder], PackageBuilder],
              fmt: str = "csv") -> list[Problem]:
    return validate(build(PackageBuilder(tmp_path / "pkg")).write(fmt))


def _with_tickets(**override: object) -> Callable[[PackageBuilder], PackageBuilder]:
    def build(b: PackageBuilder) -> PackageBuilder:
        b.healthy()
        b.tables["tickets"][2] = {**b.tables["tickets"][2], **override}
        return b
    return build


def test_a_healthy_package_is_valid(tmp_path: Path) -> None:
    assert _problems(tmp_path, lambda b: b.healthy()) == []


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_unknown_service_id_names_file_row_field_and_value(tmp_path: Path, fmt: str) -> None:
    [p] = _problems(tmp_path, _with_tickets(service="nope"), fmt)
    assert (p.file, p.row, p.field, p.value) == (f"tickets.{fmt}", 3, "service", "nope")
    assert "unknown service" in p.message
    assert p.line == (4 if fmt == "csv" else None)


def test_unparseable_date(tmp_path: Path) -> None:
    [p] = _problems(tmp_path, _with_tickets(opened_at="2026-13-45"))
    assert (p.file, p.row, p.field, p.value) == ("tickets.csv", 3, "opened_at", "2026-13-45")
    assert "not a valid date" in p.message


@pytest.mark.parametrize("value", ["29/02/16 09:30", "16-02-29", "1/2/3", "2026-03-01 10:00 PM"])
def test_a_date_duckdbs_cast_misreads_is_not_a_valid_date(tmp_path: Path, value: str) -> None:
    """DuckDB's cast reads 29/02/16 as 16 February of the year 29 (any first part of one to
    three digits is a year), and the plain TIMESTAMP cast drops a trailing "PM": neither is
    ISO 8601, the contract's form, so each is named as no valid date (before session 29 the
    range rule named the year 29 as out of range: the user wrote 2016)."""
    [p] = _problems(tmp_path, _with_tickets(opened_at=value))
    assert (p.file, p.row, p.field, p.value) == ("tickets.csv", 3, "opened_at", value)
    assert "not a valid date" in p.message


def test_an_events_order_is_a_whole_number_as_written(tmp_path: Path) -> None:
    """DuckDB's cast reads 3.5 as the whole number 4 and 0x10 as 16: an events table's
    ``seq`` is read by the event logs' rule (5, +5, 5.0), the others named, as ``dipstick
    streams`` names them in a log file (before session 29 the package rounded them)."""
    def build(b: PackageBuilder) -> PackageBuilder:
        return b.healthy().rows("events", [
            {"case_id": "c1", "activity": a, "timestamp": f"2026-03-01 1{i}:00", "seq": s}
            for i, (a, s) in enumerate([("a", "3.5"), ("b", "0x10"), ("c", "5.0"), ("d", "+2")])])
    problems = _problems(tmp_path, build)
    assert [(p.file, p.row, p.field, p.value) for p in problems] == [
        ("events.csv", 1, "seq", "3.5"), ("events.csv", 2, "seq", "0x10")]
    assert all("whole number" in p.message for p in problems)


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    def build(b: PackageBuilder) -> PackageBuilder:
        b.healthy()
        t = b.tables["tickets"]
        t[0] = {**t[0], "type": "complaint"}
        t[1] = {**t[1], "satisfaction": "11"}
        t[4] = {**t[4], "lost_minutes": "-3"}
        b.tables["usage"][0]["active_users"] = "many"
        return b
    found = {(p.file, p.row, p.field) for p in _problems(tmp_path, build)}
    assert found == {("tickets.csv", 1, "type"), ("tickets.csv", 2, "satisfaction"),
                     ("tickets.csv", 5, "lost_minutes"), ("usage.csv", 1, "active_users")}


def test_a_table_that_is_not_utf8_names_its_first_such_line(tmp_path: Path) -> None:
    """A package's CSV tables are UTF-8; a Windows-1252 byte on the fourth line was DuckDB's
    "CSV Error on Line: 2" (its header, no line in the problem). Now its own line and byte,
    and what to do, and the other tables are still judged."""
    pkg = PackageBuilder(tmp_path / "pkg").healthy().write("csv")
    tickets = pkg / "tickets.csv"
    lines = tickets.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b",", " \x96 Müller,".encode("latin-1"), 1)
    tickets.write_bytes(b"\n".join(lines))
    [p] = validate(pkg)
    assert (p.file, p.line) == ("tickets.csv", 4)
    assert p.message.startswith("is not UTF-8 text from line 4 on (byte 0x96): a data "
                                "package's CSV tables are UTF-8")
    assert "dipstick import" in p.message


def test_missing_required_column(tmp_path: Path) -> None:
    def build(b: PackageBuilder) -> PackageBuilder:
        b.healthy()
        for r in b.tables["usage"]:
            del r["active_users"]
        return b
    [p] = _problems(tmp_path, build)
    assert (p.file, p.field, p.row) == ("usage.csv", "active_users", None)
    assert "required column is missing" in p.message


def test_negative_cost_in_yaml_and_in_costs_table(tmp_path: Path) -> None:
    [p] = _problems(tmp_path, lambda b: b.service(monthly_cost=-5))
    assert (p.file, p.field, p.value) == ("dipstick.yaml", "services[0].monthly_cost", -5)
    assert p.line is not None
    [q] = _problems(tmp_path / "2", lambda b: b.healthy().rows(
        "costs", [{"month": "2026-10", "service": "crm", "amount": -1}]))
    assert (q.file, q.row, q.field) == ("costs.csv", 1, "amount")


def test_wrong_type_in_yaml_names_the_key_and_line(tmp_path: Path) -> None:
    problems = _problems(tmp_path, lambda b: b.service(licences="many"))
    [p] = problems
    assert (p.file, p.field, p.value) == ("dipstick.yaml", "services[0].licences", "many")
    text = (tmp_path / "pkg" / "dipstick.yaml").read_text().splitlines()
    assert p.line is not None and "licences" in text[p.line - 1]


def test_referential_checks_in_the_model(tmp_path: Path) -> None:
    problems = _problems(tmp_path, lambda b: b.service(consumers=["ghosts"], supports=[
        {"outcome": "world_peace"}]).settings(no_such_setting=1))
    fields = {p.field for p in problems}
    assert fields == {"services[0].consumers[0]", "services[0].supports[0].outcome",
                      "settings.no_such_setting"}


def test_survey_dimension_must_belong_to_the_group(tmp_path: Path) -> None:
    [p] = _problems(tmp_path, lambda b: b.healthy().rows("surveys", [
        {"date": "2026-10-01", "service": "crm", "group": "staff", "dimension": "revenue",
         "score": 5}]))
    assert (p.field, p.value) == ("dimension", "revenue")


def test_missing_yaml_and_broken_yaml(tmp_path: Path) -> None:
    tmp_path.joinpath("empty").mkdir()
    [p] = validate(tmp_path / "empty")
    assert "dipstick.yaml" in p.file and "missing" in p.message
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "dipstick.yaml").write_text("organisation:\n  name: [unclosed\n")
    [q] = validate(broken)
    assert q.file == "dipstick.yaml" and "not valid YAML" in q.message and q.line


def test_iso_timestamps_with_zone_and_dates_both_load(tmp_path: Path) -> None:
    b = PackageBuilder(tmp_path / "pkg").healthy()
    b.tables["tickets"][0]["opened_at"] = "2026-03-01"
    b.tables["tickets"][0]["resolved_at"] = "2026-03-01T10:30:00+01:00"
    package = load_package(b.write())
    try:
        rows = package.signals.connection.execute(
            "SELECT opened_at, resolved_at FROM tickets LIMIT 1").fetchall()
        assert str(rows[0][0]) == "2026-03-01 00:00:00"
        assert str(rows[0][1]) == "2026-03-01 09:30:00"
    finally:
        package.close()


def test_an_empty_optional_reference_is_no_reference(tmp_path: Path) -> None:
    """A tickets export whose requester_group column is empty, in a model that declares no
    stakeholder groups at all: nothing to check, not a row of errors (``NULL NOT IN`` an empty
    set is true in SQL)."""
    b = PackageBuilder(tmp_path / "p").healthy()
    b.model["stakeholder_groups"] = []
    b.model["services"][0]["consumers"] = []
    b.tables.pop("surveys", None)
    for row in b.tables["tickets"]:
        row["requester_group"] = ""
    load_package(b.write()).close()
    for row in b.tables["tickets"][:1]:
        row["requester_group"] = "ghosts"
    with pytest.raises(PackageError, match="unknown group id"):
        load_package(b.write()).close()


def test_a_steps_earlier_figures_are_checked_like_its_own(tmp_path: Path) -> None:
    """The contract's ``steps[].baseline`` (issue 13): a negative wait or a %C&A above 1 on the
    earlier map is refused with the file, the key path, its line and the value."""
    def build(b: PackageBuilder) -> PackageBuilder:
        return b.healthy().set("value_streams", [{
            "id": "onboard", "name": "Onboarding", "runs_per_month": 10, "steps": [
                {"name": "Request", "process_minutes": 10, "wait_minutes": 50,
                 "services": ["crm"],
                 "baseline": {"process_minutes": 10, "wait_minutes": -5,
                              "complete_accurate": 1.5}}]}])
    problems = _problems(tmp_path, build)
    found = {(p.file, p.field, p.value) for p in problems}
    assert found == {
        ("dipstick.yaml", "value_streams[0].steps[0].baseline.wait_minutes", -5),
        ("dipstick.yaml", "value_streams[0].steps[0].baseline.complete_accurate", 1.5)}
    text = (tmp_path / "pkg" / "dipstick.yaml").read_text().splitlines()
    assert all(p.line is not None and p.field.rsplit(".", 1)[-1] in text[p.line - 1]
               for p in problems)


def test_a_memory_bounded_check_spills_and_gives_the_same_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DIPSTICK_MEMORY_LIMIT bounds DuckDB (spilling to DIPSTICK_TEMP_DIRECTORY, as the
    importer does); the check's result does not depend on it."""
    from dipstick.check import run_check
    from dipstick.engine.sql import run

    root = PackageBuilder(tmp_path / "pkg").healthy().write("parquet")
    free = load_package(root)
    try:
        expected = run_check(free).to_json()
    finally:
        free.close()
    monkeypatch.setenv("DIPSTICK_MEMORY_LIMIT", "64MB")
    monkeypatch.setenv("DIPSTICK_TEMP_DIRECTORY", str(tmp_path / "spill"))
    bounded = load_package(root)
    try:
        assert run(bounded.signals.connection,
                   "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
                   ) == [("61.0 MiB", str(tmp_path / "spill"))]
        assert run_check(bounded).to_json() == expected
    finally:
        bounded.close()


def test_a_memory_limit_duckdb_cannot_read_is_bad_input_named(tmp_path: Path) -> None:
    """A mistyped DIPSTICK_MEMORY_LIMIT is exit 2 naming the variable, as text and as JSON,
    never a traceback (exit 1 would read as "leak found")."""
    from clirun import dipstick

    root = PackageBuilder(tmp_path / "pkg").healthy().write("csv")
    for fmt in ("table", "json"):
        ran = dipstick("check", root, "--no-store", "--format", fmt,
                       env={"DIPSTICK_MEMORY_LIMIT": "lots"})
        assert ran.returncode == 2
        assert "DIPSTICK_MEMORY_LIMIT='lots'" in ran.stdout + ran.stderr
        assert "1GB" in ran.stdout + ran.stderr


def test_collect_gives_plain_python_values(tmp_path: Path) -> None:
    """Rows come back as plain values column by column: integer sums (HUGEINT/DECIMAL) as
    floats, time-zoned timestamps as naive UTC, the rest as they are."""
    from datetime import date, datetime

    import narwhals as nw

    from dipstick.engine import collect
    from dipstick.engine.sql import connect

    con = connect()
    try:
        rel = con.sql("SELECT 'a' AS s, 2::BIGINT AS i, 1.5::DOUBLE AS f, true AS b, "
                      "DATE '2026-03-01' AS d, TIMESTAMP '2026-03-01 10:00' AS t, "
                      "TIMESTAMPTZ '2026-03-01 10:00+02' AS tz, 3::DECIMAL(18,2) AS dec, "
                      "NULL AS n, sum(5::HUGEINT) OVER () AS big")
        rows = collect(nw.from_native(rel).lazy())
    finally:
        con.close()
    assert rows == [{"s": "a", "i": 2, "f": 1.5, "b": True, "d": date(2026, 3, 1),
                     "t": datetime(2026, 3, 1, 10), "tz": datetime(2026, 3, 1, 8),
                     "dec": 3.0, "n": None, "big": 5.0}]
    assert [type(v) for v in rows[0].values()] == [str, int, float, bool, date, datetime,
                                                   datetime, float, type(None), float]


def test_typed_parquet_columns_are_still_checked_for_range_and_text_for_validity(
        tmp_path: Path) -> None:
    """A typed column skips the validity check it cannot fail, never the range checks; a
    text column holding numbers is still checked value by value."""
    import duckdb

    root = PackageBuilder(tmp_path / "pkg").healthy().write("parquet")
    f = root / "tickets.parquet"
    con = duckdb.connect()
    try:
        con.execute(
            f"COPY (SELECT * REPLACE ("
            f"CASE WHEN row_number() OVER () = 2 THEN 'many' ELSE CAST(lost_minutes AS VARCHAR) "
            f"END AS lost_minutes, "
            f"CASE WHEN row_number() OVER () = 3 THEN 11 ELSE satisfaction END AS satisfaction)"
            f" FROM read_parquet('{f}')) TO '{root / 't.parquet'}' (FORMAT parquet)").fetchall()
    finally:
        con.close()
    (root / "t.parquet").replace(f)
    problems = validate(root)
    found = {(p.field, p.message, p.row) for p in problems}
    assert ("lost_minutes", "is not a valid number", 2) in found
    assert ("satisfaction", "must be ≤ 10", 3) in found


def test_zoned_parquet_timestamps_load_as_utc_and_infinity_is_out_of_range(
        tmp_path: Path) -> None:
    """A Parquet TIMESTAMPTZ column is typed from its microseconds (not the per-value time
    zone cast): the same UTC wall time, and ±infinity, which has none, still reported as
    out of range rather than loaded as empty."""
    import duckdb

    root = PackageBuilder(tmp_path / "pkg").healthy().write("parquet")
    f = root / "tickets.parquet"

    def rewrite(second: str) -> None:
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'Europe/Berlin'")
            con.execute(
                f"COPY (SELECT * REPLACE (CASE row_number() OVER () WHEN 2 THEN "
                f"TIMESTAMPTZ '{second}' WHEN 3 THEN TIMESTAMPTZ '2025-06-21 08:30:00-05' "
                f"ELSE CAST(opened_at AS TIMESTAMPTZ) END AS opened_at) FROM read_parquet("
                f"'{f}')) TO '{root / 't.parquet'}' (FORMAT parquet)").fetchall()
        finally:
            con.close()
        (root / "t.parquet").replace(f)

    for infinite in ("infinity", "-infinity"):
        rewrite(infinite)
        assert [(p.file, p.row, p.message) for p in validate(root)
                if p.field == "opened_at"] == [
            ("tickets.parquet", 2, "must be a date between 1900-01-01 and 2200-12-31")]
    rewrite("2025-06-20 12:00:00+01")
    pkg = load_package(root)
    try:
        got = pkg.signals.connection.execute(
            "SELECT opened_at, typeof(opened_at) FROM tickets").fetchall()
    finally:
        pkg.close()
    assert got[1:3] == [(datetime(2025, 6, 20, 11), "TIMESTAMP"),
                        (datetime(2025, 6, 21, 13, 30), "TIMESTAMP")]
