"""Slash dates in an event log read without a time option (docs/event-logs.md, "Times and time
zones"): in the order the log's own values tell — a first part over 12 is a day, a second part
over 12 is a day — said in ``Loaded.dates``; refused, naming row, field and value, when no
value tells the order or values tell both; the options still win."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dipstick.engine.sql import connect
from dipstick.errors import PackageError, Problem
from dipstick.streams.logs import LogMapping, load_event_log, read_event_log

HEADER = "case_id,activity,timestamp\n"


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    return connect()


def _log(tmp_path: Path, times: list[str], name: str = "log.csv", sep: str = ",") -> Path:
    path = tmp_path / name
    path.write_text(HEADER.replace(",", sep) + "".join(
        f"c{i // 2}{sep}{'ab'[i % 2]}{sep}{t}\n" for i, t in enumerate(times)), encoding="utf-8")
    return path


def _times(con: duckdb.DuckDBPyConnection) -> list[datetime]:
    return [r[0] for r in con.execute("SELECT timestamp FROM events ORDER BY _row").fetchall()]


def _refused(con: duckdb.DuckDBPyConnection, path: Path,
             mapping: LogMapping = LogMapping()) -> list[Problem]:
    with pytest.raises(PackageError) as e:
        read_event_log(con, path, mapping)
    tables = con.execute("SELECT count(*) FROM duckdb_tables()").fetchall()[0][0]
    assert tables == 0, "nothing may be created from a refused log"
    return e.value.problems


def test_month_first_dates_with_a_12_hour_clock_read_as_their_values_tell(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = _log(tmp_path, ["3/1/2016 9:05 AM", "3/1/2016 12:30 PM", "2/29/2016 11:59:30 pm",
                           "3/12/2016 12:00 AM", "3/12/2016 1:00:00.250PM", "3/12/2016 14:00"])
    loaded = load_event_log(con, path)
    assert _times(con) == [datetime(2016, 3, 1, 9, 5), datetime(2016, 3, 1, 12, 30),
                           datetime(2016, 2, 29, 23, 59, 30), datetime(2016, 3, 12, 0, 0),
                           datetime(2016, 3, 12, 13, 0, 0, 250000), datetime(2016, 3, 12, 14)]
    assert loaded.dates == ("timestamp: read as month-first (m/d/yyyy) dates, as row 3 shows "
                            "('2/29/2016 11:59:30 pm'); --dayfirst or --time-format sets the form")


def test_day_first_dates_read_as_their_values_tell_as_dayfirst_reads_them(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    times = ["1/3/2016 09:05", "2/3/2016 9:05:30.5", "12/3/2016", "29/2/2016 1:16 PM"]
    loaded = load_event_log(con, _log(tmp_path, times))
    told = _times(con)
    assert told == [datetime(2016, 3, 1, 9, 5), datetime(2016, 3, 2, 9, 5, 30, 500000),
                    datetime(2016, 3, 12), datetime(2016, 2, 29, 13, 16)]
    assert loaded.dates is not None and "as row 4 shows ('29/2/2016 1:16 PM')" in loaded.dates
    optioned = load_event_log(con, _log(tmp_path, times), LogMapping(dayfirst=True))
    assert _times(con) == told and optioned.dates is None


def test_dotted_dates_are_day_first_unless_a_value_says_otherwise(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    loaded = load_event_log(con, _log(tmp_path, ["01.02.2016 01:16", "01.03.2016 09:05"],
                                      sep=";"))
    assert _times(con) == [datetime(2016, 2, 1, 1, 16), datetime(2016, 3, 1, 9, 5)]
    assert loaded.dates is not None and "dotted dates being day-first" in loaded.dates


def test_dates_no_value_tells_apart_are_refused_naming_both_options(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = _log(tmp_path, ["01/02/2016 01:16", "01/03/2016 09:05", "12/03/2016 10:00"])
    for mapping in (LogMapping(), LogMapping(skip_bad_rows=True)):   # not every row skipped
        [p] = _refused(con, path, mapping)
        assert (p.row, p.line, p.field, p.value) == (1, 2, "timestamp", "01/02/2016 01:16")
        assert "--dayfirst" in p.message and "--time-format '%m/%d/%Y %H:%M'" in p.message


def test_dates_telling_both_orders_are_refused_naming_both_rows(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = _log(tmp_path, ["01/02/2016 01:16", "29/02/2016 09:05", "02/13/2016 10:00",
                           "30/01/2016 10:00"])
    [p] = _refused(con, path)
    assert (p.row, p.line, p.value) == (3, 4, "02/13/2016 10:00")
    assert "day-first in row 2 ('29/02/2016 09:05')" in p.message and "--time-format" in p.message


def test_the_options_win_over_what_the_values_tell(con: duckdb.DuckDBPyConnection,
                                                   tmp_path: Path) -> None:
    path = _log(tmp_path, ["2/28/2016 01:16", "2/29/2016 09:05"])
    problems = _refused(con, path, LogMapping(dayfirst=True))
    assert [p.value for p in problems] == ["2/28/2016 01:16", "2/29/2016 09:05"]
    assert "day-first" in problems[0].message
    loaded = load_event_log(con, _log(tmp_path, ["03/02/2016 01:16", "04/02/2016 09:05"]),
                            LogMapping(timestamp_format="%d/%m/%Y %H:%M"))
    assert _times(con) == [datetime(2016, 2, 3, 1, 16), datetime(2016, 2, 4, 9, 5)]
    assert loaded.dates is None


def test_a_log_whose_first_time_is_iso_is_read_as_iso(con: duckdb.DuckDBPyConnection,
                                                      tmp_path: Path) -> None:
    """Only a log whose first time is a slash date has its order told: an ISO log with a stray
    slash date names that row as before."""
    problems = _refused(con, _log(tmp_path, ["2016-02-29 01:16", "29/02/2016 09:05"]))
    assert [(p.row, p.value) for p in problems] == [(2, "29/02/2016 09:05")]
    assert "ISO 8601" in problems[0].message and "--dayfirst" in problems[0].message


def test_text_times_in_parquet_and_start_times_are_told_alike(con: duckdb.DuckDBPyConnection,
                                                              tmp_path: Path) -> None:
    """A Parquet log's text times are told as a CSV's (its rows by file row); a row's start
    time is read in the order its completion's values tell."""
    path = tmp_path / "log.parquet"
    pq.write_table(pa.table({"case_id": ["c", "c"], "activity": ["a", "b"],
                             "timestamp": ["2/28/2016 1:16 PM", "2/29/2016 9:05 AM"],
                             "start_timestamp": ["2/28/2016 1:00 PM", "2/29/2016 8:00 AM"]}),
                   path)
    loaded = load_event_log(con, path)
    assert loaded.dates is not None and "as row 1 shows ('2/28/2016 1:16 PM')" in loaded.dates
    rows = con.execute("SELECT timestamp, lifecycle FROM events ORDER BY _row, seq").fetchall()
    assert rows == [(datetime(2016, 2, 28, 13, 0), "start"),
                    (datetime(2016, 2, 28, 13, 16), "complete"),
                    (datetime(2016, 2, 29, 8, 0), "start"),
                    (datetime(2016, 2, 29, 9, 5), "complete")]


def _one_pass(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the log was read in one pass (``logs_sql.load_csv_direct``: a view of the stored
    rows), not staged as text and typed (a table)."""
    return bool(con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'events'"
                            ).fetchall()[0][0])


def _events(con: duckdb.DuckDBPyConnection,
            cols: str = "case_id, activity, timestamp, seq, _row") -> list[tuple[object, ...]]:
    return con.execute(f"SELECT {cols} FROM events ORDER BY _row, seq").fetchall()


def test_a_csv_whose_first_mib_tells_the_order_is_read_in_one_pass_as_staged(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """As ``dipstick streams`` reads a log: a plain CSV whose first MiB tells the order is
    read in one pass with its first date's form; the same text in Parquet (always staged)
    gives the same events, and both say how the order was told."""
    times = ["3/1/2016 9:05:00.125 AM", "3/1/2016 12:30:00.5 PM", "2/29/2016 11:59:00.0 PM",
             "3/12/2016 12:00:59.999999 AM"]
    path = _log(tmp_path, times)
    loaded = load_event_log(con, path, ordered=False, canonical=False)
    assert _one_pass(con)
    direct = _events(con)
    pq.write_table(pa.table({"case_id": [f"c{i // 2}" for i in range(4)],
                             "activity": ["a", "b", "a", "b"], "timestamp": times}),
                   tmp_path / "log.parquet")
    other = connect()
    staged = load_event_log(other, tmp_path / "log.parquet", ordered=False, canonical=False)
    assert not _one_pass(other) and _events(other) == direct
    assert loaded.dates == staged.dates and loaded.dates is not None
    assert "as row 3 shows ('2/29/2016 11:59:00.0 PM')" in loaded.dates
    assert direct[0][2] == datetime(2016, 3, 1, 9, 5, 0, 125000)


def test_a_two_digit_year_after_four_digit_ones_is_read_as_2016_not_the_year_16(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """The first date's form has %Y, which would take "16" as the year 16: the one-pass read
    refuses it (a CHECK), and the staged read reads it as a two-digit year."""
    path = _log(tmp_path, ["29/2/2016 01:16", "1/3/16 09:05"])
    load_event_log(con, path, ordered=False, canonical=False)
    assert not _one_pass(con)
    assert _times(con) == [datetime(2016, 2, 29, 1, 16), datetime(2016, 3, 1, 9, 5)]


@pytest.mark.parametrize(("times", "sep", "order"), [
    (["01/03/16 11:00", "29/02/16 09:30", "1/3/16 12:00", "01/03/16 23:59"], ",", "day"),
    (["03/01/16 11:00 AM", "2/29/16 9:30 AM", "3/1/16 12:00 PM", "3/1/16 11:59 PM"], ",",
     "month"),
    (["01.03.16 11:00", "29.02.16 09:30", "01.03.16 12:00", "01.03.16 23:59"], ";", "day")])
def test_two_digit_years_are_read_in_the_order_their_values_tell(
        con: duckdb.DuckDBPyConnection, tmp_path: Path, times: list[str], sep: str,
        order: str) -> None:
    """``29/02/16 09:30`` (a ServiceNow or Excel export with a short year) was read by
    DuckDB's cast as 16 February of the year 29, silently: a lead time of 28 years. It is a
    slash date with a two-digit year, read as its values tell, in one pass as staged."""
    path = _log(tmp_path, times, sep=sep)
    want = [datetime(2016, 3, 1, 11), datetime(2016, 2, 29, 9, 30), datetime(2016, 3, 1, 12),
            datetime(2016, 3, 1, 23, 59)]
    loaded = load_event_log(con, path, ordered=False, canonical=False)
    assert _one_pass(con) == (sep == ",") and _times(con) == want
    assert loaded.dates is not None and f"{order}-first" in loaded.dates
    assert "/yy)" in loaded.dates
    pq.write_table(pa.table({"case_id": ["c0", "c0", "c1", "c1"], "activity": list("abab"),
                             "timestamp": times}), tmp_path / "log.parquet")
    other = connect()
    load_event_log(other, tmp_path / "log.parquet")
    assert _times(other) == want


@pytest.mark.parametrize("kind", ["log.csv", "log.parquet"])
def test_a_time_duckdbs_cast_puts_before_the_year_1000_is_a_bad_row(
        tmp_path: Path, kind: str) -> None:
    """DuckDB's ISO cast takes a first part of one to three digits as the year: after ISO
    dates, ``29/02/16`` (the year 29), ``16-02-29`` (16) and ``1/2/3`` (1) are bad rows,
    named, on the one-pass read and the staged one; so is a log of dashed short years, whose
    order no value can tell from ISO's (16-02-29 is also 2016-02-29)."""
    times = ["2016-02-29 09:30", "29/02/16 09:30", "16-02-29 10:00", "1/2/3",
             "2016-03-01 10:00"]
    if kind == "log.csv":
        path = _log(tmp_path, times)
    else:
        path = tmp_path / kind
        pq.write_table(pa.table({"case_id": [f"c{i // 2}" for i in range(5)],
                                 "activity": list("ababa"), "timestamp": times}), path)
    problems = _refused(connect(), path)
    assert [(p.row, p.value) for p in problems] == [(2, "29/02/16 09:30"),
                                                     (3, "16-02-29 10:00"), (4, "1/2/3")]
    assert all(p.message.startswith("is not a valid date") for p in problems)
    dashed = _log(tmp_path, ["29-02-16 09:30", "01-03-16 10:00"], "dashed.csv")
    assert [p.row for p in _refused(connect(), dashed)] == [1, 2]


def test_dates_told_only_after_the_first_mib_are_read_as_the_whole_log_tells(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """60,000 dates whose first MiB tells no order, then one with a day over 12: the whole
    column is asked, and the log is read day-first."""
    times = [f"{1 + i % 12:02d}/0{1 + i % 9}/2016 10:00" for i in range(60_000)]
    path = _log(tmp_path, [*times, "29/02/2016 10:00"])
    assert path.stat().st_size > 2**20
    loaded = load_event_log(con, path, ordered=False, canonical=False)
    assert loaded.dates is not None and "as row 60001 shows ('29/02/2016 10:00')" in loaded.dates
    assert _times(con)[:2] == [datetime(2016, 1, 1, 10, 0), datetime(2016, 2, 2, 10, 0)]


def test_start_times_on_the_one_pass_read_take_the_completions_form(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "disco.csv"
    path.write_text("case_id,activity,start_timestamp,timestamp\n"
                    "c,a,2/28/2016 1:00 PM,2/28/2016 1:16 PM\nc,b,2/29/2016 8:00 AM,"
                    "2/29/2016 9:05 AM\n", encoding="utf-8")
    load_event_log(con, path, ordered=False, canonical=False)
    assert _one_pass(con)
    assert _events(con, "timestamp, lifecycle") == [
        (datetime(2016, 2, 28, 13, 0), "start"), (datetime(2016, 2, 28, 13, 16), "complete"),
        (datetime(2016, 2, 29, 8, 0), "start"), (datetime(2016, 2, 29, 9, 5), "complete")]


def test_an_offset_after_a_space_is_read(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """Java's ``yyyy-MM-dd HH:mm:ss Z`` writes the offset after a space, which DuckDB's cast
    refuses: it is read as the same time with the offset joined (before session 28: a
    --time-format was needed)."""
    path = _log(tmp_path, ["2016-02-29 01:16:05 +0100", "2016-02-29 09:00:00 -05:00",
                           "2016-03-01 10:00:00 +01", "2016-03-01 10:00:00"])
    read_event_log(con, path)
    assert _times(con) == [datetime(2016, 2, 29, 0, 16, 5), datetime(2016, 2, 29, 14, 0),
                           datetime(2016, 3, 1, 9, 0), datetime(2016, 3, 1, 10, 0)]
    bad = _log(tmp_path, ["2016-02-29 01:16:05 +0100", "2016-02-29 09:00:00 +01:00:00"], "b.csv")
    assert [(p.row, p.value) for p in _refused(connect(), bad)] == [
        (2, "2016-02-29 09:00:00 +01:00:00")]


def test_quoted_fields_and_line_breaks_in_them_do_not_hide_what_the_dates_tell(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """Exports quote free text (a description with commas, quotes, line breaks): the first
    MiB is read record by record, so the log still takes the one-pass read, and the row that
    told the order is a data row, not a line."""
    path = tmp_path / "quoted.csv"
    path.write_text('case_id,note,activity,timestamp\nc0,"a, ""b""",a,3/1/2016 9:05 AM\n'
                    'c0,"line\nbreak",b,3/1/2016 12:30 PM\nc1,x,a,2/29/2016 11:59 PM\n'
                    "c1,,b,3/2/2016 8:00 AM\n", encoding="utf-8")
    loaded = load_event_log(con, path, ordered=False, canonical=False)
    assert _one_pass(con)
    assert loaded.dates is not None and "as row 3 shows ('2/29/2016 11:59 PM')" in loaded.dates
    assert _times(con) == [datetime(2016, 3, 1, 9, 5), datetime(2016, 3, 1, 12, 30),
                           datetime(2016, 2, 29, 23, 59), datetime(2016, 3, 2, 8, 0)]


def test_a_date_whose_two_parts_pass_12_tells_nothing_and_is_named(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """``13/13/2016`` is no date in either order: it does not tell both orders (which would
    refuse the whole log for a contradiction it does not hold), it is a bad row."""
    for kind in ("log.csv", "log.parquet"):   # the first MiB, and the whole column
        times = ["29/02/2016 01:16", "13/13/2016 09:05", "01/03/2016 10:00", "02/03/2016 10:00"]
        if kind == "log.csv":
            path = _log(tmp_path, times)
        else:
            path = tmp_path / kind
            pq.write_table(pa.table({"case_id": ["c0", "c0", "c1", "c1"],
                                     "activity": ["a", "b", "a", "b"], "timestamp": times}), path)
        problems = _refused(connect(), path)
        assert [(p.row, p.value) for p in problems] == [(2, "13/13/2016 09:05")]
        assert problems[0].message.startswith("is not a valid date: expected a day-first date")


@pytest.mark.parametrize(("times", "fmt"), [
    (["01-MAR-2016 09:30", "29-FEB-2016 23:05", "01-mar-2016 10:00"], "%d-%b-%Y %H:%M"),
    (["01/Mar/16 9:30 AM", "29/Feb/16 11:05 PM", "01/Mar/16 10:00 AM"], "%d/%b/%y %I:%M %p"),
    (["Mar 1, 2016 9:30:00 AM", "Feb 29, 2016 11:05:00 PM", "Mar 1, 2016 10:00:00 AM"],
     "%b %d, %Y %I:%M:%S %p"),
    (["1 March 2016 09:30", "29 February 2016 23:05", "1 March 2016 10:00"], "%d %B %Y %H:%M"),
    (["2016.03.01 09:30", "2016.02.29 23:05", "2016.03.01 10:00"], "%Y.%m.%d %H:%M"),
    (["Tue, 01 Mar 2016 10:30:00 +0100", "Mon, 29 Feb 2016 23:05:00 +0000",
      "Tue, 01 Mar 2016 05:00:00 -0500"], "%a, %d %b %Y %H:%M:%S %z")])
def test_times_whose_month_is_a_name_are_read_in_the_form_the_first_shows(
        con: duckdb.DuckDBPyConnection, tmp_path: Path, times: list[str], fmt: str) -> None:
    """Oracle, Jira, US and British long forms, e-mail's and year-first dots: a month name
    tells the order, so the first time's form is the log's, said on stderr; in one pass as
    staged (Parquet). Before session 29 each was refused, every row a problem."""
    path = tmp_path / "log.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["case_id", "activity", "timestamp"],
                                 *([f"c{i}", "a", t] for i, t in enumerate(times))])
    want = [datetime(2016, 3, 1, 9, 30), datetime(2016, 2, 29, 23, 5),
            datetime(2016, 3, 1, 10, 0)]
    loaded = load_event_log(con, path, ordered=False, canonical=False)
    assert _one_pass(con) == ("%z" not in fmt) and _times(con) == want
    assert loaded.dates == (f"timestamp: read in the form {fmt}, as row 1 shows "
                            f"({times[0]!r}); --time-format sets another")
    pq.write_table(pa.table({"case_id": ["c0", "c1", "c2"], "activity": ["a"] * 3,
                             "timestamp": times}), tmp_path / "log.parquet")
    other = connect()
    assert load_event_log(other, tmp_path / "log.parquet").dates == loaded.dates
    assert _times(other) == want


def test_a_time_in_another_form_than_the_first_named_one_is_a_bad_row(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = _log(tmp_path, ["01-MAR-2016 09:30", "2016-03-01 10:00", "02-MAR-2016 11:00",
                           "next tuesday"])
    problems = _refused(con, path)
    assert [(p.row, p.value) for p in problems] == [(2, "2016-03-01 10:00"),
                                                     (4, "next tuesday")]
    assert problems[0].message == ("is not a valid date: expected a date in the format "
                                   "%d-%b-%Y %H:%M")


@pytest.mark.parametrize("kind", ["log.csv", "typed.parquet"])
def test_times_outside_the_packages_dates_range_are_named_as_in_a_package(
        tmp_path: Path, kind: str) -> None:
    """Excel's day zero (1899-12-30) and an open end's 9999-12-31 parse, but lead times from
    them mean nothing: named as a package's dates are (1900–2200, ``bounds.py``), in a CSV
    read in one pass and in typed Parquet; ``--skip-bad-rows`` leaves them out. Before
    session 29 a log kept them (a lead time of 8,000 years)."""
    times = ["2016-02-29 09:30", "1899-12-30 00:00", "2016-03-01 10:00", "9999-12-31 23:59:59"]
    if kind == "log.csv":
        path = _log(tmp_path, times)
    else:
        path = tmp_path / kind
        pq.write_table(pa.table({"case_id": ["c0", "c0", "c1", "c1"], "activity": list("abab"),
                                 "timestamp": pa.array([datetime.fromisoformat(t)
                                                        for t in times])}), path)
    problems = _refused(connect(), path)
    assert [(p.row, p.field) for p in problems] == [(2, "timestamp"), (4, "timestamp")]
    assert all(p.message == "must be a date between 1900-01-01 and 2200-12-31"
               for p in problems)
    con = connect()
    loaded = load_event_log(con, path, LogMapping(skip_bad_rows=True))
    assert loaded.skipped == 2
    assert _times(con) == [datetime(2016, 2, 29, 9, 30), datetime(2016, 3, 1, 10, 0)]


def test_a_start_time_outside_the_range_is_named_too(con: duckdb.DuckDBPyConnection,
                                                     tmp_path: Path) -> None:
    path = tmp_path / "disco.csv"
    path.write_text("case_id,activity,start_timestamp,timestamp\nc,a,1899-12-30 00:00,"
                    "2016-02-28 13:16\nc,b,2016-02-29 08:00,2016-02-29 09:05\n", encoding="utf-8")
    [p] = _refused(con, path)
    assert (p.row, p.field, p.value) == (1, "start_timestamp", "1899-12-30 00:00")
    assert p.message == "must be a date between 1900-01-01 and 2200-12-31"
