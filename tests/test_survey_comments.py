"""The comments a service page shows are the same on every check of the same data.

Several answers can share a day, a group and a dimension; ordered by those alone, DuckDB hands
them back in whatever order its threads finish, so a re-check (or the context stored with a
run) showed other comments, in another order, than the page before it (CI, 2026-12-06).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from dipstick.findings import CheckContext, CommonSpec, Window
from dipstick.package import load_package
from dipstick.surveys import COMMENTS_PER_SERVICE, service_surveys

from builder import PackageBuilder


def comments_of(root: Path, rows: list[dict[str, object]]) -> list[tuple[object, ...]]:
    b = PackageBuilder(root).service("crm").usage("crm").rows("surveys", rows)
    package = load_package(b.write())
    try:
        ctx = CheckContext(package.model, package.signals, Window(b.as_of), CommonSpec())
        found = service_surveys(ctx)["crm"].comments
    finally:
        package.close()
    return [(c.date, c.group, c.dimension, c.score, c.text) for c in found]


def test_tied_comments_come_back_in_one_order_whatever_the_rows_order(tmp_path: Path) -> None:
    day = PackageBuilder(tmp_path / "probe").as_of - timedelta(days=10)
    rows: list[dict[str, object]] = [
        {"date": day.isoformat(), "service": "crm", "group": "staff", "dimension": "ease",
         "score": float(n % 7), "respondent": f"r{n}", "comment": f"comment {n:03d}"}
        for n in range(3 * COMMENTS_PER_SERVICE)]
    forward = comments_of(tmp_path / "forward", rows)
    backward = comments_of(tmp_path / "backward", rows[::-1])
    assert len(forward) == COMMENTS_PER_SERVICE
    assert forward == backward
    # newest first, then by score and text: the lowest scores of the day
    assert forward == sorted(forward, key=lambda c: (c[3], c[4]))
    assert [c[3] for c in forward][:3] == [0.0, 0.0, 0.0]
