"""Lake scale (issue 18): tables declared under ``tables:`` — Parquet files and Hive-partitioned
folders anywhere — read and validated by Spark itself, with the DuckDB loader's rules.

The same bad package gives the same problems on both engines (file, row, field, value,
message, the cap per rule), and a partitioned package gives the same check. Spark runs in
local mode; without PySpark or Java the tests skip unless ``DIPSTICK_REQUIRE_SPARK=1``.
"""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from dipstick.engine.spark import differences
from dipstick.errors import PackageError, Problem
from dipstick.package import load_package, validate
from test_spark import _check_json

from builder import AS_OF, PackageBuilder

pytestmark = pytest.mark.spark


def _declare(root: Path, tables: dict[str, str]) -> None:
    model = yaml.safe_load((root / "dipstick.yaml").read_text())
    model["tables"] = tables
    (root / "dipstick.yaml").write_text(yaml.safe_dump(model, sort_keys=False))


def _ticket(i: int, **changes: Any) -> dict[str, Any]:
    opened = AS_OF - timedelta(days=30, hours=i)
    row = {"id": f"T{i:04d}", "service": "crm", "opened_at": opened.isoformat() + " 09:00:00",
           "resolved_at": None, "type": "incident", "satisfaction": "8",
           "reassignments": 1.0, "part": i % 3}
    row.update(changes)
    return row


def _bad_rows() -> list[dict[str, Any]]:
    """One row of each broken rule, 25 of one (the cap of 20 and its "more rows" line);
    the rest clean."""
    rows = [_ticket(i) for i in range(60)]
    rows[3].update(satisfaction="abc")                     # wrong type
    rows[5].update(service=None)                           # required missing
    rows[7].update(satisfaction="11")                      # out of range
    rows[9].update(type="bug")                             # bad choice
    rows[11].update(service="nope")                        # unknown reference
    rows[13].update(id=rows[14]["id"])                     # duplicate key
    rows[15].update(opened_at="1800-01-01")                # date out of bounds
    rows[17].update(reassignments=math.nan)                # not finite (a typed double)
    rows[19].update(reassignments=-2.0)                    # below the minimum
    rows[21].update(resolved_at="2020-01-01")              # before opened_at
    for r in rows[30:55]:
        r.update(satisfaction="-1")                        # 25 rows below the minimum
    return rows


def _bad_package(root: Path, folder: bool) -> Path:
    PackageBuilder(root).service("crm").write()
    table = pa.Table.from_pylist(_bad_rows())
    if folder:   # Hive-style partitions part=0/1/2, declared outside the package folder
        pq.write_to_dataset(table, root.parent / f"{root.name}-lake" / "tickets",
                            partition_cols=["part"])
        _declare(root, {"tickets": f"../{root.name}-lake/tickets"})
    else:
        pq.write_table(table.drop(["part"]), root / "tickets.parquet")
    return root


def _key(p: Problem) -> tuple[Any, ...]:
    value = p.value
    if isinstance(value, float) and math.isnan(value):
        value = "nan"
    return (p.file, p.row, p.field, p.message, None if value is None else str(value))


def _spark_problems(root: Path, spark: Any) -> list[Problem]:
    try:
        load_package(root, spark=spark).close()
    except PackageError as e:
        return e.problems
    return []


@pytest.mark.parametrize("folder", [False, True], ids=["file", "partitioned-folder"])
def test_a_bad_table_gives_the_same_problems_on_both_engines(spark: Any, tmp_path: Path,
                                                             folder: bool) -> None:
    root = _bad_package(tmp_path / "pkg", folder)
    on_duckdb = [_key(p) for p in validate(root)]
    on_spark = [_key(p) for p in _spark_problems(root, spark)]
    messages = {k[3].split(":")[0] for k in on_duckdb}
    assert {"is not a valid number", "is required but empty", "must be ≤ 10",
            "must be one of incident, request, question", "unknown service id (not in "
            "dipstick.yaml)", "the key (id) is on more than one row of this file",
            "must be a date between 1900-01-01 and 2200-12-31", "must be ≥ 0",
            "is before opened_at"} <= messages, messages
    assert any(k[3].startswith("must be a finite number") for k in on_duckdb)
    assert any("5 more rows like the ones above" in k[3] for k in on_duckdb)
    if folder:   # the file inside the partitioned folder, not the folder
        assert any(k[0].startswith("tickets/part=") and k[0].endswith(".parquet")
                   for k in on_duckdb), on_duckdb
    assert sorted(on_spark, key=repr) == sorted(on_duckdb, key=repr)


def test_an_events_order_is_judged_alike_on_both_engines(spark: Any, tmp_path: Path) -> None:
    """A whole number as written (5, +5, 5.0) on both engines; 3.5 and 0x10 named on both,
    where each engine's own cast read another number (DuckDB 4 and 16)."""
    root = tmp_path / "pkg"
    PackageBuilder(root).service("crm").write()
    seqs = ["3.5", "0x10", "5.0", "+2", "7"]
    pq.write_table(pa.table({"case_id": ["c1"] * 5, "activity": list("abcde"),
                             "timestamp": [f"2026-03-01 1{i}:00:00" for i in range(5)],
                             "seq": seqs, "service": ["crm"] * 5}), root / "events.parquet")
    on_duckdb = [_key(p) for p in validate(root)]
    assert [(k[1], k[2], k[4]) for k in on_duckdb] == [(1, "seq", "3.5"), (2, "seq", "0x10")]
    assert sorted(_key(p) for p in _spark_problems(root, spark)) == sorted(on_duckdb)


def test_a_declared_table_that_is_not_there_is_a_problem(tmp_path: Path) -> None:
    root = PackageBuilder(tmp_path / "pkg").healthy().write()
    _declare(root, {"costs": "lake/costs", "bills": "x.parquet"})
    problems = {(p.field, p.message) for p in validate(root)}
    assert ("tables.bills", "unknown table (one of " + ", ".join(
        ["tickets", "usage", "costs", "training", "changes", "surveys", "kpis", "events",
         "touchpoints"]) + ")") in problems
    (root / "lake" / "costs").mkdir(parents=True)
    _declare(root, {"usage": "lake/usage.parquet"})
    assert [(p.field, p.message) for p in validate(root)] == [("tables.usage",
                                                               "does not exist")]


def _lake(root: Path) -> Path:
    """The test_spark package with its tickets moved to a Hive-partitioned folder (by
    service, typed columns from DuckDB's CSV sniffing) and its surveys to a Parquet file
    elsewhere, both declared under ``tables:``."""
    lake = root.parent / "lake"
    lake.mkdir()
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_csv('{root / 'tickets.csv'}')) TO '{lake}/tickets' "
                "(FORMAT parquet, PARTITION_BY (service))")
    con.execute(f"COPY (SELECT * FROM read_csv('{root / 'surveys.csv'}')) TO "
                f"'{lake}/surveys.parquet' (FORMAT parquet)")
    con.close()
    (root / "tickets.csv").unlink()
    (root / "surveys.csv").unlink()
    _declare(root, {"tickets": str(lake / "tickets"), "surveys": "../lake/surveys.parquet"})
    return root


@pytest.fixture(scope="module")
def lake_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    b = PackageBuilder(tmp_path_factory.mktemp("lake") / "pkg")
    b.healthy().satisfaction_step("crm", days_ago=120, before=8.5, after=4.0)
    b.service("erp").usage("erp").tickets("erp", per_week=9).surveys("erp")
    return _lake(b.write())


def test_a_partitioned_package_checks_the_same_on_both_engines(spark: Any, lake_package: Path,
                                                               tmp_path: Path) -> None:
    on_duckdb = _check_json(lake_package, "duckdb", tmp_path / "a.db")
    on_spark = _check_json(lake_package, "spark", tmp_path / "b.db")
    assert on_duckdb["summary"]["leak"] >= 1      # not a vacuous comparison of empty checks
    crm = next(s for s in on_duckdb["services"] if s["id"] == "crm")
    assert crm["since"] is not None
    assert not differences(on_duckdb, on_spark)


def test_spark_reads_the_lake_tables_itself(spark: Any, lake_package: Path) -> None:
    package = load_package(lake_package, spark=spark)
    try:
        assert set(package.lake) == {"tickets", "surveys"}
        assert not package.signals.has("tickets")     # nothing of them loaded on the driver
        assert package.signals.has("usage")           # a CSV file is, as before
        n = package.lake["tickets"].count()
        assert n == duckdb.sql("SELECT count(*) FROM read_parquet("
                               f"'{lake_package.parent / 'lake' / 'tickets'}/**/*.parquet')"
                               ).fetchall()[0][0]
    finally:
        package.close()
