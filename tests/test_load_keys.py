"""The loader's screen for repeated keys (``engine.sql.repeated_keys``) and its typed-first
load of Parquet files: the same problems as before, nothing left behind on bad input."""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path

import duckdb
import pytest

from dipstick.engine import sql
from dipstick.package import load_package, validate
from dipstick.package.tables import TABLES, keys_of

from builder import PackageBuilder


def _where(p: object) -> tuple[object, ...]:
    d = p.as_dict()  # type: ignore[attr-defined]
    return Path(str(d["file"])).name, d["row"], d["field"], d["message"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_repeated_id_is_found_beside_an_empty_one(tmp_path: Path, fmt: str) -> None:
    """Was missed: ``count(id) - count(DISTINCT hash(id))`` counted the empty id's hash as
    one more distinct key, cancelling the one repeat."""
    b = PackageBuilder(tmp_path / "pkg").healthy()
    t = b.tables["tickets"]
    t[3]["id"] = t[2]["id"]
    t[6]["id"] = None
    found = [_where(p) for p in validate(b.write(fmt))]
    repeat = "the key (id) is on more than one row of this file"
    assert found == [(f"tickets.{fmt}", 7, "id", "is required but empty"),
                     (f"tickets.{fmt}", 3, "id", repeat), (f"tickets.{fmt}", 4, "id", repeat)]


KEYS = [(1, "a"), (2, "a"), (1, "a"), (None, "b"), (None, "b"), (3, None), (3, None), (4, "c")]


@pytest.mark.parametrize("key", ["x", "row(x, y)", "y"])
def test_numpy_and_duckdb_count_the_same_repeats(key: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (x INTEGER, y VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", KEYS)
    in_numpy = sql.repeated_keys(con, "t", key, "true", len(KEYS))
    monkeypatch.setattr(sql, "HASHES_IN_MEMORY", 0)   # beyond the bound: DuckDB counts
    in_duckdb = sql.repeated_keys(con, "t", key, "true", len(KEYS))
    values = [r[0] for r in con.execute(f"SELECT {key} FROM t").fetchall()]
    assert in_numpy == in_duckdb == len(values) - len(set(values))
    assert sql.repeated_keys(con, "t", key, "x = 4", len(KEYS)) == 0


def _typed_parquet(tmp_path: Path, edit: str = "") -> tuple[Path, Path]:
    """The healthy package as CSV, and as Parquet files written from its loaded tables (dates
    as TIMESTAMP, numbers as DOUBLE: what the typed-first load takes); ``edit``: SQL run on
    copies of the loaded tables (which may be views: engine/coded.py) before they are written."""
    csv = PackageBuilder(tmp_path / "csv").healthy().write("csv")
    signals = load_package(csv).signals
    out = tmp_path / "parquet"
    out.mkdir()
    shutil.copy(csv / "dipstick.yaml", out / "dipstick.yaml")
    con = duckdb.connect()
    for t in TABLES:
        if signals.has(t):
            rows = signals.connection.table(t).to_arrow_table()  # noqa: F841 (read by name)
            con.execute(f"CREATE TABLE {t} AS SELECT * FROM rows")
    if edit:
        con.execute(edit)
    for t in TABLES:
        if signals.has(t):
            con.execute(f"COPY {t} TO '{out / (t + '.parquet')}' (FORMAT parquet)")
    return csv, out


def test_a_typed_parquet_package_loads_as_its_csv_twin(tmp_path: Path) -> None:
    """Typed first (Parquet) and judged first (CSV) make the same tables."""
    csv, parquet = _typed_parquet(tmp_path)
    kinds = dict(r[:2] for r in duckdb.sql(f"DESCRIBE FROM '{parquet / 'tickets.parquet'}'"
                                           ).fetchall())
    assert kinds["opened_at"] == "TIMESTAMP"
    one, two = load_package(csv).signals, load_package(parquet).signals
    tables = [t for t in TABLES if one.has(t)]
    assert len(tables) >= 3 and tables == [t for t in TABLES if two.has(t)]
    for table in tables:
        q = f"SELECT * FROM {table} ORDER BY ALL"
        assert one.connection.execute(q).fetchall() == two.connection.execute(q).fetchall(), table
    names = {r[0] for r in two.connection.execute("SELECT table_name FROM duckdb_tables()"
                                                  ).fetchall()}
    assert not [n for n in names if n.startswith("_new_")]


def test_a_bad_typed_parquet_file_leaves_no_table_behind(tmp_path: Path) -> None:
    _, pkg = _typed_parquet(tmp_path, "UPDATE tickets SET satisfaction = -1 WHERE rowid = 2")
    con = duckdb.connect()
    file = pkg / "tickets.parquet"
    refs = {kind: [r[0] for r in con.execute(f"SELECT DISTINCT {col} FROM '{file}'").fetchall()]
            for kind, col in (("service", "service"), ("group", "requester_group"))}
    problems = sql.load_table(con, "tickets", file, TABLES["tickets"], refs, "tickets.parquet",
                              partial(keys_of, "tickets"))
    assert [(p.row, p.field) for p in problems] == [(3, "satisfaction")]
    assert con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary"
                       ).fetchall() == []


def test_a_typed_parquet_file_names_its_repeated_keys(tmp_path: Path) -> None:
    """The typed-first load screens keys on the table it made (not the file): repeats of a
    single key and of a composite one are named, a survey without a respondent repeats
    nothing, and the tables kept have the files' columns (nothing of the screen's)."""
    _, pkg = _typed_parquet(tmp_path, "UPDATE tickets SET id = (SELECT min(id) FROM tickets) "
                                      "WHERE rowid = 4; INSERT INTO usage SELECT * FROM usage "
                                      "WHERE rowid = 1; UPDATE surveys SET respondent = NULL")
    repeat = "the key ({}) is on more than one row of this file"
    found = [_where(p) for p in validate(pkg)]
    con = duckdb.connect()
    tickets, usage = pkg / "tickets.parquet", pkg / "usage.parquet"
    first = con.execute(f"SELECT min(file_row_number) + 1 FROM read_parquet('{tickets}', "
                        f"file_row_number = true) WHERE id = (SELECT min(id) FROM '{tickets}')"
                        ).fetchall()[0][0]
    n = con.execute(f"SELECT count(*) FROM '{usage}'").fetchall()[0][0]
    assert found == [("tickets.parquet", first, "id", repeat.format("id")),
                     ("tickets.parquet", 5, "id", repeat.format("id")),
                     ("usage.parquet", 2, "date", repeat.format("date, service")),
                     ("usage.parquet", n, "date", repeat.format("date, service"))]
    _, clean = _typed_parquet(tmp_path / "clean")
    signals = load_package(clean).signals
    for table in ("tickets", "usage"):
        assert signals.columns(table) == tuple(
            r[0] for r in con.execute(f"DESCRIBE FROM '{clean / (table + '.parquet')}'"
                                      ).fetchall())

