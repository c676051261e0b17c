"""The training cause's how-to tickets per service and window, grouped on the tickets' stored
ENUM codes (``training._questions``), against the query of the text view it replaced: the same
rows, on a coded package and on plain tables."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import narwhals as nw
import pytest

from dipstick.engine import collect
from dipstick.findings import CheckContext, CommonSpec, Window
from dipstick.indicators import training
from dipstick.indicators.registry import split_settings
from dipstick.indicators.tickets import windowed
from dipstick.package import load_package

from builder import AS_OF, PackageBuilder, plain_signals


def _package(root: Path) -> Path:
    b = PackageBuilder(root)
    for i, sid in enumerate(("a", "b", "c")):      # each its own counts and lost minutes
        b.service(sid)
        b.tickets(sid, kind="question", per_week=i + 1, lost_minutes=10 * (i + 1),
                  since_days=200 + 100 * i, prefix=f"{sid}Q")
        b.tickets(sid, per_week=5 - i, lost_minutes=99, prefix=f"{sid}I")   # not questions
    b.tickets("c", kind="question", per_week=1, lost_minutes=7, group="shoppers",
              end_day=AS_OF - timedelta(days=150), prefix="cS")   # in the baseline only
    return b.write("csv")


def _view(ctx: CheckContext) -> list[dict[str, Any]]:
    """The query before: the text view, filtered and grouped on text."""
    q = ctx.signals.frame("tickets").filter(nw.col("type") == "question")
    return collect(windowed(q, "opened_at", ctx).group_by("service", "_window")
                   .agg(n=nw.len(), lost=nw.col("lost_minutes").cast(nw.Float64).mean()))


@pytest.mark.parametrize("coded", [True, False])
def test_questions_on_codes_are_the_views(tmp_path: Path, coded: bool) -> None:
    root = _package(tmp_path)
    pkg = load_package(root)
    spec = split_settings(pkg.model.settings, CommonSpec)
    signals = pkg.signals if coded else plain_signals(root)
    ctx = CheckContext(pkg.model, signals, Window(AS_OF, spec.window_days, spec.baseline_days),
                       spec)

    def key(r: dict[str, Any]) -> tuple[str, str]:
        return str(r["service"]), str(r["_window"])

    got, want = sorted(training._questions(ctx), key=key), sorted(_view(ctx), key=key)
    assert got == want
    assert {r["service"] for r in got} == {"a", "b", "c"}
    assert len({(r["n"], r["lost"]) for r in got}) == len(got)   # no two groups alike
