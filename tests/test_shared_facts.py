"""The indicators' shared aggregates (issue 16): one scan grouped by window gives what one
query per window gave, on the demo organisation and real DuckDB."""

from __future__ import annotations

import math
import random
import statistics
from datetime import datetime
from typing import Any

import narwhals as nw
import numpy as np
import pytest

from dipstick.engine import between, collect, hours_between, keyed
from dipstick.findings import CheckContext
from dipstick.indicators import change, retirement, training
from dipstick.indicators.common import groups_of_kind
from dipstick.indicators.registry import split_settings
from dipstick.indicators.tickets import (
    BASELINE,
    CURRENT,
    CUSTOMER,
    INTERNAL,
    internal_resolution,
    ticket_facts,
)
from dipstick.shifts.series import week_index


def _close(a: dict[Any, dict[str, Any]], b: dict[Any, dict[str, Any]]) -> None:
    """Equal row for row; floats to 1e-9 relative (a standard deviation's last bits follow
    the engine's partial sums, as between two runs)."""
    assert a.keys() == b.keys() and a
    for k, row in a.items():
        assert row.keys() == b[k].keys()
        for f, x in row.items():
            y = b[k][f]
            if isinstance(x, float) and isinstance(y, float):
                assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12), (k, f, x, y)
            else:
                assert x == y, (k, f, x, y)


def _per_window(lf: nw.LazyFrame[Any], start: datetime, end: datetime) -> dict[str, Any]:
    """The ticket facts as one query per window computed them before they were shared."""
    agg = (lf.filter(between("opened_at", start, end))
           .with_columns(resolution_h=hours_between("opened_at", "resolved_at"),
                         was_reopened=nw.when(nw.col("reopened").cast(nw.Float64) >= 1)
                         .then(1.0).otherwise(0.0))
           .group_by("service")
           .agg(n=nw.len(), rated=nw.col("satisfaction").count(),
                satisfaction=nw.col("satisfaction").cast(nw.Float64).mean(),
                satisfaction_sd=nw.col("satisfaction").cast(nw.Float64).std(),
                lost_hours=nw.col("lost_minutes").cast(nw.Float64).sum() / 60.0,
                lost_n=nw.col("lost_minutes").count(),
                lost_mean=nw.col("lost_minutes").cast(nw.Float64).mean(),
                lost_sd=nw.col("lost_minutes").cast(nw.Float64).std(),
                resolution_h=nw.col("resolution_h").median(),
                reopened=nw.col("was_reopened").sum(),
                reopen_share=nw.col("was_reopened").mean(),
                assigned=nw.col("reassignments").count(),
                reassignments=nw.col("reassignments").cast(nw.Float64).mean(),
                reassignments_sd=nw.col("reassignments").cast(nw.Float64).std()))
    return keyed(collect(agg), "service")


def test_shared_ticket_facts_equal_one_query_per_window(ctx: CheckContext) -> None:
    tickets = ctx.signals.frame("tickets")
    group = nw.col("requester_group")
    internal = tickets.filter(nw.col("type").is_in(["incident", "request"]) & (
        group.is_null() | group.is_in(groups_of_kind(ctx, "internal"))))
    customers = tickets.filter(group.is_in(groups_of_kind(ctx, "customer")))
    w = ctx.window
    _close(ticket_facts(ctx, INTERNAL, CURRENT), _per_window(internal, w.start, w.end))
    _close(ticket_facts(ctx, INTERNAL, BASELINE),
           _per_window(internal, w.baseline_start, w.start))
    _close(ticket_facts(ctx, CUSTOMER, CURRENT), _per_window(customers, w.start, w.end))
    for window, (start, end) in ((CURRENT, (w.start, w.end)),
                                 (BASELINE, (w.baseline_start, w.start))):
        agg = (internal.filter(between("opened_at", start, end)
                               & ~nw.col("resolved_at").is_null())
               .with_columns(h=hours_between("opened_at", "resolved_at"))
               .with_columns(log_h=(nw.col("h").clip(lower_bound=0.0) + 1.0).log())
               .group_by("service", "type").agg(n=nw.len(), median=nw.col("h").median(),
                                                 log_mean=nw.col("log_h").mean(),
                                                 log_sd=nw.col("log_h").std()))
        _close(internal_resolution(ctx, window), keyed(collect(agg), "service", "type"))


def test_training_reads_both_windows_in_one_scan_each(ctx: CheckContext) -> None:
    m = training.measure(ctx, split_settings(ctx.model.settings, training.TrainingSpec))
    w = ctx.window
    q = ctx.signals.frame("tickets").filter(nw.col("type") == "question")
    for got, (start, end) in ((m.questions, (w.start, w.end)),
                              (m.baseline_questions, (w.baseline_start, w.start))):
        _close(got, keyed(collect(q.filter(between("opened_at", start, end))
                                  .group_by("service")
                                  .agg(n=nw.len(),
                                       lost=nw.col("lost_minutes").cast(nw.Float64).mean())),
                          "service"))
    for got, (start, end) in ((m.completion, (w.start, w.end)),
                              (m.baseline_completion, (w.baseline_start, w.start))):
        latest = (ctx.signals.frame("training").filter(between("date", start, end))
                  .with_columns(last=nw.col("date").max().over("service", "group"))
                  .filter(nw.col("date") == nw.col("last")).group_by("service")
                  .agg(completed=nw.col("completed").cast(nw.Float64).sum(),
                       required=nw.col("required").cast(nw.Float64).sum()))
        _close(got, keyed(collect(latest), "service"))


def test_the_year_before_each_change_equals_its_weeks_summed(ctx: CheckContext) -> None:
    """The per-change sums (added up from the series' weekly sums) against the weekly counts
    summed change by change."""
    spec = split_settings(ctx.model.settings, change.ChangeSpec)
    m = change.measure(ctx, spec)
    assert m is not None
    weekly: dict[str, dict[int, tuple[float, float]]] = {}
    for r in collect(ctx.signals.frame("tickets").with_columns(week=week_index("opened_at"))
                     .group_by("service", "week")
                     .agg(i=(nw.col("type") == "incident").cast(nw.Float64).sum(),
                          q=(nw.col("type") == "question").cast(nw.Float64).sum())):
        weekly.setdefault(r["service"], {})[int(r["week"])] = (r["i"], r["q"])
    users: dict[str, dict[int, tuple[float, int]]] = {}
    for r in collect(ctx.signals.frame("usage").with_columns(week=week_index("date"))
                     .group_by("service", "week")
                     .agg(u=nw.col("active_users").cast(nw.Float64).sum(), d=nw.len())):
        users.setdefault(r["service"], {})[int(r["week"])] = (r["u"], r["d"])
    checked = 0
    for service, cs in m.changes.items():
        for c in cs:
            wk = (c["date"].date() - datetime(1970, 1, 5).date()).days // 7
            weeks = [k for k in weekly.get(service, {}) if wk - 52 <= k < wk]
            got = m.effects.get((c["id"], "year"))
            if not weeks:
                assert got is None
                continue
            tw, uw = weekly[service], users.get(service, {})
            days = sum(uw[k][1] for k in uw if wk - 52 <= k < wk)
            assert got == {
                "incidents": sum(tw[k][0] for k in weeks),
                "questions": sum(tw[k][1] for k in weeks),
                "first": -7.0 * (wk - min(weeks)),
                "users": sum(uw[k][0] for k in uw if wk - 52 <= k < wk) / days if days
                else None}
            checked += 1
    assert checked > 10


@pytest.mark.parametrize("seed", range(20))
def test_numpy_median_is_statistics_median(seed: int) -> None:
    rng = random.Random(seed)
    xs = [rng.lognormvariate(0, 2) * rng.choice((1, -1)) for _ in range(rng.randint(1, 60))]
    xs += xs[: rng.randint(0, 3)]            # ties
    assert retirement._median(np.array(xs)) == statistics.median(xs)



def test_perception_scores_do_not_follow_the_order_the_engine_returns_dimensions_in(
        ctx: CheckContext) -> None:
    """A group's weighted score sums over its dimensions; summed in the order the engine's
    threads returned them, its last bits differed between DuckDB and Spark and a drop of
    exactly 0.00625 rounded both ways (issue 18's 10 M run). Means with no exact binary form
    make the order show."""
    from dipstick.indicators import perception

    spec = split_settings(ctx.model.settings, perception.PerceptionSpec)
    m = perception.measure(ctx, spec)
    assert m is not None
    (_service, group), dims = next((k, v) for k, v in m.current.items() if len(v) >= 3)
    odd = {d: {**r, "mean": 0.1 * (i + 1) + 1e-3 / 3} for i, (d, r) in enumerate(dims.items())}
    backwards = dict(reversed(list(odd.items())))
    assert list(backwards) != list(odd)
    assert perception.weighted_score(ctx, group, odd) == perception.weighted_score(
        ctx, group, backwards)
    one, other = (perception.score_test(ctx, group, d, 0.0, base_dims=d) for d in (odd,
                                                                                   backwards))
    assert one == other


def test_perception_reads_both_windows_in_one_scan_each(ctx: CheckContext) -> None:
    """Session 15: the answers per dimension and per respondent come from one query over both
    windows each; every aggregate is an exact integer sum or a count, so the measures are the
    very values one query per window gave — equal, not close."""
    from dipstick.indicators import perception
    from dipstick.indicators.moments import mean_sd, sums

    spec = split_settings(ctx.model.settings, perception.PerceptionSpec)
    m = perception.measure(ctx, spec)
    assert m is not None
    lf = ctx.signals.frame("surveys").with_columns(nw.col("score").cast(nw.Float64))
    w = ctx.window

    def by_dimension(start: datetime, end: datetime) -> dict[tuple[str, str], dict[str, Any]]:
        agg = (lf.filter(between("date", start, end))
               .with_columns(promoter=nw.when(nw.col("score") >= 9).then(1).otherwise(0),
                             detractor=nw.when(nw.col("score") <= 6).then(1).otherwise(0))
               .group_by("service", "group", "dimension")
               .agg(*sums("score", "score"), n=nw.len(),
                    promoters=nw.col("promoter").sum(), detractors=nw.col("detractor").sum()))
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for r in collect(agg):
            r["mean"], r["sd"] = mean_sd(r, "score", int(r["n"]))
            out.setdefault((r["service"], r["group"]), {})[r["dimension"]] = r
        return out

    def by_person(start: datetime, end: datetime) -> dict[tuple[str, str], tuple[int, float]]:
        agg = (lf.filter(between("date", start, end) & ~nw.col("respondent").is_null())
               .group_by("service", "group", "respondent").agg(m=nw.col("score").mean())
               .group_by("service", "group").agg(*sums("m", "m"), n=nw.len()))
        return {(r["service"], r["group"]): (int(r["n"]), mean_sd(r, "m", int(r["n"]))[1] or 0.0)
                for r in collect(agg)}

    assert m.current == by_dimension(w.start, w.end) and m.current
    assert m.baseline == by_dimension(w.baseline_start, w.start) and m.baseline
    assert "respondent" in lf.collect_schema().names()
    assert m.people == by_person(w.start, w.end) and m.people
    assert m.base_people == by_person(w.baseline_start, w.start) and m.base_people
