"""Columns loaded but not stored (``load_table(omit=…)``, the check's ``runs.UNREAD``): judged
by every rule as a stored column is, with the same problems, rows and values; the check reads
nothing of them."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import duckdb
import pytest

from dipstick.check import run_check
from dipstick.engine import sql
from dipstick.package import Package, load_package, read_model, reference_ids
from dipstick.package.tables import TABLES, keys_of
from dipstick.runs import UNREAD, check_package

from builder import PackageBuilder, typed_parquet

FIRST = "(SELECT min(id) FROM tickets)"
EDITS = {
    "clean": "",
    "an empty id": "UPDATE tickets SET id = NULL WHERE rowid = 2",
    "a repeated id": f"UPDATE tickets SET id = {FIRST} WHERE rowid = 4",
    "two empty ids and a repeat": "UPDATE tickets SET id = NULL WHERE rowid IN (2, 6); "
                                  f"UPDATE tickets SET id = {FIRST} WHERE rowid = 4",
    "one row": "DELETE FROM tickets WHERE rowid > 0",
    "no row": "DELETE FROM tickets",
    "whole-number ids, repeated": "CREATE OR REPLACE TABLE tickets AS SELECT * REPLACE "
                                  "(CAST(rowid % 7 AS BIGINT) AS id) FROM tickets",
    "ids of -0.0, NaN and NULL": "CREATE OR REPLACE TABLE tickets AS SELECT * REPLACE (CAST("
                                 "CASE rowid WHEN 1 THEN -0.0::DOUBLE WHEN 2 THEN 0.0 "
                                 "WHEN 3 THEN 'nan'::DOUBLE WHEN 4 THEN 'nan'::DOUBLE "
                                 "WHEN 5 THEN NULL ELSE rowid END AS DOUBLE) AS id) FROM tickets",
    "another rule broken too": "UPDATE tickets SET id = NULL, satisfaction = 11 WHERE rowid = 3",
}


def _tickets(root: Path, edit: str, fmt: str) -> tuple[Path, dict[str, set[str]]]:
    pkg = typed_parquet(PackageBuilder(root).healthy().service("erp").tickets("erp", per_week=3)
                        .write("csv"))
    file = pkg / "tickets.parquet"
    con = duckdb.connect()
    con.execute(f"CREATE TABLE tickets AS FROM '{file}'")
    if edit:
        con.execute(edit)
    out = pkg / f"tickets.{fmt}"
    con.execute(f"COPY tickets TO '{out}' ({'HEADER' if fmt == 'csv' else 'FORMAT parquet'})")
    if fmt == "csv":
        file.unlink()
    model, _ = read_model(pkg)
    assert model is not None
    return out, reference_ids(model)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("edit", EDITS)
def test_an_omitted_id_is_judged_as_a_stored_one(tmp_path: Path, edit: str, fmt: str) -> None:
    """Typed first (Parquet) the rules of a column not stored are counted on the file and its
    keys screened there (seen red screening the new table, and counting an empty id as
    ``count(id)``); a CSV is judged on its text either way."""
    file, refs = _tickets(tmp_path, EDITS[edit], fmt)
    got = {}
    for omit in ((), ("id",)):
        con = sql.connect()
        found = sql.load_table(con, "tickets", file, TABLES["tickets"], refs, file.name,
                               partial(keys_of, "tickets"), coded=True, omit=omit)
        rows = [] if found else con.execute("SELECT * FROM tickets").fetchall()
        columns = [] if found else list(con.table("tickets").columns)
        got[omit] = [p.as_dict() for p in found], rows, columns
    (problems, rows, columns), (problems_o, rows_o, columns_o) = got.values()
    assert problems_o == problems
    assert bool(problems) == (edit not in ("clean", "one row", "no row"))
    if not problems:
        assert columns_o == [c for c in columns if c != "id"] and "id" in columns
        assert rows_o == [r[1:] for r in rows] and (rows or edit == "no row")


def test_the_check_reads_nothing_it_does_not_load(demo_org: Path) -> None:
    """``runs.UNREAD`` holds only what the check never reads: its result (indicators,
    coverage, episodes …) equals the check of the package loaded whole."""
    seen: list[tuple[str, ...]] = []

    def read(package: Package, _: object) -> None:
        seen.append(package.signals.columns("tickets"))

    checked = check_package(demo_org, while_open=read)
    assert dict(UNREAD) == {"tickets": {"id"}}
    assert "id" not in seen[0] and "service" in seen[0]
    whole = load_package(demo_org)
    try:
        assert checked.result.to_json() == run_check(whole).to_json()
    finally:
        whole.close()
