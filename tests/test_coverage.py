"""Coverage, stated (issue 14, item 2): the default as-of date stops where an export thins
out, each check says what it judged per table and per cause, a thin baseline is not compared
with and a thin window is not judged; on hand-made packages and the real ServiceNow log."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from dipstick.check import run_check
from dipstick.package import load_package

from builder import PackageBuilder
from clirun import dipstick
from realdata import SERVICENOW_LOG, require

END = date(2026, 6, 28)   # a Sunday: the last complete week of the exports below


def _truncated(root: Path) -> Path:
    """A year of 80 tickets a week for two services, then a tail of four weeks where only a
    few late tickets remain (what an export cut at a row limit looks like)."""
    b = PackageBuilder(root, as_of=END)
    del b.model["organisation"]["as_of"]
    for sid in ("crm", "mail"):
        b.service(sid).tickets(sid, per_week=40, since_days=150, resolve_hours=8)
        b.tickets(sid, per_week=1, start_day=END + timedelta(days=1),
                  end_day=END + timedelta(days=28), resolve_hours=500, prefix="late")
    return b.write()


def check_json(pkg: Path, *args: str) -> dict[str, Any]:
    ran = dipstick("check", pkg, "--no-store", "--format", "json", *args)
    assert ran.returncode in (0, 1), ran.stderr
    return dict(json.loads(ran.stdout))


def test_the_default_as_of_date_is_the_last_complete_week(tmp_path: Path) -> None:
    pkg = _truncated(tmp_path / "pkg")
    result = check_json(pkg)
    assert result["as_of"] == END.isoformat()
    reason = result["as_of_reason"]
    assert reason.startswith("the last complete week: after it the tickets thin out to 8 rows "
                             "in 4 week(s) up to 2026-07-20")
    assert "--as-of" in reason
    # the sparse tail is not judged: its 500-hour tickets are outside the window
    tickets = next(c for c in result["coverage"] if c["table"] == "tickets")
    assert tickets["window"]["last"] == END.isoformat()
    assert tickets["window_weeks_complete"][0] >= 13 and tickets["thin_window"] is None
    # the table shows the date and why
    ran = dipstick("check", pkg, "--no-store")
    assert "as of 2026-06-28" in ran.stdout and "the last complete week" in ran.stdout
    # a date given is used as given, and said so
    given = check_json(pkg, "--as-of", "2026-07-26")
    assert (given["as_of"], given["as_of_reason"]) == ("2026-07-26", "given with --as-of")


def test_an_export_without_a_tail_keeps_its_last_date(tmp_path: Path) -> None:
    b = PackageBuilder(tmp_path / "pkg", as_of=date(2026, 7, 1))   # a Wednesday
    del b.model["organisation"]["as_of"]
    b.service("crm").tickets("crm", per_week=30, since_days=300)
    result = check_json(b.write())
    # the last week holds three days of tickets: scaled to seven it is a usual week
    assert (result["as_of"], result["as_of_reason"]) == ("2026-07-01",
                                                         "the last date in the data")


def test_each_finding_states_what_it_judged(tmp_path: Path) -> None:
    b = PackageBuilder(tmp_path / "pkg")
    b.healthy("crm")
    pkg = b.write()
    result = check_json(pkg)
    assert result["as_of_reason"] == "organisation.as_of in dipstick.yaml"
    crm = result["services"][0]
    emx = crm["causes"]["employee_experience"]["coverage"]
    assert [c["table"] for c in emx] == ["tickets"]
    window, baseline = emx[0]["window"], emx[0]["baseline"]
    # 5 tickets a week, 13 weeks in the window, 52 in the baseline (the builder's pattern)
    assert 60 <= window["rows"] <= 70 and 255 <= baseline["rows"] <= 265
    assert window["last"] <= "2026-11-01" and baseline["last"] < window["first"]
    tables = {c["table"] for c in result["coverage"]}
    assert {"tickets", "usage", "surveys", "kpis"} <= tables
    assert all(c["thin_baseline"] is None and c["thin_window"] is None
               for c in result["coverage"])


def test_a_thin_baseline_is_not_compared_with(tmp_path: Path) -> None:
    """Tickets that start two days before the window: no baseline, said, and resolution
    growth is unknown, not a ratio against two days."""
    b = PackageBuilder(tmp_path / "pkg")
    start = b.as_of - timedelta(days=90 + 2)   # two days before the window
    b.service("crm").usage("crm")
    b.tickets("crm", per_week=30, start_day=start, end_day=start + timedelta(days=1),
              resolve_hours=2, prefix="early")
    b.tickets("crm", per_week=30, start_day=start + timedelta(days=2), resolve_hours=40)
    result = check_json(b.write())
    tickets = next(c for c in result["coverage"] if c["table"] == "tickets")
    assert tickets["baseline"]["rows"] > 0
    assert tickets["thin_baseline"].startswith("no baseline: tickets complete in ")
    assert tickets["baseline_weeks_complete"][0] <= 1
    emx = result["services"][0]["causes"]["employee_experience"]
    growth = next(e for e in emx["evidence"] if e["metric"] == "resolution_growth")
    assert growth["status"] == "unknown" and growth["value"] is None
    assert growth["note"].endswith("no baseline to compare with")
    assert emx["coverage"][0]["baseline"]["rows"] == 0   # left out of the check


def test_a_thin_window_is_not_a_verdict(tmp_path: Path) -> None:
    """Tickets ended long before the date asked for: the causes that read them are unknown,
    with the reason, whatever the few tickets in the window say."""
    b = PackageBuilder(tmp_path / "pkg")
    b.service("crm").usage("crm")
    b.tickets("crm", per_week=30, since_days=400, end_day=b.as_of - timedelta(days=80))
    b.tickets("crm", per_week=2, start_day=b.as_of - timedelta(days=79), reassignments=9,
              prefix="few")
    result = check_json(b.write())
    tickets = next(c for c in result["coverage"] if c["table"] == "tickets")
    assert tickets["thin_window"].startswith("the window is too thin: tickets complete in ")
    assert tickets["window_weeks_complete"][0] <= 2
    emx = result["services"][0]["causes"]["employee_experience"]
    assert emx["status"] == "unknown" and emx["summary"] == tickets["thin_window"]
    assert emx["leak_per_month"]["money"] == 0


def test_a_model_without_outcomes_is_a_gap_not_amber(tmp_path: Path) -> None:
    b = PackageBuilder(tmp_path / "pkg")
    b.model["outcomes"] = []
    b.service("crm", supports=[]).usage("crm").tickets("crm")
    crm = check_json(b.write())["services"][0]["causes"]
    assert crm["alignment"]["status"] == "unknown"
    assert "names no outcomes yet" in crm["alignment"]["summary"]
    live = next(e for e in crm["retirement"]["evidence"] if e["metric"] == "live_outcomes")
    assert live["status"] == "unknown"


def test_the_real_log_states_its_coverage(tmp_path: Path) -> None:
    log = require(SERVICENOW_LOG)
    pkg = tmp_path / "pkg"
    ran = dipstick("import", "tickets", log, "--preset", "servicenow", "--starter-services",
                   "--into", pkg)
    assert ran.returncode == 0, ran.stderr
    result = check_json(pkg)
    assert (result["as_of"], result["as_of_reason"]) == ("2016-05-13",
                                                         "the last date in the data")
    tickets = result["coverage"][0]
    assert tickets["table"] == "tickets" and tickets["window"]["rows"] == 20769
    assert tickets["baseline"]["rows"] == 0 and tickets["thin_baseline"]
    # no verdict rests on a missing model part: every watch or leak is measured evidence
    for s in result["services"]:
        for cause, f in s["causes"].items():
            if f["status"] in ("watch", "leak"):
                assert cause == "employee_experience", (s["id"], cause, f["summary"])
            for e in f["evidence"]:
                assert "over 0 tickets" not in (e["note"] or "")
    judged = [c for s in result["services"]
              for c in s["causes"]["employee_experience"]["coverage"]]
    assert sum(c["window"]["rows"] for c in judged) == 20769
    # its leaks (reassignments) have no lost time to price: said, not "0 h × 60 EUR/h"
    leaking = [s for s in result["services"] if s["status"] == "leak"]
    assert leaking and all(s["leak_per_month"]["money"] == 0 and
                           s["leak_per_month"]["formula"].startswith("not priced")
                           for s in leaking)
    table = dipstick("check", pkg, "--no-store").stdout
    plural = "" if len(leaking) == 1 else "s"   # never "service(s)" (issue 15)
    assert f"{len(leaking)} leaking service{plural} not priced" in table
    assert "no baseline: tickets complete in 0 of its 52 weeks" in table


@pytest.mark.parametrize("weekday", range(7))
def test_a_partial_last_week_is_scaled_not_dropped(tmp_path: Path, weekday: int) -> None:
    last = date(2026, 6, 29) + timedelta(days=weekday)   # Monday .. Sunday
    b = PackageBuilder(tmp_path / "pkg", as_of=last)
    del b.model["organisation"]["as_of"]
    b.service("crm").tickets("crm", per_week=28, since_days=200)
    package = load_package(b.write())
    try:
        result = run_check(package)
    finally:
        package.close()
    assert result.as_of == last and result.as_of_reason == "the last date in the data"


def test_the_report_states_the_date_and_the_coverage(tmp_path: Path) -> None:
    from dipstick.report import render_report

    package = load_package(_truncated(tmp_path / "pkg"))
    try:
        result = run_check(package)
    finally:
        package.close()
    html = render_report(result)
    assert "What this check judged" in html and "(the last complete week: after it" in html
    assert "Judged on tickets: window" in html


def test_later_data_in_another_table_is_not_a_tail(tmp_path: Path) -> None:
    """A pulse check answered after the last ticket: the tickets end, they do not thin out."""
    b = PackageBuilder(tmp_path / "pkg", as_of=date(2026, 7, 1))
    del b.model["organisation"]["as_of"]
    b.service("crm").tickets("crm", per_week=30, since_days=300)
    b.surveys("crm", on=[date(2026, 8, 15)])
    result = check_json(b.write())
    assert (result["as_of"], result["as_of_reason"]) == ("2026-08-15",
                                                         "the last date in the data")


def test_the_real_log_cut_short_is_judged_before_its_tail(tmp_path: Path) -> None:
    """The shared log with the tail a row-limited export of a longer history has (the full UCI
    log's last incidents: a few a week for months): the check stops where the log is whole,
    says why, and judges the 20,769 tickets before the tail, not the tail."""
    import csv
    import gzip
    import random
    from datetime import datetime

    log = require(SERVICENOW_LOG)
    with gzip.open(log, "rt", newline="") as f:
        rows = list(csv.reader(f))
    header, last = rows[0], rows[-1]
    at = {c: header.index(c) for c in header}
    rng = random.Random(1)
    tail = []
    for k in range(200):   # 200 incidents over 40 weeks after the log's last week
        opened = datetime(2016, 5, 16) + timedelta(days=rng.randint(0, 280),
                                                   hours=rng.randint(0, 23))
        done = opened + timedelta(hours=rng.randint(1, 200))
        r = list(last)
        r[at["number"]], r[at["sys_mod_count"]] = f"INC9{k:06d}", "0"
        r[at["opened_at"]] = f"{opened.day}/{opened.month}/{opened.year} {opened.hour:02d}:00"
        for c in ("resolved_at", "closed_at", "sys_updated_at", "sys_created_at"):
            r[at[c]] = f"{done.day}/{done.month}/{done.year} {done.hour:02d}:00"
        tail.append(r)
    export = tmp_path / "incidents.csv.gz"
    with gzip.open(export, "wt", newline="") as f:
        csv.writer(f).writerows([*rows, *tail])
    pkg = tmp_path / "pkg"
    ran = dipstick("import", "tickets", export, "--preset", "servicenow", "--starter-services",
                   "--into", pkg)
    assert ran.returncode == 0, ran.stderr
    result = check_json(pkg)
    assert result["as_of"] == "2016-05-15"   # the Sunday of the log's last whole week
    assert result["as_of_reason"].startswith("the last complete week: after it the tickets "
                                             "thin out to 200 rows in 41 week(s)")
    tickets = result["coverage"][0]
    assert tickets["window"]["rows"] == 20769 and tickets["window"]["last"] == "2016-05-13"


def test_a_tables_spans_are_its_services_added_up(tmp_path: Path) -> None:
    """``coverage.tables`` reads a table with services once, grouped by service, and adds the
    groups up: the same spans as one query over the whole table (``_spans``), and the same
    groups ``judged`` would read again."""
    from dipstick import coverage
    from dipstick.findings import Window

    b = PackageBuilder(tmp_path / "pkg").healthy("crm")
    for sid in ("mail", "web"):
        b.service(sid).usage(sid, since_days=300).tickets(sid).surveys(sid)
    b.tickets("web", per_week=9, since_days=500, end_day=b.as_of - timedelta(days=200),
              prefix="old")
    pkg = load_package(b.write())
    window = Window(b.as_of)
    covered = coverage.tables(pkg.signals, window)
    grouped = [c for c in covered if c.services is not None]
    assert {c.table for c in grouped} >= {"tickets", "usage", "surveys"}
    assert any(c.services is None for c in covered)             # kpis: no service column
    for c in covered:
        assert (c.window, c.baseline) == coverage._spans(pkg.signals, c.table, window)
    fresh = coverage.by_service(pkg.signals, window, [c.table for c in grouped])
    assert {(s, c.table): v for c in grouped for s, v in (c.services or {}).items()} == fresh


def test_weeks_read_once_judge_as_each_reads_them(tmp_path: Path) -> None:
    """A check reads the volume tables' weeks once (``coverage.volume_weeks``) for the as-of
    date and the thin-period rule: handed in, both judge what each read for itself (seen red
    under ``tables`` judging every table by the usage weeks)."""
    from dipstick import coverage
    from dipstick.findings import Window

    pkg = load_package(_truncated(tmp_path / "pkg"))
    b = PackageBuilder(tmp_path / "two", as_of=END)
    b.service("crm").usage("crm", since_days=400).tickets("crm", per_week=9, since_days=60)
    two = load_package(b.write())
    for p in (pkg, two):
        weeks = coverage.volume_weeks(p.signals)
        assert set(weeks) == {t for t in coverage.VOLUME if p.signals.has(t)}
        assert coverage.complete_as_of(p.signals, p.latest, weeks) == \
            coverage.complete_as_of(p.signals, p.latest)
        window = Window(END)
        assert coverage.tables(p.signals, window, weeks) == coverage.tables(p.signals, window)
    # each table judged by its own weeks (as the code before session 19 read them)
    assert [(c.table, c.window_weeks, c.baseline_weeks)
            for c in coverage.tables(two.signals, Window(END))
            if c.table in coverage.VOLUME] == [("tickets", (9, 13), (0, 52)),
                                               ("usage", (13, 13), (45, 52))]


def test_the_tickets_grouped_on_their_codes_are_the_views_groups(tmp_path: Path) -> None:
    """``_by_service`` groups the tickets on their stored ENUM codes: the same services
    (named as text, None for none) and spans as the group-by over the view of text (seen red
    under the coded frame's window filter as ``|``: a group for ``gone``)."""
    import narwhals as nw

    from dipstick import coverage
    from dipstick.engine import collect
    from dipstick.findings import ServiceCoverage, Window

    b = PackageBuilder(tmp_path / "pkg", as_of=END).healthy("crm")
    for sid in ("mail", "web"):
        b.service(sid).tickets(sid, per_week=7, since_days=500)
    b.tickets("web", per_week=3, since_days=900, end_day=END - timedelta(days=400),
              prefix="old")
    b.service("gone").tickets("gone", per_week=3, since_days=900,    # none in the periods
                              end_day=END - timedelta(days=500))
    pkg = load_package(b.write())
    s = pkg.signals
    assert s.frame("tickets", coded=True).to_native().types[
        s.columns("tickets").index("service")].id == "enum"
    window = Window(END)
    view = collect(s.frame("tickets").filter(
        (nw.col("opened_at") >= window.baseline_start) & (nw.col("opened_at") < window.end))
        .group_by("service").agg(*coverage._aggs("opened_at", window)))
    want = {r["service"]: ServiceCoverage("tickets", *coverage._pair(r)) for r in view}
    got = coverage._by_service(s, "tickets", window)
    assert got == want and all(type(k) is str for k in got)
    assert len(want) >= 2 and any(c.baseline.rows for c in want.values())
