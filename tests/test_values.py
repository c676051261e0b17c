"""Values that mean something (issue 17, part B1): dates outside 1900–2200, non-finite numbers
and repeated keys are problems naming file, row and field, the same in ``validate``, ``check``
and ``import`` (one set of rules); input that used to end in a traceback is exit 2."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer

from dipstick.cli.app import _print_json
from dipstick.errors import Problem
from dipstick.package import validate

from builder import PackageBuilder
from clirun import dipstick

BIG = "9" * 5000   # beyond Python's 4,300-digit limit and beyond a double


def _package(tmp_path: Path, change: Callable[[PackageBuilder], object] | None = None,
             fmt: str = "csv") -> Path:
    b = PackageBuilder(tmp_path / "pkg").healthy()
    if change is not None:
        change(b)
    return b.write(fmt)


def _edit_yaml(pkg: Path, old: str, new: str) -> None:
    file = pkg / "dipstick.yaml"
    text = file.read_text(encoding="utf-8")
    assert old in text
    file.write_text(text.replace(old, new, 1), encoding="utf-8")


def _json_problems(stdout: str) -> list[dict[str, Any]]:
    problems: list[dict[str, Any]] = json.loads(stdout)["problems"]
    return problems


def _where(p: Problem | dict[str, Any]) -> tuple[object, ...]:
    """(file name, row, field, value): an import names its source by its whole path."""
    d = p.as_dict() if isinstance(p, Problem) else p
    return Path(str(d["file"])).name, d["row"], d["field"], d["value"]


# ---- dates: 1900-01-01 to 2200-12-31 ---------------------------------------------------------

@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1899-12-31", "2201-01-01"])
@pytest.mark.parametrize("command", [["check", "--no-store"], ["report", "--no-store"],
                                     ["journeys"]])
def test_an_as_of_option_out_of_range_is_exit_2_naming_the_option(
        tmp_path: Path, day: str, command: list[str]) -> None:
    pkg = _package(tmp_path)
    out = tmp_path / "r.html"
    extra = ["-o", str(out)] if command[0] == "report" else []
    r = dipstick(command[0], pkg, *command[1:], *extra, "--as-of", day)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "--as-of" in r.stderr and "between 1900-01-01 and 2200-12-31" in r.stderr
    assert not out.exists()


@pytest.mark.parametrize("args", [
    ["actions", "set", "1", "--due", "9999-12-31"], ["actions", "set", "1", "--on", "0001-01-01"],
    ["pulse", "due", "--today", "9999-12-31"],
    ["pull", "servicenow", "--into", "x", "--since", "0001-01-01"]])
def test_every_date_option_out_of_range_is_exit_2_naming_it(args: list[str]) -> None:
    r = dipstick(*args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert args[-2] in r.stderr and "between 1900-01-01 and 2200-12-31" in r.stderr


def test_the_edges_of_the_date_range_are_accepted(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    for day in ("1900-01-01", "2200-12-31"):
        r = dipstick("check", pkg, "--no-store", "--as-of", day, "-f", "json")
        assert r.returncode in (0, 1), r.stderr
        assert json.loads(r.stdout)["as_of"] == day


@pytest.mark.parametrize("written", ["9999-12-31", "'0001-01-01'"])
def test_an_as_of_in_dipstick_yaml_out_of_range_is_a_problem(tmp_path: Path,
                                                             written: str) -> None:
    pkg = _package(tmp_path)
    _edit_yaml(pkg, "as_of: '2026-11-01'", f"as_of: {written}")
    for command in (["validate"], ["check", "--no-store"]):
        r = dipstick(command[0], pkg, *command[1:], "-f", "json")
        assert r.returncode == 2, r.stdout + r.stderr
        [p] = _json_problems(r.stdout)
        assert (p["file"], p["field"], p["line"]) == ("dipstick.yaml", "organisation.as_of", 5)
        assert p["message"] == "must be a date between 1900-01-01 and 2200-12-31"


def test_a_service_date_in_dipstick_yaml_out_of_range_is_a_problem(tmp_path: Path) -> None:
    pkg = _package(tmp_path, lambda b: b.model["services"][0].update(end_of_life="9999-12-31"))
    [p] = validate(pkg)
    assert (p.field, p.value) == ("services[0].end_of_life", "9999-12-31")
    assert "between 1900-01-01" in p.message


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_usage_row_dated_9999_is_a_problem_in_validate_and_check(tmp_path: Path,
                                                                   fmt: str) -> None:
    pkg = _package(tmp_path, lambda b: b.tables["usage"][4].update(date="9999-12-31"), fmt)
    [p] = validate(pkg)
    assert _where(p) == (f"usage.{fmt}", 5, "date", "9999-12-31")
    assert p.message == "must be a date between 1900-01-01 and 2200-12-31"
    r = dipstick("check", pkg, "--no-store", "-f", "json")
    assert r.returncode == 2
    assert [_where(q) for q in _json_problems(r.stdout)] == [_where(p)]


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_import_refuses_a_row_dated_9999_like_the_loader(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    before = (pkg / "usage.csv").read_bytes()
    src = _write_csv(tmp_path / "usage.csv", ["date", "service", "active_users"],
                     [["2026-10-30", "crm", "80"], ["9999-12-31", "crm", "81"],
                      ["1066-10-14", "crm", "82"]])
    r = dipstick("import", "usage", src, "--into", pkg, "-f", "json")
    assert r.returncode == 2, r.stdout + r.stderr
    assert [(_where(p), p["message"]) for p in _json_problems(r.stdout)] == [
        (("usage.csv", 2, "date", "9999-12-31"),
         "must be a date between 1900-01-01 and 2200-12-31"),
        (("usage.csv", 3, "date", "1066-10-14"),
         "must be a date between 1900-01-01 and 2200-12-31")]
    assert (pkg / "usage.csv").read_bytes() == before   # nothing written


# ---- numbers: finite ---------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["inf", "-inf", "NaN", "1e400", "-Infinity", BIG])
def test_a_non_finite_number_in_a_table_is_a_problem(tmp_path: Path, value: str) -> None:
    pkg = _package(tmp_path, lambda b: b.tables["usage"][2].update(active_users=value))
    [p] = validate(pkg)
    assert _where(p) == ("usage.csv", 3, "active_users", value)
    assert p.message.startswith("must be a finite number")


def test_non_finite_numbers_in_parquet_are_problems(tmp_path: Path) -> None:
    def change(b: PackageBuilder) -> None:
        b.tables["usage"][2]["active_users"] = float("nan")
        b.tables["kpis"][0]["value"] = float("-inf")

    pkg = _package(tmp_path, change, "parquet")
    assert [(p.file, p.row, p.field) for p in validate(pkg)] == [
        ("usage.parquet", 3, "active_users"), ("kpis.parquet", 1, "value")]


@pytest.mark.parametrize(("old", "new", "field"), [
    ("hourly_rate: 50", "hourly_rate: .inf", "organisation.hourly_rate"),
    ("hourly_rate: 50", "hourly_rate: 1e400", "organisation.hourly_rate"),
    ("monthly_cost: 1000", "monthly_cost: .nan", "services[0].monthly_cost"),
    ("target: 100", "target: -.inf", "outcomes[0].kpi.target"),
    ("size: 100", f"size: {'9' * 40}", "stakeholder_groups[0].size"),
    ("settings: {}", "settings: {untrained_hours_per_month: .inf}",
     "settings.untrained_hours_per_month"),
])
def test_a_non_finite_number_in_dipstick_yaml_is_a_problem(
        tmp_path: Path, old: str, new: str, field: str) -> None:
    pkg = _package(tmp_path)
    _edit_yaml(pkg, old, new)
    problems = validate(pkg)
    assert [(p.file, p.field) for p in problems] == [("dipstick.yaml", field)]
    assert problems[0].line is not None


@pytest.mark.parametrize(("setting", "value"), [("window_days", 10**9),
                                              ("baseline_days", 10**12),
                                              ("change_shift_weeks", 10**6)])
def test_a_span_setting_beyond_a_century_is_a_problem(tmp_path: Path, setting: str,
                                                      value: int) -> None:
    """``window_days: 1000000000`` passed ``ge=7`` and ended the check in OverflowError."""
    pkg = _package(tmp_path, lambda b: b.settings(**{setting: value}))
    r = dipstick("check", pkg, "--no-store", "-f", "json")
    assert r.returncode == 2, r.stdout + r.stderr
    [p] = _json_problems(r.stdout)
    assert p["field"] == f"settings.{setting}"
    assert p["message"].startswith("must be at most") and "(a century)" in p["message"]


def test_check_json_of_a_package_with_an_infinite_rate_is_exit_2_and_valid_json(
        tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    _edit_yaml(pkg, "hourly_rate: 50", "hourly_rate: .inf")
    r = dipstick("check", pkg, "--no-store", "-f", "json")
    assert r.returncode == 2
    assert "Infinity" not in r.stdout
    [p] = _json_problems(r.stdout)
    assert (p["field"], p["value"]) == ("organisation.hourly_rate", "inf")


def test_json_output_never_prints_infinity(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as e:
        _print_json({"leak": float("inf")})
    assert e.value.exit_code == 3
    out = capsys.readouterr()
    assert out.out == "" and "not finite" in out.err


@pytest.mark.parametrize("value", ["inf", "NaN", "1e400"])
def test_import_refuses_non_finite_numbers_like_the_loader(tmp_path: Path, value: str) -> None:
    pkg = _package(tmp_path)
    src = _write_csv(tmp_path / "costs.csv", ["month", "service", "amount"],
                     [["2026-09", "crm", "100"], ["2026-10", "crm", value]])
    r = dipstick("import", "costs", src, "--into", pkg, "-f", "json")
    assert r.returncode == 2, r.stdout + r.stderr
    [p] = _json_problems(r.stdout)
    assert _where(p) == ("costs.csv", 2, "amount", value)
    assert p["message"].startswith("must be a finite number")
    assert not (pkg / "costs.parquet").exists()


def test_import_of_a_whole_number_beyond_64_bits_is_a_problem(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    src = _write_csv(tmp_path / "services.csv", ["id", "name", "licences"],
                     [["hr", "HR", "99999999999999999999"], ["mail", "Mail", BIG]])
    r = dipstick("import", "services", src, "--into", pkg, "-f", "json")
    assert r.returncode == 2, r.stdout + r.stderr
    assert [(p["row"], p["field"]) for p in _json_problems(r.stdout)] == [
        (1, "licences"), (2, "licences")]


# ---- keys: declared once, checked alike --------------------------------------------------------

def _duplicates(b: PackageBuilder) -> None:
    t, u = b.tables["tickets"], b.tables["usage"]
    t[3]["id"] = t[2]["id"]
    u[5]["date"] = u[4]["date"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_duplicate_keys_are_problems_in_validate_and_check(tmp_path: Path, fmt: str) -> None:
    pkg = _package(tmp_path, _duplicates, fmt)
    problems = validate(pkg)
    b = PackageBuilder(tmp_path / "x").healthy()
    tid, day = b.tables["tickets"][2]["id"], b.tables["usage"][4]["date"]
    assert [(_where(p), p.message) for p in problems] == [
        ((f"tickets.{fmt}", 3, "id", tid), "the key (id) is on more than one row of this file"),
        ((f"tickets.{fmt}", 4, "id", tid), "the key (id) is on more than one row of this file"),
        ((f"usage.{fmt}", 5, "date", f"{day} | crm"),
         "the key (date, service) is on more than one row of this file"),
        ((f"usage.{fmt}", 6, "date", f"{day} | crm"),
         "the key (date, service) is on more than one row of this file")]
    r = dipstick("check", pkg, "--no-store", "-f", "json")
    assert r.returncode == 2
    assert [_where(p) for p in _json_problems(r.stdout)] == [_where(p) for p in problems]


def test_import_reports_a_duplicate_key_as_the_loader_does(tmp_path: Path) -> None:
    """The same file, read by validate and by import: the same problems, word for word."""
    pkg = _package(tmp_path, _duplicates)
    loaded = [(p.file, p.row, p.field, p.value, p.message) for p in validate(pkg)
              if p.file == "usage.csv"]
    fresh = tmp_path / "fresh"
    PackageBuilder(fresh).healthy().write("csv")
    (fresh / "usage.csv").unlink()
    r = dipstick("import", "usage", pkg / "usage.csv", "--into", fresh, "-f", "json")
    assert r.returncode == 2, r.stdout + r.stderr
    imported = [(Path(p["file"]).name, p["row"], p["field"], p["value"], p["message"])
                for p in _json_problems(r.stdout)]
    assert imported == loaded and len(loaded) == 2
    assert not (fresh / "usage.parquet").exists()


def test_a_repeated_respondent_is_a_duplicate_but_anonymous_answers_are_not(
        tmp_path: Path) -> None:
    def same_respondent(b: PackageBuilder) -> None:
        s = b.tables["surveys"]
        s[1] = {**s[0]}

    pkg = _package(tmp_path / "a", same_respondent)
    assert {(p.file, p.row) for p in validate(pkg)} == {("surveys.csv", 1), ("surveys.csv", 2)}

    def anonymous(b: PackageBuilder) -> None:
        s = b.tables["surveys"]
        for r in s:
            del r["respondent"]
        s.append({**s[0]})

    assert validate(_package(tmp_path / "b", anonymous)) == []

    def some_anonymous(b: PackageBuilder) -> None:
        s = b.tables["surveys"]
        s[0]["respondent"] = s[1]["respondent"] = ""
        s[1].update({k: s[0][k] for k in ("date", "group", "dimension")})

    assert validate(_package(tmp_path / "c", some_anonymous)) == []


def test_import_lets_anonymous_answers_share_a_slice_beside_named_ones(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    src = _write_csv(tmp_path / "surveys.csv",
                     ["date", "service", "group", "dimension", "score", "respondent"],
                     [["2026-10-02", "crm", "staff", "ease", "7", ""],
                      ["2026-10-02", "crm", "staff", "ease", "8", ""],
                      ["2026-10-02", "crm", "staff", "ease", "9", "r1"]])
    r = dipstick("import", "surveys", src, "--into", pkg, "--replace")
    assert r.returncode == 0, r.stdout + r.stderr
    assert validate(pkg) == []
    twice = _write_csv(tmp_path / "twice.csv",
                       ["date", "service", "group", "dimension", "score", "respondent"],
                       [["2026-10-02", "crm", "staff", "ease", "9", "r1"],
                        ["2026-10-02", "crm", "staff", "ease", "6", "r1"]])
    r = dipstick("import", "surveys", twice, "--into", pkg, "-f", "json")
    assert r.returncode == 2
    assert [(p["row"], p["value"]) for p in _json_problems(r.stdout)] == [
        (1, "2026-10-02 | crm | staff | ease | r1"), (2, "2026-10-02 | crm | staff | ease | r1")]


# ---- what used to be a traceback ---------------------------------------------------------------

def test_dipstick_yaml_with_a_byte_that_is_not_utf8_is_exit_2(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    file = pkg / "dipstick.yaml"
    file.write_bytes(file.read_bytes().replace(b"Test Org", b"Test \xffOrg"))
    for command in ("validate", "check"):
        r = dipstick(command, pkg, "-f", "json")
        assert r.returncode == 2, r.stderr
        [p] = _json_problems(r.stdout)
        assert (p["file"], p["line"]) == ("dipstick.yaml", 2)
        assert "not UTF-8" in p["message"] and "0xff" in p["message"]


def test_dipstick_yaml_with_an_integer_of_5000_digits_is_exit_2(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    _edit_yaml(pkg, "hourly_rate: 50", f"hourly_rate: {BIG}")
    r = dipstick("validate", pkg, "-f", "json")
    assert r.returncode == 2, r.stderr
    [p] = _json_problems(r.stdout)
    assert (p["file"], p["line"]) == ("dipstick.yaml", 4)
    assert "4,300 digits" in p["message"]


def test_dipstick_yaml_with_an_impossible_date_is_exit_2(tmp_path: Path) -> None:
    """``as_of: 2026-13-45`` unquoted is a YAML timestamp Python cannot build (a traceback)."""
    pkg = _package(tmp_path)
    _edit_yaml(pkg, "as_of: '2026-11-01'", "as_of: 2026-13-45")
    r = dipstick("check", pkg, "--no-store", "-f", "json")
    assert r.returncode == 2, r.stderr
    [p] = _json_problems(r.stdout)
    assert p["file"] == "dipstick.yaml" and "month must be in 1..12" in p["message"]


def test_a_mapping_file_that_is_not_utf8_is_exit_2(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    mapping = tmp_path / "map.yaml"
    mapping.write_bytes(b"date: \xff\n")
    r = dipstick("import", "usage", pkg / "usage.csv", "--into", pkg, "--mapping", mapping)
    assert r.returncode == 2
    assert "--mapping" in r.stderr


@pytest.mark.parametrize("command", [["check", "PKG", "--no-store"], ["check", "PKG"],
                                     ["runs"], ["users", "list"], ["actions", "list"]])
def test_a_database_option_that_is_not_a_url_is_exit_2_naming_it(
        tmp_path: Path, command: list[str]) -> None:
    pkg = _package(tmp_path)
    args = [pkg if a == "PKG" else a for a in command]
    r = dipstick(*args, "--database", "notaurl")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "--database" in r.stderr and "is not a database URL" in r.stderr
    assert r.stdout == ""   # refused before any work


@pytest.mark.parametrize("command", [["check", "PKG"], ["runs"], ["users", "list"]])
def test_a_database_variable_that_is_not_a_url_is_exit_2_naming_it(
        tmp_path: Path, command: list[str]) -> None:
    """The same mistake made in the environment instead of the option: a bad input (2), not
    an unreachable database (3); the value is not echoed (it may hold a password)."""
    pkg = _package(tmp_path)
    args = [pkg if a == "PKG" else a for a in command]
    r = dipstick(*args, env={"DIPSTICK_DATABASE_URL": "notaurl-s3cret"})
    assert r.returncode == 2, r.stdout + r.stderr
    assert "DIPSTICK_DATABASE_URL is not a database URL" in r.stderr
    assert "s3cret" not in r.stdout + r.stderr


# ---- the self-assessment file (read by the package loader) -----------------------------------

SELF_HEAD = "service,cause,question,answer,answered_by,date\n"


def _self_assessment(tmp_path: Path, name: str, content: bytes) -> Path:
    pkg = _package(tmp_path)
    (pkg / name).write_bytes(content)
    return pkg


def test_a_self_assessment_dated_9999_is_a_problem(tmp_path: Path) -> None:
    pkg = _self_assessment(tmp_path, "self_assessment.csv", (
        SELF_HEAD + "crm,training,trained,2,crm@example.org,9999-12-31\n").encode())
    r = dipstick("check", pkg, "--no-store", "-f", "json")
    assert r.returncode == 2, r.stdout + r.stderr
    [p] = _json_problems(r.stdout)
    assert _where(p) == ("self_assessment.csv", 1, "date", "9999-12-31")
    assert p["message"] == "must be a date between 1900-01-01 and 2200-12-31"


@pytest.mark.parametrize(("name", "content"), [
    ("self_assessment.csv", SELF_HEAD.encode() + b"crm,training,trained,2,\xff,2026-10-01\n"),
    ("self_assessment.csv", SELF_HEAD.encode() + b"crm,training,trained,2,\"" + b"x" * 140_000
     + b"\",2026-10-01\n"),
    ("self_assessment.yaml", f"- service: crm\n  cause: training\n  answers: {{trained: {BIG}}}\n"
     .encode()),
    ("self_assessment.yaml", b"- service: \xff\n"),
])
def test_a_self_assessment_file_that_cannot_be_read_is_exit_2(tmp_path: Path, name: str,
                                                              content: bytes) -> None:
    pkg = _self_assessment(tmp_path, name, content)
    r = dipstick("validate", pkg, "-f", "json")
    assert r.returncode == 2, r.stdout + r.stderr
    [p] = _json_problems(r.stdout)
    assert p["file"] == name and "cannot be read" in p["message"]
