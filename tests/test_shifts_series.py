"""The weekly series as ``series.build`` makes them, held to sums taken by hand from the rows
(session 15 computes the per-user rates of all services at once instead of service by service:
the week lookups across services must not mix services, weeks or ticket types)."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from dipstick.findings import Window
from dipstick.package import load_package
from dipstick.shifts.series import Series, SeriesKey, Sums, build, week_start

from builder import AS_OF, PackageBuilder


def _package(root: Path) -> Path:
    b = PackageBuilder(root)
    for sid in ("a", "b", "c", "d", "e"):
        b.service(sid)
    gap = (AS_OF - timedelta(days=150), AS_OF - timedelta(days=100))
    # "a" has no users in its last weeks: no rate there (x / 0 is not a value)
    (b.usage("a", users=40, since_days=200, after=(AS_OF - timedelta(days=60), 0))
     .tickets("a", per_week=3, since_days=200, end_day=gap[0])          # weeks without tickets
     .tickets("a", per_week=5, start_day=gap[1], kind="question", prefix="Q")
     .usage("b", users=70, since_days=180)                                # no tickets
     .tickets("c", per_week=4, since_days=180)                            # no usage
     .usage("d", users=12, since_days=303)
     .tickets("d", per_week=2, since_days=250, kind="request", lost_minutes=45)
     .tickets("d", per_week=6, since_days=90, prefix="I")
     .usage("e", users=0, since_days=100)                                 # no users: no rate
     .tickets("e", per_week=1, since_days=100))
    return b.write()


def _weekly(rows: list[dict[str, str]], column: str, cut: date) -> dict[tuple[str, int], list[
        dict[str, str]]]:
    out: dict[tuple[str, int], list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        day = date.fromisoformat(r[column][:10])
        if day < cut:
            out[(r["service"], (day - date(1970, 1, 5)).days // 7)].append(r)
    return out


def test_per_user_rates_are_each_services_own_weeks(tmp_path: Path) -> None:
    root = _package(tmp_path / "pkg")
    package = load_package(root)
    end = Window(AS_OF).end
    sums: Sums = {}
    try:
        built = build(package.signals, package.model, end, sums)
    finally:
        package.close()
    by_key: dict[SeriesKey, Series] = {s.key: s for s in built}
    cut = week_start(end.date())
    def read(name: str) -> list[dict[str, str]]:
        with (root / f"{name}.csv").open() as f:
            return list(csv.DictReader(f))

    usage, tickets = _weekly(read("usage"), "date", cut), _weekly(read("tickets"), "opened_at",
                                                                   cut)
    rated = set()
    for service in ("a", "b", "c", "d", "e"):
        users = by_key.get(SeriesKey("service", service, "users"))
        has_tickets = any(s == service for s, _ in tickets)
        for metric in ("incidents_per_user", "requests_per_user", "questions_per_user",
                       "lost_hours_per_user"):
            got = by_key.get(SeriesKey("service", service, metric))
            if users is None or not has_tickets or service == "e":
                assert got is None, (service, metric)
                continue
            level = dict(zip(users.index.tolist(), users.values.tolist(), strict=True))
            want = {}
            for (s, wk), rows in sorted(usage.items()):
                if s != service or len(rows) < 7 or level[wk] == 0:
                    continue
                mine = tickets.get((service, wk), [])
                if metric == "lost_hours_per_user":
                    total = sum(float(r["lost_minutes"]) for r in mine) / 60.0
                else:
                    kind = metric.split("s_per_user")[0]
                    total = float(sum(r["type"] == kind for r in mine))
                want[wk] = total / level[wk]
            assert got is not None, (service, metric)
            assert dict(zip(got.index.tolist(), got.values.tolist(), strict=True)) == want, \
                (service, metric)
            rated.add(service)
    assert rated == {"a", "d"}
    # the raw sums kept for the change indicator: the ticket weeks of each service
    for service in ("a", "c", "d", "e"):
        weeks, kept = sums["tickets"][service]
        assert weeks.tolist() == sorted(wk for s, wk in tickets if s == service)
        assert kept["incidents"].tolist() == [
            float(sum(r["type"] == "incident" for r in tickets[(service, wk)]))
            for wk in weeks.tolist()]


@pytest.mark.parametrize("metric", ["satisfaction", "users"])
def test_series_of_one_key_hold_only_that_keys_rows(tmp_path: Path, metric: str) -> None:
    root = _package(tmp_path / "pkg")
    package = load_package(root)
    try:
        built = build(package.signals, package.model, datetime.combine(AS_OF, datetime.min.time()))
    finally:
        package.close()
    found = {s.key.subject: s for s in built if s.key.metric == metric}
    assert set(found) == ({"a", "c", "d", "e"} if metric == "satisfaction"
                          else {"a", "b", "d", "e"})
    for s in found.values():
        assert list(s.index) == sorted(set(s.index.tolist())) and len(s.values) == len(s.index)


def test_rows_are_ordered_as_the_engine_would_order_them() -> None:
    """``_split`` sorts the grouped rows itself (no ``ORDER BY``): by each key as text, missing
    first, then by week — also when the keys are too many to fold into one integer."""
    import numpy as np

    from dipstick.shifts import groups

    rng = np.random.default_rng(7)
    names = ["b", "a", "ä", "Z", "a b", "", "svc-10", "svc-9", None]
    n = 4_000
    first = np.array([names[i] for i in rng.integers(0, len(names), n)], dtype=object)
    second = np.array([names[i] for i in rng.integers(0, len(names), n)], dtype=object)
    weeks = rng.integers(-5, 3_000, n)
    keys = {(x, y, int(w)) for x, y, w in zip(first, second, weeks, strict=True)}
    rows = sorted(keys, key=lambda r: (*((v is not None, v or "") for v in r[:2]), r[2]))
    first, second, weeks = (np.array([r[i] for r in rows], dtype=object if i < 2 else np.int64)
                            for i in range(3))
    shuffled = rng.permutation(len(rows))
    got = groups._order([first[shuffled], second[shuffled]], weeks[shuffled])
    assert [rows[i] for i in shuffled[got]] == rows
    many = np.array([f"k{i}" for i in range(len(rows))], dtype=object)     # 2**62 is passed
    wide = np.where(np.arange(len(rows)) % 2 == 1, 2 ** 50, 0).astype(np.int64)
    other = many[rng.permutation(len(rows))]
    order = groups._order([many[shuffled], other[shuffled]], wide[shuffled])
    assert [(many[j], other[j], wide[j]) for j in shuffled[order]] == sorted(
        zip(many, other, wide, strict=True))


def test_first_seen_from_the_series_is_the_tables_earliest_row(tmp_path: Path) -> None:
    """``first_seen`` takes each service's earliest row before the series' cut from the
    series' own aggregation and reads only the rows from the cut on: the same dates as the
    earliest row of every row, for services seen only after the cut, only in one table, or
    earlier in usage than in tickets."""
    import narwhals as nw

    from dipstick.check import CommonSpec
    from dipstick.engine import collect
    from dipstick.findings import CheckContext
    from dipstick.indicators.common import first_seen
    from dipstick.indicators.registry import split_settings

    b = PackageBuilder(tmp_path / "pkg")
    as_of = AS_OF - timedelta(days=4)                 # a Wednesday: the cut is its Monday
    (b.service("a").usage("a", since_days=200).tickets("a", since_days=90)
     .service("b").tickets("b", per_week=3, start_day=as_of - timedelta(days=1))  # after cut
     .service("c").usage("c", since_days=30)                                     # no tickets
     .service("d").tickets("d", since_days=120, end_day=as_of - timedelta(days=20))
     .usage("d", since_days=2))                                                  # after cut
    pkg = load_package(b.write())
    model = pkg.model
    common = split_settings(model.settings, CommonSpec)
    ctx = CheckContext(model, pkg.signals, Window(as_of, common.window_days,
                                                  common.baseline_days), common)

    def expected() -> dict[str, datetime]:
        out: dict[str, datetime] = {}
        for table, column in (("usage", "date"), ("tickets", "opened_at")):
            for r in collect(pkg.signals.frame(table).group_by("service")
                             .agg(nw.col(column).min())):
                out[r["service"]] = min(out.get(r["service"], r[column]), r[column])
        return out

    got = first_seen(ctx)
    assert got == expected() and set(got) == {"a", "b", "c", "d"}
    assert got["b"] >= datetime.combine(week_start(as_of), datetime.min.time())
    # a thin baseline left out (coverage.hide_thin_baselines): both read the restricted rows
    pkg.signals.restrict("usage", "date", datetime.combine(as_of, datetime.min.time())
                         - timedelta(days=60))
    ctx = CheckContext(model, pkg.signals, ctx.window, common)
    assert first_seen(ctx) == expected() != got


def test_a_coded_key_splits_as_its_text() -> None:
    """``_split`` of a grouping on an ENUM key (fetched as codes, named per run) gives the
    groups the same grouping cast to text gives: the ENUM's values out of text order, a
    null key, values no row has, and several weeks a key."""
    import duckdb
    import narwhals as nw
    import numpy as np

    from dipstick.engine import as_text, coded_arrays
    from dipstick.shifts import groups

    con = duckdb.connect()
    labels = ["svc-9", "b", "a'x", "é", "A", "svc-10", "unused", "a b"]
    enum = ", ".join("'" + v.replace("'", "''") + "'" for v in labels)
    con.execute(f"CREATE TABLE t (k ENUM({enum}), j ENUM({enum}), wk BIGINT, v DOUBLE)")
    rng = np.random.default_rng(3)
    rows = [(None if a == 6 else labels[a], labels[b], int(w), float(x))
            for a, b, w, x in zip(rng.integers(0, 7, 600), rng.integers(0, 3, 600),
                                  rng.integers(-3, 40, 600), rng.normal(size=600), strict=True)]
    con.execute("INSERT INTO t VALUES " + ", ".join("(?, ?, ?, ?)" for _ in rows),
                [x for r in rows for x in r])
    lf = (nw.from_native(con.table("t")).group_by("k", "j", "wk")
          .agg(v=nw.col("v").sum(), n=nw.len()))
    got, named = coded_arrays(lf, ["k", "j"])
    assert named == {"k": tuple(labels), "j": tuple(labels)}
    assert got["k"].dtype == np.int64 and (got["k"] == -1).any() and got["k"].max() < 6
    coded = groups._split(lf, ["k", "j"], ["v", "n"])
    text = groups._split(as_text(lf, "k", "j"), ["k", "j"], ["v", "n"])
    assert coded.keys == text.keys and ("None", "b") in coded.keys
    assert coded.bounds == text.bounds and len(coded.keys) > 20
    assert np.array_equal(coded.weeks, text.weeks)
    assert all(np.array_equal(coded.columns[c], text.columns[c]) for c in ("v", "n"))
    assert coded_arrays(as_text(lf, "k"), ["k", "j"])[1] == {"j": tuple(labels)}
    counted: dict[tuple[str, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for k, j, w, _ in rows:
        counted[str(k), j][w] += 1
    want = sorted(counted.items(), key=lambda kv: ((kv[0][0] != "None", kv[0][0]), kv[0][1]))
    assert [(key, dict(zip(w.tolist(), c["n"].tolist(), strict=True)))
            for key, w, c in coded.runs()] == [(key, dict(sorted(n.items()))) for key, n in want]

    # the codes taken at the start of the query (``early_codes``): the same runs, and the
    # steps after it see no ENUM (whose 2,000-value type each step would parse again)
    early, codes = groups.early_codes(nw.from_native(con.table("t")), ["k", "j", "wk"])
    assert codes == named and {t.id for t in early.to_native().types}.isdisjoint({"enum"})
    grouped = early.group_by("k", "j", "wk").agg(v=nw.col("v").sum(), n=nw.len())
    assert "enum" not in {t.id for t in grouped.to_native().types}
    first = groups._split(grouped, ["k", "j"], ["v", "n"], codes=codes)
    assert first.keys == coded.keys and first.bounds == coded.bounds
    assert np.array_equal(first.weeks, coded.weeks)
    assert all(np.array_equal(first.columns[c], coded.columns[c]) for c in ("v", "n"))
    plain = nw.from_native(con.sql("SELECT k::VARCHAR AS k, j, wk, v FROM t"))
    same, none = groups.early_codes(plain, ["k"])                # text: as it is
    assert same is plain and none == {}


def test_cost_per_user_is_each_services_month_over_its_weekly_users(tmp_path: Path) -> None:
    """Each usage week's cost is its Monday's month's cost of the same service over the
    week's mean users: no value in a month without costs or on a
    week without users; a service with costs but no usage, or usage but no costs, has none."""
    b = PackageBuilder(tmp_path)
    for sid in ("a", "b", "c", "d", "Z"):      # "Z" sorts first: costs, no usage
        b.service(sid)
    b.usage("a", users=40, since_days=200, after=(AS_OF - timedelta(days=60), 0))
    b.usage("b", users=7, since_days=120).usage("c", users=30, since_days=90)
    costs = [{"month": f"2026-{m:02d}-01", "service": "a", "amount": 1000 + m / 3}
             for m in range(3, 12) if m != 7]
    costs += [{"month": "2026-08-01", "service": "b", "amount": 333},
              {"month": "2026-10-01", "service": "b", "amount": 81},
              {"month": "2026-10-01", "service": "d", "amount": 99},
              {"month": "2026-10-01", "service": "Z", "amount": 5}]
    root = b.rows("costs", costs).write()
    package = load_package(root)
    try:
        built = build(package.signals, package.model, Window(AS_OF).end)
    finally:
        package.close()
    got = {s.key.subject: dict(zip(s.index.tolist(), s.values.tolist(), strict=True))
           for s in built if s.key.metric == "cost_per_user"}
    monthly = {(str(c["service"]), str(c["month"])[:7]): float(c["amount"]) for c in costs}
    users = {s.key.subject: s for s in built if s.key.metric == "users"}
    want = {}
    for sid in ("a", "b", "c"):
        found = {}
        for wk, level in zip(users[sid].index.tolist(), users[sid].values.tolist(), strict=True):
            month = (date(1970, 1, 5) + timedelta(days=7 * wk)).isoformat()[:7]
            if (sid, month) in monthly and level:
                found[wk] = monthly[sid, month] / level
        if found:
            want[sid] = found
    assert set(want) == {"a", "b"} and len(want["a"]) > 15
    assert got == want
