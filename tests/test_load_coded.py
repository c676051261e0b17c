"""Text columns of known values stored as ENUMs behind a view (``engine/coded.py``): the loaded
tables read back exactly as the plain ones did (types, values, order), a bad file is judged as
before, and the tables written after the load (the surveys) stay tables."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import duckdb
import pytest

from dipstick.engine import sql
from dipstick.engine.coded import MAX_CODES, codes_of, judged
from dipstick.engine.rules import Rule
from dipstick.package import load_package, reference_ids, validate
from dipstick.package.tables import TABLES, keys_of
from dipstick.pulse.feed import SCHEMA, merge_surveys

from builder import PackageBuilder, typed_parquet


def _package(root: Path, fmt: str, bad: bool = False) -> Path:
    b = PackageBuilder(root).healthy().service("erp").tickets("erp", per_week=3)
    for i, r in enumerate(b.tables["tickets"]):
        r["requester_group"] = ("shoppers", "staff", None)[i % 3]   # a NULL among codes
    if bad:
        b.tables["tickets"][3]["service"] = "ghost"
        b.tables["tickets"][5]["type"] = "complaint"
    pkg = b.write("csv")
    return typed_parquet(pkg) if fmt == "parquet" else pkg   # the typed-first load


def _load(pkg: Path, table: str, fmt: str, coded: bool,
          con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
    con = con or sql.connect()
    model = load_package(pkg).model
    problems = sql.load_table(con, table, pkg / f"{table}.{fmt}", TABLES[table],
                              reference_ids(model), f"{table}.{fmt}",
                              partial(keys_of, table), coded=coded)
    assert problems == []
    return con


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_coded_table_reads_back_as_the_plain_one(tmp_path: Path, fmt: str) -> None:
    pkg = _package(tmp_path, fmt)
    plain, coded = _load(pkg, "tickets", fmt, False), _load(pkg, "tickets", fmt, True)
    kinds = dict(r[:2] for r in coded.execute("DESCRIBE _coded_tickets").fetchall())
    assert {k for k, t in kinds.items() if t.startswith("ENUM")} == {
        "service", "type", "requester_group"}   # the id is not of a known set
    assert coded.execute("DESCRIBE tickets").fetchall() == \
        plain.execute("DESCRIBE tickets").fetchall()
    for q in ("SELECT * FROM tickets",            # the file's order
              "SELECT service, type, requester_group, count(*) FROM tickets GROUP BY ALL "
              "ORDER BY ALL",
              "SELECT * FROM tickets WHERE type = 'incident' AND service >= 'd' ORDER BY id"):
        got = coded.execute(q).fetchall()
        assert got == plain.execute(q).fetchall() and got, q


def test_the_loaded_package_codes_all_but_the_surveys(tmp_path: Path) -> None:
    """A pulse's answers are appended to the surveys after the load: a view takes none."""
    pkg = _package(tmp_path, "parquet")
    package = load_package(pkg)
    con = package.signals.connection
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() "
                                       "WHERE NOT internal").fetchall()}
    assert {"tickets", "usage"} <= views and "surveys" not in views
    before = con.execute("SELECT count(*) FROM surveys").fetchall()[0][0]
    row = con.sql("SELECT date, service, \"group\", dimension, score, comment "
                  "FROM surveys LIMIT 1").to_arrow_table()
    assert merge_surveys(package, row.cast(SCHEMA)) == 1
    assert con.execute("SELECT count(*) FROM surveys").fetchall()[0][0] == before + 1


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_value_outside_its_set_is_judged_as_before(tmp_path: Path, fmt: str) -> None:
    """Typed first, the ENUM cast of an unknown service would fail: the table is made plain
    and the rules name the rows, as without coding; nothing is left behind."""
    pkg = _package(tmp_path, fmt, bad=True)
    assert [(p.field, p.value) for p in validate(pkg)] == [("service", "ghost"),
                                                          ("type", "complaint")]
    refs = {"service": {"crm", "erp"}, "group": {"staff", "shoppers"}}
    found = {}
    for coded in (False, True):
        con = sql.connect()
        found[coded] = sql.load_table(con, "tickets", pkg / f"tickets.{fmt}", TABLES["tickets"],
                                      refs, f"tickets.{fmt}", partial(keys_of, "tickets"),
                                      coded=coded)
        assert con.execute("SELECT * FROM duckdb_tables() WHERE NOT temporary").fetchall() == []
    assert found[True] == found[False] and len(found[True]) == 2


def test_a_table_loaded_again_replaces_the_view_or_the_table(tmp_path: Path) -> None:
    pkg = _package(tmp_path, "parquet")
    con = _load(pkg, "tickets", "parquet", True)
    _load(pkg, "tickets", "parquet", True, con)     # the view and its table replaced
    _load(pkg, "tickets", "parquet", False, con)    # a table where the view was
    _load(pkg, "tickets", "parquet", True, con)     # a view where the table was
    assert con.execute("SELECT count(*) FROM tickets").fetchall()[0][0] > 0


def test_codes_are_the_sets_the_rules_confine_a_column_to() -> None:
    refs = {"service": {"crm", "erp"}, "dimension": {"staff\x1fease", "shoppers\x1fease",
                                                     "staff\x1ftime_saved"}}
    rules = [Rule("service", "required", ""), Rule("service", "ref", "", ref="service"),
             Rule("type", "choices", "", ("request", "incident")),
             Rule("dimension", "pair_ref", "", "group", ref="dimension"),
             Rule("group", "ref", "", ref="group"),                  # no ids: stays text
             Rule("kind", "choices", "", ("a",)), Rule("kind", "min", "", 0)]  # read by another
    read = {i: sql.read_columns(r) for i, r in enumerate(rules)}
    assert codes_of(rules, read, dict.fromkeys(read, True), refs) == {
        "service": ("crm", "erp"), "type": ("incident", "request"),
        "dimension": ("ease", "time_saved")}
    not_read = dict.fromkeys(read, True) | {1: False}   # service not kept as read
    assert "service" not in codes_of(rules, read, not_read, refs)
    many = {"service": {str(i) for i in range(MAX_CODES + 1)}}
    assert codes_of(rules[:2], read, dict.fromkeys(read, True), many) == {}


def test_a_cast_judges_a_rule_only_of_exactly_its_set() -> None:
    """The load counts no row of a reference or choice its column's ENUM cast has judged:
    only when the ENUM is that rule's set, never a pair's (its owner is not in it)."""
    refs = {"service": {"crm", "erp"}, "dimension": {"staff\x1fease", "shoppers\x1ftime"}}
    ref = Rule("service", "ref", "", ref="service")
    choice = Rule("type", "choices", "", ("request", "incident"))
    pair = Rule("dimension", "pair_ref", "", "group", ref="dimension")
    codes = {"service": ("crm", "erp"), "type": ("incident", "request"),
             "dimension": ("ease", "time")}
    assert judged(ref, codes, refs) and judged(choice, codes, refs)
    assert not judged(pair, codes, refs)
    assert not judged(ref, {"service": ("crm", "erp", "hr")}, refs)   # a wider set
    assert not judged(ref, {}, refs)                                  # not coded


def test_a_dimension_of_another_group_is_named_in_a_coded_table(tmp_path: Path) -> None:
    """``time_saved`` is a dimension of the staff, not of the shoppers: the ENUM of every
    group's dimensions takes it, the pair's rule still names the row."""
    b = PackageBuilder(tmp_path).healthy()
    b.tables["surveys"][2].update(group="shoppers", dimension="time_saved")
    pkg = b.write("csv")
    refs = reference_ids(load_package(_package(tmp_path / "ok", "csv")).model)
    for fmt in ("csv", "parquet"):
        if fmt == "parquet":
            duckdb.execute(f"COPY (SELECT * FROM read_csv('{pkg / 'surveys.csv'}', header = "
                           f"true)) TO '{pkg / 'surveys.parquet'}' (FORMAT parquet)")
        con = sql.connect()
        found = sql.load_table(con, "surveys", pkg / f"surveys.{fmt}", TABLES["surveys"], refs,
                               "surveys", partial(keys_of, "surveys"), coded=True)
        assert [(p.row, p.field, p.value) for p in found] == [(3, "dimension", "time_saved")]


def test_a_hostile_id_arrives_intact_through_its_enum(tmp_path: Path) -> None:
    """An ENUM's values are SQL text (a type cannot be bound): quoted by ``engine.quote``."""
    sid = "it's; DROP TABLE tickets; --"
    for fmt in ("csv", "parquet"):
        b = PackageBuilder(tmp_path / fmt).healthy().service(sid).tickets(sid, per_week=1)
        pkg = b.write(fmt)
        con = load_package(pkg).signals.connection
        assert "tickets" in {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()"
                                                       ).fetchall()}
        got = con.execute("SELECT DISTINCT service FROM tickets ORDER BY 1").fetchall()
        assert got == [("crm",), (sid,)], fmt


@pytest.mark.parametrize("outsider", ["", " staff", "STAFF", "staff\u00a0", "stäff"])
def test_a_value_the_try_cast_makes_null_is_still_named(tmp_path: Path, outsider: str) -> None:
    """The ENUMs are made with ``TRY_CAST`` (``engine.sql._create``), which makes a value
    outside its set NULL instead of failing: one such value of the last coded column, beside
    its NULLs and the good values of the others, still makes the table plain and is named,
    as the failing ``CAST`` had it (seen red counting only the first coded column)."""
    pkg = _package(tmp_path, "parquet")
    file = pkg / "tickets.parquet"
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS FROM '{file}'")
    con.execute("UPDATE t SET requester_group = ? WHERE rowid = 4", [outsider])
    con.execute(f"COPY t TO '{file}' (FORMAT parquet)")
    found = validate(pkg)
    assert [(p.row, p.field, p.value) for p in found] == [(5, "requester_group", outsider)]
    refs = {"service": {"crm", "erp"}, "group": {"staff", "shoppers"}}
    plain = sql.load_table(sql.connect(), "tickets", file, TABLES["tickets"], refs, "t",
                           partial(keys_of, "tickets"), coded=False)
    assert sql.load_table(sql.connect(), "tickets", file, TABLES["tickets"], refs, "t",
                          partial(keys_of, "tickets"), coded=True) == plain
