"""Values reach DuckDB as bound parameters, or (inside a view, where DuckDB cannot bind) by
the one escaping helper: hostile paths and values — a quote, a semicolon, a comment — arrive
intact through the import, the package loader and the pull's merge of passes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from connector_files import package, write_csv
from dipstick.connectors.imports import ImportOptions, import_file
from dipstick.connectors.pull.passes import _concat, moved_during
from dipstick.engine.sql import connect, literal, run
from dipstick.errors import PackageError
from dipstick.package import load_package

HOSTILE = "it's; DROP TABLE tickets; --"
HEADER = ["id", "service", "opened_at", "type", "reopened"]


def _ids(file: Path) -> list[str]:
    con = duckdb.connect()
    try:
        scan = "read_parquet(?)" if file.suffix == ".parquet" else "read_csv(?, all_varchar=true)"
        return [str(r[0]) for r in con.execute(f"SELECT id FROM {scan} ORDER BY id",
                                               [str(file)]).fetchall()]
    finally:
        con.close()


def test_a_hostile_folder_file_and_values_are_imported_merged_and_loaded_intact(
        tmp_path: Path) -> None:
    root = tmp_path / HOSTILE
    root.mkdir()
    pkg = package(root / "pkg", services=["crm"])
    first = write_csv(root / f"{HOSTILE}.csv", HEADER,
                      [[f"T1 {HOSTILE}", "crm", "2026-03-01", "incident", "0"]])
    import_file("tickets", first, pkg)                   # staged, checked, copied out
    second = write_csv(root / f"{HOSTILE} 2.csv", HEADER,
                       [[f"T2 {HOSTILE}", "crm", "2026-03-02", "request", "1"]])
    summary = import_file("tickets", second, pkg)        # the existing table read back (a view)
    assert summary.rows_in_table == 2
    assert _ids(pkg / "tickets.parquet") == [f"T1 {HOSTILE}", f"T2 {HOSTILE}"]
    loaded = load_package(pkg)                           # the Parquet file staged in a view
    try:
        got = loaded.signals.connection.execute("SELECT id FROM tickets ORDER BY id").fetchall()
    finally:
        loaded.close()
    assert [r[0] for r in got] == [f"T1 {HOSTILE}", f"T2 {HOSTILE}"]


def test_a_hostile_value_in_an_error_message_arrives_intact(tmp_path: Path) -> None:
    pkg = package(tmp_path / "pkg")
    src = write_csv(tmp_path / "services.csv", ["id", "name"],
                    [[HOSTILE, "One"], [HOSTILE, "Two"]])
    with pytest.raises(PackageError) as e:
        import_file("services", src, pkg, ImportOptions())
    assert "duplicate service id (also on row 1)" in str(e.value)
    assert HOSTILE in str(e.value)


def test_the_escaping_helper_and_parameters_keep_hostile_text_whole() -> None:
    con = connect()
    run(con, f"CREATE VIEW v AS SELECT {literal(HOSTILE)} AS x, {literal(chr(92))} AS y")
    assert run(con, "SELECT x, y FROM v") == [(HOSTILE, "\\")]
    run(con, "CREATE TABLE t (x VARCHAR)")
    run(con, "INSERT INTO t VALUES (?)", [HOSTILE])
    assert run(con, "SELECT count(*) FROM t WHERE x = $x", {"x": HOSTILE}) == [(1,)]


def test_the_pulls_passes_merge_in_a_hostile_folder(tmp_path: Path) -> None:
    root = tmp_path / HOSTILE
    root.mkdir()
    header = ["number", "sys_updated_on"]
    a = write_csv(root / "a'.csv", header, [[f"INC1 {HOSTILE}", "2016-03-01 10:00:00"],
                                           ["INC2", "2016-03-01 11:00:00"]])
    b = write_csv(root / "b;--.csv", header, [[f"INC1 {HOSTILE}", "2016-03-02 09:00:00"]])
    assert moved_during(a, "number", "sys_updated_on") is None
    out = root / f"{HOSTILE}.csv"
    _concat([a, b], out, "number")
    merged = out.read_text().splitlines()
    assert merged[1:] == ["INC2,2016-03-01 11:00:00", f"INC1 {HOSTILE},2016-03-02 09:00:00"]
    assert moved_during(out, "number", "sys_updated_on") is None
