"""Discovery checked against pm4py (issue 4, item 6): the same events give the same
directly-follows graph (equal counts; mean, median, min and max durations within a second), the
same start and end activities and the same variants, on the real ServiceNow log (raw and
collapsed) and on generated logs.

pm4py is a test-only dependency (AGPL): it is imported here and in benchmarks/, never by
dipstick itself, which the last test checks.

Both sides get the same events. pm4py orders a case's events by timestamp and keeps the frame's
order for equal timestamps, so its frame is pre-sorted by (case, timestamp, seq), and the tests
check that its own sorts keep that order. dipstick reads the log with ``read_event_log`` (the real
one from its gzip CSV, pm4py's copy is read by pandas; generated ones written as Parquet with the
rows shuffled) and must order the events by (timestamp, seq) itself.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import narwhals as nw
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dipstick.engine.sql import connect
from dipstick.streams.discover import Discovery, Edge, discover, discover_dfg
from dipstick.streams.logs import LogInfo, LogMapping, read_event_log

from realdata import SERVICENOW_LOG, require

pm4py = pytest.importorskip("pm4py")

ROOT = Path(__file__).resolve().parents[1]
REAL_LOG = SERVICENOW_LOG
SERVICENOW = LogMapping(case_id="number", activity="incident_state", timestamp="sys_updated_at",
                        timestamp_format="%d/%m/%Y %H:%M", seq="sys_mod_count")
COLUMNS = ["case_id", "activity", "timestamp", "seq"]
CASE, ACT, TS = "case:concept:name", "concept:name", "time:timestamp"


# --- both sides from one pandas frame ---------------------------------------------------------

def _events(con: duckdb.DuckDBPyConnection, df: pd.DataFrame) -> nw.LazyFrame[Any]:
    """The frame written as a Parquet log, rows as given, and read into the canonical events
    table by ``read_event_log`` (seq mapped)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.parquet"
        df[COLUMNS].to_parquet(path, index=False)
        read_event_log(con, path, LogMapping(seq="seq"))
    return nw.from_native(con.table("events"))


def _ordered(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["case_id", "timestamp", "seq"], kind="stable").reset_index(drop=True)


def _pm4py_frame(df: pd.DataFrame) -> pd.DataFrame:
    """pm4py's frame of the events, ordered by (case, timestamp, seq)."""
    ordered = _ordered(df)
    f = pm4py.format_dataframe(ordered.copy(), case_id="case_id", activity_key="activity",
                               timestamp_key="timestamp")
    # format_dataframe sorts by case, timestamp and the row index it adds: our order survives
    assert (f["seq"].to_numpy() == ordered["seq"].to_numpy()).all()
    # discover_dfg sorts again by case, start timestamp (= timestamp) and timestamp: a stable sort
    # leaves the frame as it is, so equal timestamps stay in seq order
    again = f.sort_values([CASE, TS, TS])
    assert (again["@@index"].to_numpy() == f["@@index"].to_numpy()).all()
    return f


def _collapsed(df: pd.DataFrame) -> pd.DataFrame:
    """Consecutive events of one activity in a case merged into the first (pandas, not dipstick)."""
    ordered = _ordered(df)
    same = ((ordered["case_id"] == ordered["case_id"].shift())
            & (ordered["activity"] == ordered["activity"].shift()))
    return ordered[~same].reset_index(drop=True)


def _edge_problems(ours: tuple[Edge, ...], f: pd.DataFrame) -> list[str]:
    freq, _, _ = pm4py.discover_dfg(f)
    perf, _, _ = pm4py.discover_performance_dfg(f)
    by_pair = {(e.source, e.target): e for e in ours}
    problems = []
    if set(by_pair) != set(freq) or set(freq) != set(perf):
        problems.append(f"edges: only ours {sorted(set(by_pair) - set(freq))}, "
                        f"only pm4py {sorted(set(freq) - set(by_pair))}")
    for pair in sorted(set(by_pair) & set(freq)):
        e, p = by_pair[pair], perf[pair]
        if e.count != freq[pair]:
            problems.append(f"{pair}: count {e.count} vs pm4py {freq[pair]}")
        for ours_s, theirs in ((e.mean_seconds, "mean"), (e.median_seconds, "median"),
                               (e.min_seconds, "min"), (e.max_seconds, "max")):
            if not abs(ours_s - float(p[theirs])) < 1.0:
                problems.append(f"{pair}: {theirs} {ours_s} s vs pm4py {float(p[theirs])} s")
    return problems


def _variants(f: pd.DataFrame) -> dict[tuple[str, ...], int]:
    got = pm4py.get_variants(f)
    return {tuple(k): v if isinstance(v, int) else len(v) for k, v in got.items()}


def _discovery_problems(d: Discovery, f: pd.DataFrame) -> list[str]:
    problems = _edge_problems(d.edges, f)
    _, starts, ends = pm4py.discover_dfg(f)
    if d.start_activities != {k: int(v) for k, v in starts.items()}:
        problems.append(f"start activities {d.start_activities} vs pm4py {starts}")
    if d.end_activities != {k: int(v) for k, v in ends.items()}:
        problems.append(f"end activities {d.end_activities} vs pm4py {ends}")
    variants = _variants(f)
    if d.cases != f[CASE].nunique() or (d.events != len(f) and not d.collapsed):
        problems.append(f"{d.cases} cases, {d.events} events vs {f[CASE].nunique()}, {len(f)}")
    if d.variant_count != len(variants):
        problems.append(f"{d.variant_count} variants vs pm4py {len(variants)}")
    top = sorted(variants.values(), reverse=True)[:len(d.variants)]
    if [v.cases for v in d.variants] != top:
        problems.append(f"top variant counts {[v.cases for v in d.variants]} vs pm4py {top}")
    for v in d.variants:
        if variants.get(v.activities) != v.cases:
            problems.append(f"variant {v.activities}: {v.cases} cases vs pm4py "
                            f"{variants.get(v.activities)}")
    return problems


def _check(df: pd.DataFrame, *, collapse: bool = False, shuffle: int = 0,
           log: tuple[Path, LogMapping] | None = None) -> Discovery:
    """Discover with dipstick and with pm4py (its ordered frame of ``df``): they must agree.
    dipstick reads ``log`` if given, else ``df`` with its rows shuffled."""
    con = connect()
    try:
        if log is None:
            events = _events(con, df.sample(frac=1.0, random_state=shuffle))
        else:
            read_event_log(con, *log)
            events = nw.from_native(con.table("events"))
        dfg = discover_dfg(events, collapse=collapse)
        d = discover(events, collapse=collapse)
    finally:
        con.close()
    f = _pm4py_frame(_collapsed(df) if collapse else df)
    problems = _edge_problems(dfg, f) + _discovery_problems(d, f)
    assert not problems, "\n".join(problems)
    assert d.edges == dfg
    return d


# --- the real log -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_log() -> pd.DataFrame:
    """pm4py's side of the real log, read by pandas (dipstick's by read_event_log)."""
    require(REAL_LOG)
    raw = pd.read_csv(REAL_LOG, usecols=["number", "incident_state", "sys_updated_at",
                                         "sys_mod_count"], na_values=["?"], dtype=str)
    df = pd.DataFrame({
        "case_id": raw["number"], "activity": raw["incident_state"],
        "timestamp": pd.to_datetime(raw["sys_updated_at"], format="%d/%m/%Y %H:%M"),
        "seq": raw["sys_mod_count"].astype("int64")})
    assert len(df) == 119_998 and not df.isna().any().any()
    return df


def test_real_log_every_update_an_event(real_log: pd.DataFrame) -> None:
    d = _check(real_log, log=(REAL_LOG, SERVICENOW))
    assert d.cases == 20_769 and d.events == 119_998
    assert d.variant_count > 1000 and len(d.edges) > 30


def test_real_log_collapsed(real_log: pd.DataFrame) -> None:
    d = _check(real_log, collapse=True, log=(REAL_LOG, SERVICENOW))
    assert d.collapsed and d.cases == 20_769
    assert not any(e.source == e.target for e in d.edges)


# --- generated logs ---------------------------------------------------------------------------

STATES = ["New", "Triage", "Active", "Awaiting User", "Awaiting Vendor", "Review", "Resolved",
          "Closed", "Reopened"]
#            New  Tri  Act  AwU  AwV  Rev  Res  Clo  Reo
MOVES = np.array([
    [0.00, 0.50, 0.40, 0.05, 0.00, 0.00, 0.05, 0.00, 0.00],   # New
    [0.05, 0.10, 0.70, 0.10, 0.00, 0.00, 0.05, 0.00, 0.00],   # Triage
    [0.00, 0.05, 0.30, 0.20, 0.05, 0.15, 0.25, 0.00, 0.00],   # Active (updates in place)
    [0.00, 0.00, 0.60, 0.25, 0.00, 0.00, 0.15, 0.00, 0.00],   # Awaiting User
    [0.00, 0.00, 0.70, 0.00, 0.30, 0.00, 0.00, 0.00, 0.00],   # Awaiting Vendor
    [0.00, 0.00, 0.30, 0.00, 0.00, 0.10, 0.60, 0.00, 0.00],   # Review
    [0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.05, 0.85, 0.10],   # Resolved
    [0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 1.00, 0.00],   # Closed (absorbing)
    [0.00, 0.00, 0.90, 0.00, 0.00, 0.00, 0.10, 0.00, 0.00],   # Reopened
])
MEAN_GAP = np.array([600, 3600, 7200, 86_400, 250_000, 3600, 43_200, 1, 1800])


def generated_log(cases: int, seed: int) -> pd.DataFrame:
    """A ticket-like state log: loops, repeated states, waits from seconds to weeks, equal
    timestamps (a fifth of the gaps are zero), one-second resolution, one case of one event."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, str, datetime, int]] = []
    base = np.datetime64("2024-01-01T00:00:00")
    seq = 0
    for c in range(cases):
        case = f"C{c:05d}"
        state = int(rng.choice([0, 1, 2], p=[0.7, 0.2, 0.1]))
        t = base + np.timedelta64(int(rng.integers(0, 180 * 86_400)), "s")
        steps = 1 if c == 7 else int(rng.integers(2, 30))
        for _ in range(steps):
            seq += int(rng.integers(1, 4))   # the export's order: increasing, with gaps
            rows.append((case, STATES[state], t.astype(datetime), seq))
            if state == 7:
                break
            state = int(rng.choice(len(STATES), p=MOVES[state]))
            gap = 0 if rng.random() < 0.2 else int(rng.exponential(MEAN_GAP[state])) + 1
            t = t + np.timedelta64(gap, "s")
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["timestamp"] = df["timestamp"].astype("datetime64[us]")
    return df


@pytest.fixture(scope="module")
def generated() -> pd.DataFrame:
    return generated_log(4000, seed=11)


def test_generated_log(generated: pd.DataFrame) -> None:
    ties = generated.duplicated(["case_id", "timestamp"], keep=False)
    # the ties matter: equal timestamps with different activities, order given by seq alone
    assert generated[ties].groupby(["case_id", "timestamp"])["activity"].nunique().max() > 1
    d = _check(generated, shuffle=3)
    assert d.cases == 4000 and d.events == len(generated) > 20_000
    assert any(e.source == e.target for e in d.edges)                  # repeated states
    assert any(e.min_seconds == 0 for e in d.edges)                    # equal timestamps
    assert ("Active", "Awaiting User") in {(e.source, e.target) for e in d.edges}


def test_generated_log_collapsed(generated: pd.DataFrame) -> None:
    d = _check(generated, collapse=True, shuffle=5)
    assert not any(e.source == e.target for e in d.edges)
    assert d.events == len(generated)   # events counts the log, visits are collapsed


@settings(max_examples=15, deadline=None)
@given(st.lists(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from([0, 0, 1, 59, 3600])),
                         min_size=1, max_size=8), min_size=1, max_size=6),
       st.booleans(), st.integers(0, 1000))
def test_small_logs(cases: list[list[tuple[str, int]]], collapse: bool, shuffle: int) -> None:
    rows, seq = [], 0
    for i, events in enumerate(cases):
        t = np.datetime64("2024-03-01T08:00:00")
        for activity, gap in events:
            t = t + np.timedelta64(gap, "s")
            seq += 1
            rows.append((f"c{i}", activity, t.astype(datetime), seq))
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["timestamp"] = df["timestamp"].astype("datetime64[us]")
    _check(df, collapse=collapse, shuffle=shuffle)


# --- XES whose transitions are not a lifecycle ----------------------------------------------

SUB_STATES = ("In Progress", "Awaiting Assignment", "Wait - User", "Resolved", "Closed")


def _read(path: Path, mapping: LogMapping = LogMapping()) -> tuple[LogInfo, Discovery]:
    """A log file read as ``dipstick streams`` reads it, and its discovery."""
    con = connect()
    try:
        info = read_event_log(con, path, mapping)
        return info, discover(nw.from_native(con.table("events")))
    finally:
        con.close()


def test_xes_with_sub_states_in_its_transitions_is_a_state_log(tmp_path: Path) -> None:
    """BPI Challenge 2013's incidents put a sub-state (``In Progress``, ``Wait - User``) in
    ``lifecycle:transition``: neither start nor complete. pm4py maps every event; so must
    dipstick (it once dropped them all as non-lifecycle transitions, and crashed on the
    empty map)."""
    df = generated_log(300, seed=5)
    traces = []
    for case, events in df.groupby("case_id", sort=False):
        body = "".join(
            f'<event><string key="concept:name" value="{a}"/><string key="org:group" '
            f'value="V5 3rd"/><string key="lifecycle:transition" '
            f'value="{SUB_STATES[i % len(SUB_STATES)]}"/><date key="time:timestamp" '
            f'value="{t.isoformat()}+00:00"/></event>'
            for i, (a, t) in enumerate(zip(events["activity"], events["timestamp"],
                                           strict=True)))
        traces.append(f'<trace><string key="concept:name" value="{case}"/>{body}</trace>')
    path = tmp_path / "incidents.xes"
    path.write_text('<?xml version="1.0" encoding="UTF-8"?><log xes.version="1.0" '
                    'xmlns="http://www.xes-standard.org/"><extension name="Lifecycle" '
                    'prefix="lifecycle" uri="http://www.xes-standard.org/lifecycle.xesext"/>'
                    f'{"".join(traces)}</log>', encoding="utf-8")
    info, d = _read(path)
    assert (info.rows, info.dropped) == (len(df), 0)
    assert not d.lifecycle and d.events == len(df)
    f = pm4py.read_xes(str(path))
    problems = _discovery_problems(d, f) + _edge_problems(d.edges, f)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("kind", ["xes", "csv"])
def test_the_real_log_as_pm4py_writes_it_reads_without_options(real_log: pd.DataFrame,
                                                                tmp_path: Path, kind: str) -> None:
    """Files another tool wrote from real data: pm4py's own XES writer, and its frame saved as
    CSV with pm4py's column names (``case:concept:name``, ``concept:name``,
    ``time:timestamp``). dipstick reads either with no option (the XES attributes; the known
    headers) and maps what pm4py maps from the same frame. The first 2,000 cases of the real
    log, in their (case, time, order) order, which both files keep."""
    first = real_log[real_log["case_id"].isin(real_log["case_id"].drop_duplicates()[:2000])]
    f = _pm4py_frame(first)
    path = tmp_path / f"incidents.{kind}"
    if kind == "xes":
        pm4py.write_xes(f, str(path))
    else:
        f[[CASE, ACT, TS]].to_csv(path, index=False)
    info, d = _read(path)
    assert (info.rows, info.cases) == (len(first), 2000)
    problems = _discovery_problems(d, f) + _edge_problems(d.edges, f)
    assert not problems, "\n".join(problems)


def test_the_real_log_as_a_german_excel_export_maps_the_same(real_log: pd.DataFrame,
                                                              tmp_path: Path) -> None:
    """The real log saved as Excel saves "CSV" in Germany: ``;``, Latin-1 (a header with
    ``ä``), CRLF, day-first dates with dots, the order column renamed. Read with its columns
    named and ``--dayfirst`` (the encoding detected), it gives the map the original export
    gives."""
    path = tmp_path / "vorfälle.csv"
    out = pd.DataFrame({"Nummer": real_log["case_id"], "Aktivität": real_log["activity"],
                        "Geändert": real_log["timestamp"].dt.strftime("%d.%m.%Y %H:%M"),
                        "Änderungen": real_log["seq"]})
    out.to_csv(path, sep=";", index=False, encoding="latin-1", lineterminator="\r\n")
    _, german = _read(path, LogMapping(case_id="Nummer", activity="Aktivität",
                                       timestamp="Geändert", seq="Änderungen", dayfirst=True))
    _, original = _read(require(REAL_LOG), SERVICENOW)
    assert german.events == original.events == 119_998
    assert (german.edges, german.variants, german.start_activities) == (
        original.edges, original.variants, original.start_activities)


def test_the_real_log_reads_its_day_first_dates_without_a_time_format(
        real_log: pd.DataFrame) -> None:
    """The real ServiceNow export's ``29/2/2016 01:16`` read with no time option: its values
    tell day-first (a day over 12), so it maps as with ``--time-format '%d/%m/%Y %H:%M'``."""
    _, told = _read(require(REAL_LOG), replace(SERVICENOW, timestamp_format=None))
    _, original = _read(require(REAL_LOG), SERVICENOW)
    assert told.events == original.events == 119_998
    assert (told.edges, told.variants, told.throughput) == (
        original.edges, original.variants, original.throughput)


def test_the_real_log_as_a_us_excel_export_maps_as_pm4py_reads_it(real_log: pd.DataFrame,
                                                                  tmp_path: Path) -> None:
    """The real log saved as Excel saves it in the US: ``2/29/2016 1:16 AM``, no zero
    padding, a 12-hour clock. dipstick reads it with no time option (a value's second part
    over 12 tells month-first) and maps what pandas + pm4py map from the same file with their
    defaults (pandas infers the format from the first value)."""
    first = real_log[real_log["case_id"].isin(real_log["case_id"].drop_duplicates()[:3000])]
    ordered = _ordered(first)
    t = ordered["timestamp"]
    us = (t.dt.month.astype(str) + "/" + t.dt.day.astype(str) + "/" + t.dt.year.astype(str)
          + " " + ((t.dt.hour + 11) % 12 + 1).astype(str) + t.dt.strftime(":%M %p"))
    path = tmp_path / "incidents-us.csv"
    pd.DataFrame({"Number": ordered["case_id"], "State": ordered["activity"], "Updated": us,
                  "Updates": ordered["seq"]}).to_csv(path, index=False)
    info, d = _read(path, LogMapping(case_id="Number", activity="State", timestamp="Updated",
                                     seq="Updates"))
    assert (info.rows, info.cases) == (len(first), 3000)
    theirs = pd.read_csv(path, dtype={"Updated": str})
    f = pm4py.format_dataframe(theirs, case_id="Number", activity_key="State",
                               timestamp_key="Updated")
    assert (f[TS].dt.tz_localize(None).to_numpy() == ordered["timestamp"].to_numpy()).all()
    problems = _discovery_problems(d, f)
    assert not problems, "\n".join(problems)


# --- the licence boundary ---------------------------------------------------------------------

def test_dipstick_never_imports_pm4py() -> None:
    pattern = re.compile(r"^\s*(import|from)\s+pm4py\b|import_module\(\s*['\"]pm4py", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "src" / "dipstick").rglob("*"))
                 if p.suffix in (".py", ".j2") and pattern.search(p.read_text(encoding="utf-8"))]
    assert not offenders, f"pm4py (AGPL) is test-only, but these import it: {offenders}"


# --- a start and a completion time in one row (Disco's export) --------------------------------

@settings(max_examples=15, deadline=None)
@given(st.lists(st.lists(st.tuples(st.sampled_from("abcd"), st.sampled_from([0, 0, 60, 3600]),
                                   st.sampled_from([0, 30, 600, 7200])),
                         min_size=1, max_size=8), min_size=1, max_size=6))
def test_rows_with_a_start_and_a_completion_map_as_pm4py_maps_them(
        cases: list[list[tuple[str, int, int]]]) -> None:
    """A log of one row per activity instance with its start and completion (`Start
    Timestamp`, `Complete Timestamp`, as Disco exports it) read with its start column named
    maps as pm4py maps it with ``start_timestamp_key``: the directly-follows pairs with their counts
    and times (from one completion to the next start), the variants, the start and end
    activities and the cases."""
    lines = ["Case ID,Activity,Start Timestamp,Complete Timestamp"]
    for i, steps in enumerate(cases):
        t = np.datetime64("2024-03-01T08:00:00")
        for activity, wait, work in steps:
            start = t + np.timedelta64(wait, "s")
            t = start + np.timedelta64(work, "s")
            lines.append(f"c{i},{activity},{start.astype(datetime)},{t.astype(datetime)}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "instances.csv"
        path.write_text("\n".join(lines) + "\n")
        info, d = _read(path, LogMapping(start_timestamp="Start Timestamp"))
        df = pd.read_csv(path)
    assert info.rows == 2 * len(df)
    for col in ("Start Timestamp", "Complete Timestamp"):
        df[col] = pd.to_datetime(df[col])
    f = pm4py.format_dataframe(df, case_id="Case ID", activity_key="Activity",
                               timestamp_key="Complete Timestamp",
                               start_timestamp_key="Start Timestamp")
    problems = _edge_problems(d.edges, f)
    _, starts, ends = pm4py.discover_dfg(f)
    assert d.start_activities == {k: int(v) for k, v in starts.items()}
    assert d.end_activities == {k: int(v) for k, v in ends.items()}
    variants = _variants(f)
    assert d.variant_count == len(variants) and d.cases == f[CASE].nunique()
    assert all(variants.get(v.activities) == v.cases for v in d.variants)
    assert problems == []
