"""The check's hot scans read the ENUM-coded columns as stored (``Signals.frame(coded=True)``):
they filter with equalities (``one_of``) and give their keys back as text after aggregating
(``as_text``), so what they return is what the text view gave, whether the table was stored
coded or plain."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import narwhals as nw
import pytest

from dipstick.check import run_check
from dipstick.engine import Signals, arrays, as_text, collect, one_of, sql
from dipstick.package import load_package, reference_ids
from dipstick.package.tables import TABLES, keys_of

from builder import AS_OF, PackageBuilder, typed_parquet

CHANGE = AS_OF - timedelta(days=60)


def _package(root: Path, fmt: str = "csv") -> Path:
    b = PackageBuilder(root).healthy("crm").service("erp").usage("erp", users=40)
    for sid in ("crm", "erp"):
        b.tickets(sid, kind="request", per_week=3, group=None, prefix=f"{sid}R")
        b.tickets(sid, kind="question", per_week=2, group="shoppers", prefix=f"{sid}Q")
        b.tickets(sid, per_week=4, satisfaction=5, start_day=CHANGE, prefix=f"{sid}A")
    b.rows("changes", [{"id": f"CH{i}", "service": sid, "date": CHANGE.isoformat(),
                        "kind": "release", "success": True, "communicated": True}
                       for i, sid in enumerate(("crm", "erp"))])
    pkg = b.write("csv")
    return typed_parquet(pkg) if fmt == "parquet" else pkg   # the typed-first load


def _signals(pkg: Path, coded: bool) -> Signals:
    """Every table of ``pkg`` loaded coded or plain (a plain table is what a value outside
    its set leaves, and what the surveys always are)."""
    con = sql.connect()
    refs = reference_ids(load_package(pkg).model)
    names = {}
    for f in sorted(pkg.glob("*.csv")) + sorted(pkg.glob("*.parquet")):
        table = f.stem
        assert sql.load_table(con, table, f, TABLES[table], refs, f.name,
                              partial(keys_of, table), coded=coded) == []
        names[table] = table
    return Signals(con, names)


def _grouped(lf: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    return (lf.filter(one_of("type", ["incident", "request"]))
            .group_by("service", "requester_group")
            .agg(n=nw.len(), lost=nw.col("lost_minutes").cast(nw.Float64).sum()))


def _sorted(got: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted(zip(*(got[k].tolist() for k in sorted(got)), strict=True),
                  key=lambda r: tuple(str(x) for x in r))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_coded_read_gives_the_views_keys_as_text(tmp_path: Path, fmt: str) -> None:
    """Grouped on the ENUMs, cast after: the same rows, ``str`` keys and None for a missing
    group (an ENUM fetched as it is gives NaN there), coded or plain table alike."""
    pkg = _package(tmp_path, fmt)
    coded, plain = _signals(pkg, coded=True), _signals(pkg, coded=False)
    stored = coded.frame("tickets", coded=True).to_native()
    assert isinstance(stored, duckdb.DuckDBPyRelation)
    assert {n for n, t in zip(stored.columns, stored.types, strict=True)
            if str(t).startswith("ENUM")} == {"service", "type", "requester_group"}
    want = _sorted(arrays(_grouped(coded.frame("tickets"))))
    assert any(r[2] is None for r in want) and len(want) == 4
    for signals in (coded, plain):
        got = arrays(as_text(_grouped(signals.frame("tickets", coded=True)),
                             "service", "requester_group"))
        assert _sorted(got) == want
        assert all(type(v) is str for v in got["service"].tolist())
        rows = collect(as_text(_grouped(signals.frame("tickets", coded=True)), "service"))
        assert sorted((r["service"], str(r["requester_group"]), r["n"]) for r in rows) == \
            sorted((r[3], str(r[2]), r[1]) for r in want)


def test_a_coded_read_keeps_a_restriction(tmp_path: Path) -> None:
    """A thin baseline left out (``Signals.restrict``) is left out of a coded read too."""
    signals = _signals(_package(tmp_path), coded=True)
    signals.restrict("tickets", "opened_at", datetime.combine(CHANGE, datetime.min.time()))
    counts = [collect(signals.frame("tickets", coded=c).select(nw.len()))[0]["len"]
              for c in (False, True)]
    assert counts[0] == counts[1] > 0
    assert counts[0] < collect(_signals(_package(tmp_path / "all"), coded=True)
                               .frame("tickets").select(nw.len()))[0]["len"]


@pytest.mark.parametrize("values", [["incident"], ["incident", "question"], ["nope"], []])
def test_one_of_is_is_in(values: list[str]) -> None:
    """On an ENUM and on text, with a value outside the ENUM and none at all; a null row is
    never kept by a filter."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t (k ENUM('incident', 'question', 'request'), s VARCHAR)")
    con.execute("INSERT INTO t VALUES ('incident', 'incident'), ('question', 'question'), "
                "('request', 'request'), (NULL, NULL)")
    lf = nw.from_native(con.table("t"))
    for col in ("k", "s"):
        got = collect(as_text(lf.filter(one_of(col, values)), col))
        want = collect(as_text(lf.filter(nw.col(col).is_in(values)), col))
        assert [r[col] for r in got] == [r[col] for r in want] == [v for v in (
            "incident", "question", "request") if v in values]


def test_a_check_of_a_coded_package_equals_one_of_plain_tables(tmp_path: Path) -> None:
    """The readers that opt in (the weekly series of tickets and usage, the ticket facts
    and resolution by type) see what the text view saw."""
    pkg = _package(tmp_path)
    coded = load_package(pkg)
    plain = load_package(pkg)
    plain.signals.close()
    plain.signals = _signals(pkg, coded=False)
    a, b = run_check(coded).to_json(), run_check(plain).to_json()
    assert a == b
    assert date.fromisoformat(str(a["as_of"])) == AS_OF
