"""The loader's count of references and choices on a typed Parquet file's distinct values
(``engine.sql.count_by_value``): the same problems, and the same counts of "more rows like
the ones above", as the row-by-row count of the same rows in a CSV."""

from __future__ import annotations

from pathlib import Path

import duckdb

from dipstick.errors import Problem
from dipstick.package import validate

from builder import PackageBuilder, typed_parquet


def _bad(root: Path) -> PackageBuilder:
    """Many more wrong references and choices than the loader lists one by one (20), spread
    over values that repeat, so a count per distinct value that is wrong shows."""
    b = PackageBuilder(root).healthy().journey()
    t = b.tables["tickets"]
    for i, r in enumerate(t[:90]):
        if i % 3 == 0:
            r["service"] = f"ghost{i % 2}"               # 30 rows, 2 unknown services
        if i % 4 == 1:
            r["type"] = "complaint"                      # 23 rows, a wrong choice
        if i % 5 == 2:
            r["requester_group"] = "nobody"              # 18 rows, an unknown group
    s = b.tables["surveys"]
    for r in s[:24]:
        r["dimension"] = "speed"                         # 24 rows, not a dimension of staff
    b.touchpoint_rows("buy", "checkout", [(b.as_of, 8, 10, 1)] * 3)
    b.touchpoint_rows("buy", "basket", [(b.as_of, 8, 10, 1)] * 2)   # not of that journey
    return b


def _typed_parquet(root: Path) -> None:
    """:func:`builder.typed_parquet`, its types checked: dates as timestamps, numbers as
    numbers."""
    typed_parquet(root)
    con = duckdb.connect()
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM '{root / 'tickets.parquet'}'"
                                ).fetchall()
    finally:
        con.close()
    types = {r[0]: r[1] for r in described}
    assert types["opened_at"].startswith("TIMESTAMP") and types["satisfaction"] != "VARCHAR"


def _seen(problems: list[Problem]) -> list[tuple[object, ...]]:
    return sorted((Path(p.file).stem, p.row or 0, p.field, p.message, str(p.value))
                  for p in problems)


def test_references_and_choices_of_a_typed_parquet_file_count_as_a_csv_does(
        tmp_path: Path) -> None:
    csv = _bad(tmp_path / "csv").write("csv")
    parquet = _bad(tmp_path / "parquet").write("csv")
    _typed_parquet(parquet)
    on_csv, on_parquet = validate(csv), validate(parquet)
    assert _seen(on_parquet) == _seen(on_csv)
    more = {(p.field, p.message) for p in on_parquet if p.row is None}
    assert more == {
        ("service", "unknown service id (not in dipstick.yaml): 10 more rows like the ones "
                    "above"),
        ("type", "must be one of incident, request, question: 3 more rows like the ones "
                 "above"),
        ("dimension", "unknown dimension of that group in dipstick.yaml: 4 more rows like "
                      "the ones above")}
    named = [(p.file, p.field) for p in on_parquet if p.row is not None]
    assert named.count(("tickets.parquet", "requester_group")) == 18
    assert named.count(("touchpoints.parquet", "touchpoint")) == 2


def test_a_table_of_no_rows_loads_as_csv_and_as_typed_parquet(tmp_path: Path) -> None:
    """Was a traceback (found by tests/test_fuzz.py): ``count_if`` of no rows is NULL, not 0."""
    for fmt in ("csv", "parquet"):
        root = PackageBuilder(tmp_path / fmt).healthy().write("csv")
        if fmt == "parquet":
            _typed_parquet(root)
        f = root / f"tickets.{fmt}"
        con = duckdb.connect()
        try:
            con.execute(f"COPY (SELECT * FROM '{f}' LIMIT 0) TO '{root / 'none'}' "
                        f"(FORMAT {fmt})").fetchall()
        finally:
            con.close()
        (root / "none").replace(f)
        assert validate(root) == [], fmt
