"""Reading event logs into the canonical events table: CSV, gzip CSV, Parquet and XES, real
files in a temporary folder and a real DuckDB; bad logs give precise problems and no table."""

from __future__ import annotations

import csv
import gzip
import tempfile
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dipstick.engine.logs_sql import LIFECYCLE_EXPECTED
from dipstick.engine.sql import connect
from dipstick.errors import PackageError, Problem, UsageError
from dipstick.streams.logs import LogInfo, LogMapping, load_event_log, read_event_log
from dipstick.textfile import encoding_of, head

from realdata import SERVICENOW_LOG, require

REAL_LOG = SERVICENOW_LOG
SERVICENOW = LogMapping(case_id="number", activity="incident_state", timestamp="sys_updated_at",
                        dayfirst=True, seq="sys_mod_count", resource="assignment_group")
COLUMNS = ["case_id", "activity", "timestamp", "lifecycle", "resource", "process", "service",
           "seq", "_row"]


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    return connect()


def _write(path: Path, text: str) -> Path:
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _rows(con: duckdb.DuckDBPyConnection, table: str = "events") -> list[dict[str, object]]:
    rel = con.execute(f"SELECT * FROM {table} ORDER BY _row")
    names = [d[0] for d in rel.description]
    return [dict(zip(names, r, strict=True)) for r in rel.fetchall()]


def _problems(con: duckdb.DuckDBPyConnection, path: Path,
              mapping: LogMapping = LogMapping()) -> list[Problem]:
    with pytest.raises(PackageError) as e:
        read_event_log(con, path, mapping)
    assert _tables(con) == set(), "nothing may be created from a bad log"
    return e.value.problems


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() UNION ALL "
                                      "SELECT view_name FROM duckdb_views() WHERE NOT internal"
                                      ).fetchall()}


# --- CSV and Parquet ---------------------------------------------------------------------------

def test_csv_with_a_mapping(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    log = _write(tmp_path / "log.csv",
                 "Ticket,Step,When,Who,Phase,Flow,App,extra\n"
                 "T1,Triage,2026-03-01 09:00,ann,START,incident,mail,x\n"
                 "T1,Triage,2026-03-01T09:30:00+01:00,ann,complete,incident,mail,y\n"
                 "T2,Fix,2026-03-02,,,,,z\n")
    mapping = LogMapping(case_id="Ticket", activity="Step", timestamp="When", resource="Who",
                         lifecycle="Phase", process="Flow", service="App")
    info = read_event_log(con, log, mapping, table="log")
    assert info == LogInfo("log", "csv", rows=3, cases=2, first=datetime(2026, 3, 1, 8, 30),
                           last=datetime(2026, 3, 2), dropped=0)
    assert [c[0] for c in con.execute("DESCRIBE log").fetchall()] == COLUMNS
    assert _rows(con, "log") == [
        {"case_id": "T1", "activity": "Triage", "timestamp": datetime(2026, 3, 1, 9),
         "lifecycle": "start", "resource": "ann", "process": "incident", "service": "mail",
         "seq": 1, "_row": 1},
        {"case_id": "T1", "activity": "Triage", "timestamp": datetime(2026, 3, 1, 8, 30),
         "lifecycle": "complete", "resource": "ann", "process": "incident", "service": "mail",
         "seq": 2, "_row": 2},
        {"case_id": "T2", "activity": "Fix", "timestamp": datetime(2026, 3, 2),
         "lifecycle": None, "resource": None, "process": None, "service": None,
         "seq": 3, "_row": 3}]


def test_canonical_columns_need_no_mapping(con: duckdb.DuckDBPyConnection,
                                           tmp_path: Path) -> None:
    log = _write(tmp_path / "events.csv",
                 "case_id,activity,timestamp,lifecycle,resource,service,process,seq\n"
                 "c1,a,2026-03-01T10:00:00Z,complete,bob,web,incident,9\n")
    read_event_log(con, log)
    [row] = _rows(con)
    assert ((row["lifecycle"], row["resource"], row["service"], row["process"], row["seq"])
            == ("complete", "bob", "web", "incident", 9))


# A Helpdesk-shaped export (Disco's headers, slashed times with milliseconds) and pm4py's CSV
# export of an XES log: the same three events, so the same canonical rows
_KNOWN_EXPORTS = {
    "helpdesk.csv": ("Case ID,Activity,Resource,Complete Timestamp,Variant,Variant index\n"
                     "Case 1,Assign seriousness,Value 1,2012/10/09 14:50:17.000,Variant 2,2\n"
                     "Case 1,Take in charge ticket,Value 2,2012/10/09 14:51:01.000,Variant 2,2\n"
                     "Case 2,Assign seriousness,Value 1,2012/10/10 08:00:00.000,Variant 3,3\n"),
    "pm4py.csv": ("case:concept:name,concept:name,time:timestamp,org:resource,"
                  "lifecycle:transition\n"
                  "Case 1,Assign seriousness,2012-10-09 14:50:17+00:00,Value 1,complete\n"
                  "Case 1,Take in charge ticket,2012-10-09 14:51:01+00:00,Value 2,complete\n"
                  "Case 2,Assign seriousness,2012-10-10 08:00:00+00:00,Value 1,complete\n")}


@pytest.mark.parametrize("name", sorted(_KNOWN_EXPORTS))
def test_common_export_headers_need_no_mapping(con: duckdb.DuckDBPyConnection, tmp_path: Path,
                                               name: str) -> None:
    """What other tools call the case, activity, time and resource is read without options;
    pm4py's ``lifecycle:transition`` is left unread (a state log), as a sub-state there would
    otherwise be an error."""
    read_event_log(con, _write(tmp_path / name, _KNOWN_EXPORTS[name]))
    assert [(r["case_id"], r["activity"], r["timestamp"], r["resource"], r["lifecycle"])
            for r in _rows(con)] == [
        ("Case 1", "Assign seriousness", datetime(2012, 10, 9, 14, 50, 17), "Value 1", None),
        ("Case 1", "Take in charge ticket", datetime(2012, 10, 9, 14, 51, 1), "Value 2", None),
        ("Case 2", "Assign seriousness", datetime(2012, 10, 10, 8), "Value 1", None)]


def test_known_headers_in_parquet_and_their_order(con: duckdb.DuckDBPyConnection,
                                                  tmp_path: Path) -> None:
    """A Parquet log names its columns as pm4py does; where a file has several names of one
    field, the canonical one wins, then the first known header (``case:concept:name`` before
    ``Case``)."""
    log = tmp_path / "log.parquet"
    pq.write_table(pa.table({"Case": ["x"], "case:concept:name": ["c1"],
                             "concept:name": ["a"], "Activity Name": ["b"],
                             "time:timestamp": [datetime(2026, 3, 1, 9)],
                             "Timestamp": ["2026-03-02 10:00"]}), log)
    loaded = load_event_log(con, log)
    [row] = _rows(con)
    assert (row["case_id"], row["activity"], row["timestamp"]) == (
        "c1", "a", datetime(2026, 3, 2, 10))
    assert loaded.known == (("case_id", "case:concept:name"), ("activity", "concept:name"))
    named = load_event_log(con, log, LogMapping(case_id="case:concept:name"), table="named")
    assert named.known == (("activity", "concept:name"),), "a field named is not a guess"


def test_a_field_mapped_elsewhere_takes_no_known_header(con: duckdb.DuckDBPyConnection,
                                                        tmp_path: Path) -> None:
    """``--case Ticket`` means that column: a file without it is an error even when it has a
    ``Case ID``; a field left at its default that no header matches names what was tried."""
    log = _write(tmp_path / "log.csv", "Case ID,Step,When\nc,a,2026-03-01\n")
    [case] = _problems(con, log, LogMapping(case_id="Ticket", activity="Step", timestamp="When"))
    assert case.field == "Ticket" and "names tried" not in case.message
    activity, timestamp = _problems(con, log)
    assert (activity.field, timestamp.field) == ("activity", "timestamp")
    assert activity.message.endswith(
        "(columns found: Case ID, Step, When; names tried: activity, concept:name, "
        "Activity Name)")
    assert "names tried: timestamp, time:timestamp, Complete Timestamp, End Timestamp" in \
        timestamp.message


_LATIN1 = "case_id,activity,timestamp\nc1,Prüfung,2026-03-01 10:00\nc1,Abschluß,2026-03-01 11:00\n"


@pytest.mark.parametrize(("name", "codec"), [("log.csv", "latin-1"), ("log.csv.gz", "latin-1"),
                                             ("log.csv", "utf-16")])
def test_a_windows_export_is_read_in_its_encoding(con: duckdb.DuckDBPyConnection,
                                                  tmp_path: Path, name: str, codec: str) -> None:
    """A Windows export in Latin-1 (no UTF-8 in its first MiB), or in UTF-16 (Excel's "Unicode
    text", with its byte-order mark) reads without options, as the importer reads one;
    ``encoding`` names it when the guess would be wrong."""
    data = _LATIN1.encode(codec)
    log = tmp_path / name
    log.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    read_event_log(con, log)
    assert [r["activity"] for r in _rows(con)] == ["Prüfung", "Abschluß"]
    read_event_log(con, log, LogMapping(encoding=codec.replace("-", "")))
    assert [r["activity"] for r in _rows(con)] == ["Prüfung", "Abschluß"]
    with pytest.raises(UsageError, match="'ebcdic' is not supported"):
        read_event_log(con, log, LogMapping(encoding="ebcdic"))


def test_the_direct_read_of_latin1_equals_the_staged_read(con: duckdb.DuckDBPyConnection,
                                                          tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_bytes(_LATIN1.encode("latin-1"))
    assert _direct(con, log, LogMapping())
    assert [r["activity"] for r in _rows(con, "fast")] == ["Prüfung", "Abschluß"]
    assert _rows(con, "fast") == _staged_rows(con, log, LogMapping())


# What Excel on Windows writes in Western Europe: Windows-1252, whose 0x80–0x9F (€, dashes,
# typographic quotes) DuckDB's Latin-1 reader refused ("File is not latin-1 encoded")
_WINDOWS = ("case_id,activity,timestamp\nc1,Prüfung – 5 €,2026-03-01 10:00\n"
            "c1,„Abschluß“ ’s,2026-03-01 11:00\n")
_WINDOWS_STEPS = ["Prüfung – 5 €", "„Abschluß“ ’s"]


@pytest.mark.parametrize(("name", "data"), [
    ("log.csv", _WINDOWS.encode("cp1252")),
    ("log.csv.gz", gzip.compress(_WINDOWS.encode("cp1252"))),
    ("log.csv", _WINDOWS.encode("utf-16")),                       # little-endian, its mark
    ("log.csv", b"\xfe\xff" + _WINDOWS.encode("utf-16-be")),      # big-endian, its mark
    ("log.csv", _WINDOWS.encode("utf-16-le")),                    # no mark
    ("log.csv", _WINDOWS.encode("utf-16-be")),                    # no mark
], ids=["cp1252", "cp1252-gz", "utf16", "utf16be", "utf16le-unmarked", "utf16be-unmarked"])
def test_windows_1252_and_utf16_in_either_byte_order_read_without_options(
        con: duckdb.DuckDBPyConnection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        name: str, data: bytes) -> None:
    """DuckDB refused Windows-1252 with a byte in 0x80–0x9F, read big-endian UTF-16 as nothing
    and unmarked UTF-16 as NUL-ridden names; each now reads as the text it holds (a UTF-8
    copy where DuckDB cannot read it, removed once the log is in its table), as the staged
    path and the direct read alike."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    log = tmp_path / name
    log.write_bytes(data)
    read_event_log(con, log)
    assert [r["activity"] for r in _rows(con)] == _WINDOWS_STEPS
    read_event_log(con, log, LogMapping(missing=("NA",)))   # the staged path
    assert [r["activity"] for r in _rows(con)] == _WINDOWS_STEPS
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize("given", ["latin-1", "windows-1252", "iso-8859-1"])
def test_a_latin1_label_reads_windows_1252(con: duckdb.DuckDBPyConnection, tmp_path: Path,
                                           given: str) -> None:
    """Every Latin-1 label means Windows-1252, as the web's encoding standard reads them: the
    control characters Latin-1 has in 0x80–0x9F are in no export. Its five unassigned bytes
    are the code points of their number, as Windows decodes them, not a refusal."""
    log = tmp_path / "log.csv"
    log.write_bytes(_WINDOWS.encode("cp1252").replace(b"5 \x80", b"5 \x81"))
    read_event_log(con, log, LogMapping(encoding=given))
    assert [r["activity"] for r in _rows(con)] == ["Prüfung – 5 \x81", _WINDOWS_STEPS[1]]


def test_a_bad_value_in_a_copied_log_names_the_file_and_its_line(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """The UTF-8 copy has the file's lines: a problem names the file given and its line."""
    log = tmp_path / "log.csv"
    log.write_bytes((_WINDOWS + "c1,Schluss €,yesterday\n").encode("cp1252"))
    [p] = _problems(con, log)
    assert (p.file, p.line, p.field, p.value) == (str(log), 4, "timestamp", "yesterday")


def test_utf16_that_does_not_decode_names_its_line(con: duckdb.DuckDBPyConnection,
                                                   tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_bytes(b"\xfe\xff" + _WINDOWS.encode("utf-16-be") + b"\xd8\x00\x00a\x00\n")
    [p] = _problems(con, log)
    assert (p.file, p.line) == (str(log), 4)
    assert "is not UTF-16 text from line 4 on (illegal UTF-16 surrogate)" in p.message


@pytest.mark.parametrize("mapping", [LogMapping(), LogMapping(missing=("NA",))],
                         ids=["direct", "staged"])
def test_duckdb_out_of_memory_is_not_a_problem_of_the_log(tmp_path: Path,
                                                          mapping: LogMapping) -> None:
    """Under a memory bound too small to read the file, DuckDB's out-of-memory error comes out
    as itself (the command's exit 3, naming DIPSTICK_MEMORY_LIMIT), not as "cannot be read
    as CSV" (exit 2, the log's fault), on the direct read and the staged one; nothing made."""
    rows = "".join(f"c{i // 8},Step {i % 8},2026-03-01 10:{i % 60:02d}\n" for i in range(40_000))
    log = _write(tmp_path / "log.csv", f"case_id,activity,timestamp\n{rows}")   # ~1.2 MB
    con = connect(memory_limit="2MB")
    with pytest.raises(duckdb.OutOfMemoryException):
        read_event_log(con, log, mapping)
    assert _tables(con) == set()


def test_encodings_are_told_from_a_sample() -> None:
    header = "case_id,activity,timestamp\n"
    assert encoding_of(header.encode("utf-16-le")) == "utf-16"
    assert encoding_of(header.encode("utf-16-be")) == "utf-16-be"
    assert encoding_of(b"\xfe\xff" + header.encode("utf-16-be")) == "utf-16-be"
    assert encoding_of(header.encode("utf-16")) == "utf-16"
    assert encoding_of("Prüfung – 5 €\n".encode("cp1252")) == "latin-1"
    assert encoding_of("Prüfung – 5 €\n".encode()) == "utf-8"
    assert encoding_of(b"a,b\n1,\x00\n") == "utf-8"   # a stray NUL is no UTF-16


def test_bytes_that_are_not_utf8_past_the_first_mib_name_their_line(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """The first MiB decides the encoding; a Latin-1 line after it is a problem naming that
    line and the option (it was DuckDB's "CSV Error on Line" pointing at the header), and
    nothing is created. Named, the encoding reads it."""
    rows = "".join(f"c{i},Prüfung,2026-03-01 10:00\n" for i in range(40_000))
    log = tmp_path / "log.csv"
    log.write_bytes(f"case_id,activity,timestamp\n{rows}".encode()
                    + "c9,Abschluß,2026-03-01 11:00\n".encode("latin-1"))
    [p] = _problems(con, log)
    assert p.line == 40_002 and p.file == str(log)
    assert "not UTF-8 text from line 40,002 on (byte 0xdf)" in p.message
    assert "--encoding latin-1" in p.message
    read_event_log(con, log, LogMapping(encoding="latin-1"))
    assert _rows(con)[-1]["activity"] == "Abschluß"


@pytest.mark.parametrize("sep", [";", "\t"])
def test_other_delimiters_are_sniffed(con: duckdb.DuckDBPyConnection, tmp_path: Path,
                                      sep: str) -> None:
    """A header is first split on commas (no sniffing of the file); another delimiter goes to
    DuckDB's sniffer, as before, and a comma inside a value stays in it."""
    text = "\n".join(sep.join(r) for r in (["case_id", "activity", "timestamp", "resource"],
                                           ["c1", "a,b", "2026-03-01 10:00", "bob"],
                                           ["c1", "c", "2026-03-01 11:00", "ann"])) + "\n"
    read_event_log(con, _write(tmp_path / "log.csv", text))
    assert [(r["activity"], r["resource"]) for r in _rows(con)] == [("a,b", "bob"), ("c", "ann")]


@pytest.mark.parametrize(("name", "kind"), [("log.tsv", "csv"), ("log.txt", "csv"),
                                             ("log.tsv.gz", "csv.gz"), ("LOG.TSV", "csv")])
def test_tab_separated_logs_by_other_names_are_read_as_csv(
        con: duckdb.DuckDBPyConnection, tmp_path: Path, name: str, kind: str) -> None:
    """Exports save tab-separated text as .tsv or .txt: read as CSV (the delimiter sniffed);
    before session 29 refused as no event log."""
    log = _write(tmp_path / name, "case_id\tactivity\ttimestamp\nc1\ta\t2026-03-01 10:00\n"
                                  "c1\tb\t2026-03-01 11:00\n")
    info = read_event_log(con, log)
    assert (info.format, info.rows, info.cases) == (kind, 2, 1)
    with pytest.raises(PackageError) as e:
        read_event_log(con, _write(tmp_path / "log.xlsx", "x"))
    assert "use .csv, .csv.gz, .tsv, .txt, .parquet, .xes or .xes.gz" in e.value.problems[0].message


def test_gzip_csv(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    log = _write(tmp_path / "log.csv.gz", "case_id,activity,timestamp\nc1,a,2026-03-01 10:00\n"
                                          "c1,b,2026-03-01 11:00\n")
    info = read_event_log(con, log)
    assert (info.format, info.rows, info.cases) == ("csv.gz", 2, 1)


def test_parquet_with_typed_and_zoned_timestamps(con: duckdb.DuckDBPyConnection,
                                                 tmp_path: Path) -> None:
    zoned = pa.array([datetime(2026, 3, 1, 10), datetime(2026, 3, 1, 12)],
                     pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us", tz="Europe/Paris"))
    pq.write_table(pa.table({"case": ["c1", "c1"], "activity": ["a", "b"], "at": zoned,
                             "n": pa.array([7, 3], pa.int32())}), tmp_path / "log.parquet")
    info = read_event_log(con, tmp_path / "log.parquet",
                          LogMapping(case_id="case", timestamp="at", seq="n"))
    assert info.format == "parquet"
    assert [(r["timestamp"], r["seq"], r["_row"]) for r in _rows(con)] == [
        (datetime(2026, 3, 1, 10), 7, 1), (datetime(2026, 3, 1, 12), 3, 2)]


def test_parquet_text_timestamps_are_parsed_like_csv(con: duckdb.DuckDBPyConnection,
                                                     tmp_path: Path) -> None:
    pq.write_table(pa.table({"case_id": ["c1"], "activity": ["a"],
                             "timestamp": ["2026-03-01T10:30:00+02:00"]}), tmp_path / "l.parquet")
    read_event_log(con, tmp_path / "l.parquet")
    assert _rows(con)[0]["timestamp"] == datetime(2026, 3, 1, 8, 30)


def test_day_first_dates_without_zero_padding(con: duckdb.DuckDBPyConnection,
                                              tmp_path: Path) -> None:
    log = _write(tmp_path / "log.csv", "case_id,activity,timestamp\nc,a,29/2/2016 01:16\n"
                                       "c,b,1/3/2016 9:05\nc,c,12/3/2016 23:59:30\n")
    read_event_log(con, log, LogMapping(dayfirst=True))
    assert [r["timestamp"] for r in _rows(con)] == [
        datetime(2016, 2, 29, 1, 16), datetime(2016, 3, 1, 9, 5), datetime(2016, 3, 12, 23, 59, 30)]


def test_day_first_dates_with_dots_or_dashes(con: duckdb.DuckDBPyConnection,
                                            tmp_path: Path) -> None:
    """German and Nordic exports write 29.02.2016, Dutch ones 29-02-2016: day first too; one
    separator per date, and an ISO date is not a day-first one."""
    log = _write(tmp_path / "log.csv", "case_id,activity,timestamp\nc,a,29.02.2016 01:16\n"
                                       "c,b,1-3-2016 9:05:30\nc,c,12.3.2016\n")
    read_event_log(con, log, LogMapping(dayfirst=True))
    assert [r["timestamp"] for r in _rows(con)] == [
        datetime(2016, 2, 29, 1, 16), datetime(2016, 3, 1, 9, 5, 30), datetime(2016, 3, 12)]
    mixed = _write(tmp_path / "m.csv", "case_id,activity,timestamp\nc,a,29.02/2016\n"
                                       "c,b,2016-03-01\n")
    problems = _problems(connect(), mixed, LogMapping(dayfirst=True))
    assert [p.value for p in problems] == ["29.02/2016", "2016-03-01"]
    assert "29.02.2016 01:16" in problems[0].message


def test_an_explicit_time_format(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    log = _write(tmp_path / "log.csv", "case_id,activity,timestamp\nc,a,01.03.2026 07:45\n")
    read_event_log(con, log, LogMapping(timestamp_format="%d.%m.%Y %H:%M"))
    assert _rows(con)[0]["timestamp"] == datetime(2026, 3, 1, 7, 45)


def test_question_mark_is_a_missing_value(con: duckdb.DuckDBPyConnection,
                                          tmp_path: Path) -> None:
    log = _write(tmp_path / "log.csv", "case_id,activity,timestamp,group\n"
                                       "c,a,2026-03-01,?\nc,b,2026-03-02,Group 5\n")
    read_event_log(con, log, LogMapping(resource="group"))
    assert [r["resource"] for r in _rows(con)] == [None, "Group 5"]


def test_seq_from_a_mapped_column_or_the_file_order(con: duckdb.DuckDBPyConnection,
                                                    tmp_path: Path) -> None:
    log = _write(tmp_path / "log.csv", "case_id,activity,timestamp,mods\n"
                                       "c,b,2026-03-01 10:00,4\nc,a,2026-03-01 10:00,2\n"
                                       "d,a,2026-03-01 10:00,0\n")
    read_event_log(con, log)
    assert [r["seq"] for r in _rows(con)] == [1, 2, 3]
    read_event_log(con, log, LogMapping(seq="mods"))
    assert [r["seq"] for r in _rows(con)] == [4, 2, 0]


def test_the_callers_time_zone_does_not_shift_times(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'America/New_York'")
    log = _write(tmp_path / "log.csv", "case_id,activity,timestamp\nc,a,2026-03-01 10:00\n"
                                       "c,b,2026-03-01T10:00:00+02:00\n")
    read_event_log(con, log)
    assert [r["timestamp"] for r in _rows(con)] == [datetime(2026, 3, 1, 10),
                                                     datetime(2026, 3, 1, 8)]
    assert con.execute("SELECT current_setting('TimeZone')").fetchone() == ("America/New_York",)


# --- XES ---------------------------------------------------------------------------------------

XES = """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1.0" xmlns="http://www.xes-standard.org/">
  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
  <global scope="event"><string key="concept:name" value="__INVALID__"/></global>
  <string key="concept:name" value="Purchasing"/>
  <trace>
    <string key="concept:name" value="order-1"/>
    <event>
      <string key="concept:name" value="Approve"/>
      <string key="lifecycle:transition" value="schedule"/>
      <date key="time:timestamp" value="2026-03-01T08:00:00.000+02:00"/>
    </event>
    <event>
      <string key="concept:name" value="Approve"/>
      <string key="org:resource" value="Kim"/>
      <string key="lifecycle:transition" value="start"/>
      <date key="time:timestamp" value="2026-03-01T09:00:00.000+02:00"/>
      <int key="cost" value="3"/>
    </event>
    <event>
      <string key="concept:name" value="Approve"/>
      <string key="lifecycle:transition" value="complete"/>
      <date key="time:timestamp" value="2026-03-01T09:30:00.000+02:00"/>
    </event>
  </trace>
  <trace>
    <string key="concept:name" value="order-2"/>
    <event>
      <string key="concept:name" value="Pay"/>
      <date key="time:timestamp" value="2026-03-02T10:00:00Z"/>
    </event>
  </trace>
</log>
"""


@pytest.mark.parametrize("name", ["log.xes", "log.xes.gz"])
def test_xes(con: duckdb.DuckDBPyConnection, tmp_path: Path, name: str) -> None:
    info = read_event_log(con, _write(tmp_path / name, XES))
    assert info == LogInfo("events", name[4:], rows=3, cases=2, first=datetime(2026, 3, 1, 7),
                           last=datetime(2026, 3, 2, 10), dropped=1)
    assert _rows(con) == [
        {"case_id": "order-1", "activity": "Approve", "timestamp": datetime(2026, 3, 1, 7),
         "lifecycle": "start", "resource": "Kim", "process": "Purchasing", "service": None,
         "seq": 2, "_row": 2},
        {"case_id": "order-1", "activity": "Approve", "timestamp": datetime(2026, 3, 1, 7, 30),
         "lifecycle": "complete", "resource": None, "process": "Purchasing", "service": None,
         "seq": 3, "_row": 3},
        {"case_id": "order-2", "activity": "Pay", "timestamp": datetime(2026, 3, 2, 10),
         "lifecycle": None, "resource": None, "process": "Purchasing", "service": None,
         "seq": 4, "_row": 4}]


def test_xes_without_namespace_and_many_traces(con: duckdb.DuckDBPyConnection,
                                               tmp_path: Path) -> None:
    traces = "".join(f'<trace><string key="concept:name" value="c{i}"/><event>'
                     f'<string key="concept:name" value="a"/>'
                     f'<date key="time:timestamp" value="2026-03-01T10:00:00"/></event></trace>'
                     for i in range(70_000))
    info = read_event_log(con, _write(tmp_path / "big.xes", f"<log>{traces}</log>"))
    assert (info.rows, info.cases, info.dropped) == (70_000, 70_000, 0)


# --- bad logs ----------------------------------------------------------------------------------

def test_missing_mapped_column_lists_the_columns_found(con: duckdb.DuckDBPyConnection,
                                                       tmp_path: Path) -> None:
    log = _write(tmp_path / "log.csv", "case,activity,time\nc,a,2026-03-01\n")
    problems = _problems(con, log, LogMapping(case_id="case"))
    [p] = problems
    assert (p.file, p.field) == (str(log), "timestamp")
    assert "mapped as timestamp is missing" in p.message
    assert "columns found: case, activity, time" in p.message


def test_unparseable_timestamp(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    log = _write(tmp_path / "log.csv", "case_id,activity,timestamp\nc,a,2026-03-01\n"
                                       "c,b,next tuesday\n")
    [p] = _problems(con, log)
    assert (p.row, p.line, p.field, p.value) == (2, 3, "timestamp", "next tuesday")
    assert "ISO 8601" in p.message
    p, _ = _problems(con, log, LogMapping(dayfirst=True))
    assert (p.row, p.value) == (1, "2026-03-01")
    assert "d/m/yyyy" in p.message
    short = _write(tmp_path / "y.csv", "case_id,activity,timestamp\nc,a,1/3/16 9:05\n")
    read_event_log(con, short, LogMapping(dayfirst=True))
    assert con.execute("SELECT timestamp FROM events").fetchall() == [
        (datetime(2016, 3, 1, 9, 5),)], "a two-digit year is 2016, not the year 16"


def test_empty_case_id_and_activity(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    log = _write(tmp_path / "log.csv", "case_id,activity,timestamp\n,a,2026-03-01\n"
                                       "c,?,2026-03-01\n")
    found = {(p.row, p.line, p.field, p.message) for p in _problems(con, log)}
    assert found == {(1, 2, "case_id", "is required but empty"),
                     (2, 3, "activity", "is required but empty")}


def test_bad_lifecycle_and_seq(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    log = _write(tmp_path / "log.csv", "case_id,activity,timestamp,lc,n\n"
                                       "c,a,2026-03-01,schedule,1\nc,a,2026-03-01,start,1.5\n")
    found = {(p.row, p.field, p.value, p.message)
             for p in _problems(con, log, LogMapping(lifecycle="lc", seq="n"))}
    assert found == {(1, "lc", "schedule", LIFECYCLE_EXPECTED),
                     (2, "n", "1.5", "is not a whole number")}
    assert LIFECYCLE_EXPECTED.startswith("must be start or complete (")
    loaded = load_event_log(con, log, LogMapping(lifecycle="lc", seq="n", skip_bad_rows=True))
    assert loaded.skipped == 2, "what the message offers: the rows left out"


def test_at_most_twenty_rows_per_problem_then_a_count(con: duckdb.DuckDBPyConnection,
                                                      tmp_path: Path) -> None:
    log = _write(tmp_path / "log.csv", "case_id,activity,timestamp\n"
                 + "c,a,soon\n" * 25)
    problems = _problems(con, log)
    assert [p.row for p in problems[:20]] == list(range(1, 21))
    assert "5 more rows" in problems[20].message and len(problems) == 21


def test_a_bad_log_leaves_the_existing_table_alone(con: duckdb.DuckDBPyConnection,
                                                   tmp_path: Path) -> None:
    read_event_log(con, _write(tmp_path / "ok.csv", "case_id,activity,timestamp\nc,a,2026-03-01\n"))
    with pytest.raises(PackageError):
        read_event_log(con, _write(tmp_path / "bad.csv", "case_id,activity,timestamp\nc,a,?\n"))
    assert len(_rows(con)) == 1
    assert _tables(con) == {"events"}


def test_xes_event_without_timestamp(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    log = _write(tmp_path / "log.xes", XES.replace(
        '<date key="time:timestamp" value="2026-03-01T09:30:00.000+02:00"/>', ""))
    [p] = _problems(con, log)
    assert (p.row, p.field) == (3, "time:timestamp")
    assert p.message == "trace 1 ('order-1'), event 3: has no time:timestamp"


def test_skip_bad_rows_leaves_out_the_events_with_a_problem(con: duckdb.DuckDBPyConnection,
                                                            tmp_path: Path) -> None:
    """``skip_bad_rows``: the rows a refusal would name are left out, counted and listed (the
    first of each kind); the others are read as they would be from a clean file."""
    log = _write(tmp_path / "log.csv", "case_id,activity,timestamp\nc1,a,2026-03-01 10:00\n"
                                       "c1,,2026-03-01 10:30\nc1,b,2026-03-01 11:00\n"
                                       "c2,a,next tuesday\n,a,2026-03-01 12:00\n"
                                       "c2,b,2026-03-02 09:00\n")
    refused = _problems(con, log)
    info = read_event_log(con, log, LogMapping(skip_bad_rows=True))
    assert (info.rows, info.cases, info.skipped) == (3, 2, 3)
    assert [(r["_row"], r["case_id"], r["activity"]) for r in _rows(con)] == [
        (1, "c1", "a"), (3, "c1", "b"), (6, "c2", "b")]
    loaded = load_event_log(con, log, LogMapping(skip_bad_rows=True), table="again")
    assert loaded.skipped == 3 and list(loaded.problems) == refused
    assert sorted(p.row or 0 for p in loaded.problems) == [2, 4, 5]


def test_skip_bad_rows_stages_an_untimed_xes_event_to_leave_it_out(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """An event without a time is a bad row like a CSV's; a lifecycle log's untimed
    ``schedule`` is still dropped for its transition, not skipped."""
    log = _write(tmp_path / "log.xes", XES.replace(
        '<date key="time:timestamp" value="2026-03-02T10:00:00Z"/>', ""))
    info = read_event_log(con, log, LogMapping(skip_bad_rows=True))
    assert (info.rows, info.dropped, info.skipped) == (2, 1, 1)
    both = _write(tmp_path / "both.xes", XES.replace(
        '<date key="time:timestamp" value="2026-03-01T08:00:00.000+02:00"/>', ""))
    info = read_event_log(con, both, LogMapping(skip_bad_rows=True))
    assert (info.rows, info.dropped, info.skipped) == (3, 1, 0)


def test_an_untimed_schedule_event_of_a_lifecycle_log_is_dropped_not_an_error(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    log = _write(tmp_path / "log.xes", XES.replace(
        '<date key="time:timestamp" value="2026-03-01T08:00:00.000+02:00"/>', ""))
    info = read_event_log(con, log)
    assert (info.rows, info.dropped) == (3, 1)


def test_xes_transitions_without_start_or_complete_are_states(con: duckdb.DuckDBPyConnection,
                                                              tmp_path: Path) -> None:
    """Sub-states in ``lifecycle:transition`` (BPI Challenge 2013): every event kept, in file
    order, with no lifecycle; a case-insensitive ``Complete`` would make it a lifecycle log."""
    states = XES.replace('value="start"', 'value="In Progress"').replace(
        'value="complete"', 'value="Wait - User"')
    info = read_event_log(con, _write(tmp_path / "states.xes", states))
    assert (info.rows, info.dropped) == (4, 0)
    rows = _rows(con)
    assert [r["lifecycle"] for r in rows] == [None] * 4
    assert [r["_row"] for r in rows] == [1, 2, 3, 4]
    mixed = states.replace('value="Wait - User"', 'value=" Complete "')
    info = read_event_log(con, _write(tmp_path / "mixed.xes", mixed))
    assert (info.rows, info.dropped) == (2, 2)
    assert [r["lifecycle"] for r in _rows(con)] == ["complete", None]


def test_an_untimed_sub_state_event_is_an_error(con: duckdb.DuckDBPyConnection,
                                                tmp_path: Path) -> None:
    states = XES.replace('value="start"', 'value="In Progress"').replace(
        'value="complete"', 'value="Wait - User"').replace(
        '<date key="time:timestamp" value="2026-03-01T09:30:00.000+02:00"/>', "")
    [p] = _problems(con, _write(tmp_path / "log.xes", states))
    assert (p.row, p.field) == (3, "time:timestamp")


def test_xes_bad_timestamp_names_trace_and_event(con: duckdb.DuckDBPyConnection,
                                                 tmp_path: Path) -> None:
    log = _write(tmp_path / "log.xes", XES.replace("2026-03-02T10:00:00Z", "yesterday"))
    [p] = _problems(con, log)
    assert (p.row, p.field, p.value) == (4, "time:timestamp", "yesterday")
    assert p.message.startswith("trace 2 (order-2), event 1: is not a valid date")


def test_xes_not_well_formed(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    log = _write(tmp_path / "log.xes", XES.replace("</trace>\n  <trace>", "</trace>\n  <trace"))
    [p] = _problems(con, log)
    assert p.message.startswith("is not valid XML: not well-formed") and p.line == 27


def test_not_an_xes_log(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    [p] = _problems(con, _write(tmp_path / "log.xes", "<html><body/></html>"))
    assert "not an XES log" in p.message


def test_unknown_format_and_missing_file(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    [p] = _problems(con, _write(tmp_path / "log.json", "{}"))
    assert "use .csv" in p.message
    [p] = _problems(con, tmp_path / "nope.csv")
    assert p.message == "file not found"


# --- the real ServiceNow export ----------------------------------------------------------------

def test_the_real_servicenow_log(con: duckdb.DuckDBPyConnection) -> None:
    info = read_event_log(con, require(REAL_LOG), SERVICENOW)
    with gzip.open(REAL_LOG, "rt", encoding="utf-8", newline="") as f:
        numbers = {row["number"] for row in csv.DictReader(f)}
    assert info.rows == 119_998
    assert info.cases == len(numbers)
    first = _rows(con)[0]
    assert (first["case_id"], first["activity"], first["timestamp"], first["resource"],
            first["seq"]) == ("INC0000045", "New", datetime(2016, 2, 29, 1, 23), "Group 56", 0)


# ---- the one-statement read of a clean CSV (logs_sql.load_csv_direct) -----------------------

def _staged_rows(con: duckdb.DuckDBPyConnection, path: Path,
                 mapping: LogMapping) -> list[dict[str, object]] | list[Problem]:
    """The staged path alone (stage as text, then type): what the direct read must equal."""
    from dipstick.engine import logs_sql
    from dipstick.engine.log_times import DMY, Slash
    from dipstick.streams.logs import _csv_header, _stage_table

    sample = head(path)
    enc = encoding_of(sample)
    with logs_sql.utc(con):
        staged = _stage_table(con, "_staged", path, str(path), mapping, False, enc,
                              _csv_header(sample, enc))
        problems, _ = logs_sql.load_events(con, staged, "slow", str(path), mapping.missing,
                                           mapping.timestamp_format,
                                           Slash(DMY) if mapping.dayfirst else None)
        logs_sql.drop(con, "_staged", False)
    return problems or _rows(con, "slow")


def _direct(con: duckdb.DuckDBPyConnection, path: Path, mapping: LogMapping) -> bool:
    from dipstick.engine import logs_sql
    from dipstick.streams.logs import _csv_header, _csv_line, _mapped

    sample = head(path)
    enc = encoding_of(sample)
    header = list(_csv_header(sample, enc) or {})
    columns, _ = _mapped(dict.fromkeys(header, "VARCHAR"), mapping, str(path))
    seq = columns.pop("seq", None)
    first = _csv_line(sample, 1, enc)
    sample = first[header.index(columns["timestamp"])] if first else None
    with logs_sql.utc(con):
        return logs_sql.load_csv_direct(con, path, header, columns, seq, "fast", mapping.missing,
                                        mapping.timestamp_format, True, sample, encoding=enc)


CLEAN = {
    "naive ISO, the strict form first": "case_id,activity,timestamp,seq\n"
        "A,New,2026-03-02 09:00:00,1\nA,Done,2026-03-02 10:30:15,2\nB,New,2026-03-02 09:00:00,0\n",
    "offsets, zones, fractions, dates after a naive first row":
        "case_id,activity,timestamp,seq\nA,New,2026-03-02 09:00:00,1\n"
        "A,Work,2026-03-02T10:00:00+01:00,2\nA,Wait,2026-03-02 11:00:00 Europe/Paris,3\n"
        "B,New,2026-03-02 09:00:00.25,+4\nB,Done,2026-03-03,5.0\n",
    "T separator and Z": "case_id,activity,timestamp\nA,New,2026-03-02T09:00:00\n"
        "A,Done,2026-03-02T09:30:00Z\n",
    "offset on the first row": "case_id,activity,timestamp\nA,New,2026-03-02 09:00:00-05:00\n"
        "A,Done,2026-03-02 18:00:00+02\n",
    "quotes, commas, CRLF, padded text, other columns":
        'id,case_id,note,activity,timestamp,lifecycle\r\n1,A,"a, b",New,2026-03-02 09:00,START\r\n'
        '2," A ","say ""hi""", Done ,2026-03-02 10:00, complete\r\n3,?x,"line\nbreak",Wait,'
        '2026-03-02 11:00,\r\n',
}


@pytest.mark.parametrize("name", list(CLEAN))
def test_the_direct_read_equals_the_staged_read(con: duckdb.DuckDBPyConnection, tmp_path: Path,
                                                name: str) -> None:
    """Every clean log the one-statement read takes gives the staged path's table, row for
    row: times with offsets and zones in UTC, the file order, texts and order values as typed
    by the staged rules."""
    path = _write(tmp_path / "log.csv", CLEAN[name])
    mapping = LogMapping(seq="seq" if "seq" in CLEAN[name].splitlines()[0] else None)
    assert _direct(con, path, mapping)
    assert _rows(con, "fast") == _staged_rows(con, path, mapping)


def test_the_direct_read_with_a_time_format(con: duckdb.DuckDBPyConnection,
                                            tmp_path: Path) -> None:
    path = _write(tmp_path / "log.csv.gz", "number,state,at,n\nINC1,New,29/02/2016 01:16,0\n"
                  "INC1,Closed,1/3/2016 9:05,1\nINC2,New,01/03/2016 10:00,2\n")
    mapping = LogMapping(case_id="number", activity="state", timestamp="at", seq="n",
                         timestamp_format="%d/%m/%Y %H:%M")
    assert _direct(con, path, mapping)
    assert _rows(con, "fast") == _staged_rows(con, path, mapping)
    assert _rows(con, "fast")[1]["timestamp"] == datetime(2016, 3, 1, 9, 5)


DECLINED = {
    "an order value that is not whole": "case_id,activity,timestamp,seq\nA,New,2026-03-02,5.5\n",
    "an order value in exponent form": "case_id,activity,timestamp,seq\nA,New,2026-03-02,1e3\n",
    "a padded missing marker": "case_id,activity,timestamp,seq\n ? ,New,2026-03-02,1\n",
    "a no-break space for a case": "case_id,activity,timestamp,seq\n\u00a0,New,2026-03-02,1\n",
    "an unparseable time": "case_id,activity,timestamp,seq\nA,New,2026-02-30,1\n",
    "a missing time": "case_id,activity,timestamp,seq\nA,New,,1\n",
    "another quote character": "case_id,activity,timestamp,seq\n'A,1',New,2026-03-02,1\n",
}


@pytest.mark.parametrize("name", list(DECLINED))
def test_the_direct_read_declines_what_it_cannot_read_exactly(
        con: duckdb.DuckDBPyConnection, tmp_path: Path, name: str) -> None:
    """A value the reader would take otherwise than the staged rules (5.5 rounded, 1e3) or a
    bad one: nothing is created, and read_event_log answers as the staged path does."""
    path = _write(tmp_path / "log.csv", DECLINED[name])
    mapping = LogMapping(seq="seq")
    assert not _direct(con, path, mapping)
    assert "fast" not in _tables(con)
    expected = _staged_rows(con, path, mapping)
    if expected and isinstance(expected[0], Problem):
        assert _problems(con, path, mapping) == expected
    else:
        read_event_log(con, path, mapping)
        assert _rows(con) == expected


def test_an_order_value_is_read_as_the_pattern_reads_it(con: duckdb.DuckDBPyConnection) -> None:
    """The order column's number, taken straight from the cast where the text is the number's
    own (``casts.whole_sql``), is exactly what the whole-number pattern gives, for every form."""
    from dipstick.engine.casts import whole_sql

    texts = ["0", "17", "-3", "+5", "05", "00", "-0", "+0", "5.0", "5.", "5.5", "1e3", "0x10",
             " 7 ", "7 ", "", " ", "1_000", "٣", "９", "9223372036854775807",
             "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
             "12345678901234567890123", "- 3", "--3", "3-", None]
    pattern = ("CASE WHEN regexp_full_match(trim(x), '[+-]?[0-9]+(\\.0*)?') THEN "
               "TRY_CAST(trim(x) AS BIGINT) END")
    rows = con.execute(f"SELECT x, {whole_sql('x')}, {pattern} FROM (SELECT unnest($t) AS x)",
                       {"t": texts}).fetchall()
    assert len(rows) == len(texts)
    assert [(x, new) for x, new, _ in rows] == [(x, old) for x, _, old in rows]
    assert {x: new for x, new, _ in rows}["17"] == 17 and {x: new for x, new, _ in rows}["-0"] == 0


def test_a_table_only_discovery_reads_lacks_the_absent_optional_columns(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """``canonical=False`` (the streams command): the optional columns the log has not are
    left out, ``process`` kept (``--only`` filters on it: NULL in the view, not stored), the
    values and the discovery the same as the canonical table's; a column the log has
    (lifecycle here) stays."""
    from dipstick.streams.logs import load_event_log
    from dipstick.streams.on_duckdb import discover_relation

    for text, absent in (
            (CLEAN["naive ISO, the strict form first"], ["lifecycle", "resource", "service"]),
            (CLEAN["quotes, commas, CRLF, padded text, other columns"], ["resource", "service"])):
        path = _write(tmp_path / "log.csv", text)
        load_event_log(con, path, table="whole", ordered=False)
        load_event_log(con, path, table="lean", ordered=False, canonical=False)
        full, lean = _rows(con, "whole"), _rows(con, "lean")
        assert [c for c in full[0] if c not in lean[0]] == absent
        assert "process" in lean[0]
        # the log has no process: NULL in the view, not a column of NULLs in the stored rows
        stored = [r[0] for r in con.execute("DESCRIBE _lean_rows").fetchall()]
        assert "process" not in stored and "case_id" in stored
        assert lean == [{c: r[c] for c in lean[0]} for r in full]
        assert discover_relation(con.table("lean")) == discover_relation(con.table("whole"))
        assert discover_relation(con.table("lean"), process="p").events == 0


def test_the_direct_reads_missing_test_is_the_staged_one(con: duckdb.DuckDBPyConnection) -> None:
    """``logs_sql._blank_or_mark`` (which skips ``trim`` on values starting with a digit, or
    at "@" and up in ASCII) marks missing exactly the values ``_text(x, ("", "?"))`` does —
    Unicode spaces too (a no-break space alone was a value to the direct read before session
    16, and missing to the staged read)."""
    from dipstick.engine.logs_sql import _blank_or_mark, _text

    texts = ["", " ", "  ", "?", " ?", "? ", " ? ", "??", "\t", "\t?", "0", "07", "9", "9 ",
             "/", ":", ":?", "?0", " 0", "@", "A", "a ?", "-1", "+1", ".5", "٣", "\u00a0",
             "\u00a0?", " \u2003", "\u3000", "\u0080", "\u007f", "Ärger", None]
    rows = con.execute(f"SELECT x, {_blank_or_mark('x')}, {_text('x', ('', '?'))} FROM "
                       "(SELECT unnest($t) AS x)", {"t": texts}).fetchall()
    assert len(rows) == len(texts)
    assert [(x, fast) for x, fast, _ in rows] == [(x, staged) for x, _, staged in rows]
    assert {x: fast for x, fast, _ in rows if x is not None}[" ? "] is None


def test_a_table_only_discovery_reads_numbers_rows_in_file_order_on_parallel_threads(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """``canonical=False`` with the file order kept: the rows are written without
    ``row_number()`` (which reads on one thread) and the file row, and the order of a log
    without an order column, come from the table's rowid. A file large enough for DuckDB to
    read it in parallel (~10 MB) keeps every row's number, as the canonical read gives it."""
    from dipstick.streams.logs import load_event_log

    path = tmp_path / "big.csv"
    con.execute(f"COPY (SELECT 'c' || (i % 997) AS case_id, 'a' || (i % 5) AS activity, "
                "TIMESTAMP '2026-01-01' + INTERVAL (i) SECOND AS timestamp FROM range(300000) "
                f"t(i)) TO '{path}' (HEADER, TIMESTAMPFORMAT '%Y-%m-%d %H:%M:%S')").fetchall()
    load_event_log(con, path, table="whole", ordered=False)
    load_event_log(con, path, table="lean", ordered=False, canonical=False)
    assert con.execute("SELECT count(*), count(*) FILTER (WHERE seq <> _row), min(_row), "
                       "max(_row) FROM lean").fetchall() == [(300_000, 0, 1, 300_000)]
    assert con.execute("SELECT count(*) FROM (SELECT _row, row_number() OVER (ORDER BY "
                       "timestamp) AS k FROM lean) WHERE _row <> k").fetchall() == [(0,)]
    assert con.execute("SELECT count(*) FROM lean l FULL JOIN whole w USING (_row) WHERE "
                       "l.case_id IS DISTINCT FROM w.case_id OR l.activity IS DISTINCT FROM "
                       "w.activity OR l.timestamp IS DISTINCT FROM w.timestamp OR l.seq IS "
                       "DISTINCT FROM w.seq").fetchall() == [(0,)]
    kinds = con.execute("SELECT table_name, table_type FROM information_schema.tables")
    assert dict(kinds.fetchall()) == {"lean": "VIEW", "_lean_rows": "BASE TABLE",
                                      "whole": "BASE TABLE"}


# ---- a start and a completion time in one row (Disco's export, pm4py's start_timestamp) ----

_TWO_TIMES = """Case ID,Activity,Start Timestamp,Complete Timestamp
c1,Register,2026-01-05 09:00:00,2026-01-05 09:10:00
c1,Analyse,2026-01-05 10:00:00,2026-01-05 11:00:00
c1,Close,2026-01-05 12:00:00,2026-01-05 12:05:00
c2,Register,2026-01-06 09:00:00,2026-01-06 09:20:00
c2,Analyse,2026-01-06 09:30:00,2026-01-06 10:30:00
c2,Analyse,2026-01-06 10:30:00,2026-01-06 10:30:00
c2,Close,2026-01-06 11:00:00,2026-01-06 11:00:00
c3,Register,,2026-01-07 09:00:00
c3,Close,2026-01-07 09:30:00,2026-01-07 10:00:00
"""


def _map_of(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    from dipstick.streams.on_duckdb import discover_relation

    return discover_relation(con.table("events")).to_json()


def test_a_row_with_a_start_and_a_completion_is_a_start_and_a_complete_event(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """Disco's export has one row per activity instance with its start and completion. Left
    at the defaults it reads as pm4py's defaults read it, the completions alone, and says
    which column it left unread; with that column named it reads as the same log written as
    start and complete events, so its steps get their work time. A row without a start time
    is its completion alone; at a tie the start comes first (c2's zero-length Analyse). The
    column named ``start_timestamp`` is read without being named, as pm4py reads it."""
    two = _write(tmp_path / "two.csv", _TWO_TIMES)
    loaded = load_event_log(con, two)
    assert loaded.start_unread == "Start Timestamp" and len(_rows(con)) == 9
    assert {r["lifecycle"] for r in _rows(con)} == {None}
    started = LogMapping(start_timestamp="Start Timestamp")
    info = read_event_log(con, two, started)
    assert (info.rows, info.cases) == (17, 3)
    found = _map_of(con)
    events = ["case_id,activity,lifecycle,timestamp"]
    for line in _TWO_TIMES.splitlines()[1:]:
        case, act, start, end = line.split(",")
        if start:
            events.append(f"{case},{act},start,{start}")
        events.append(f"{case},{act},complete,{end}")
    lifecycle = _write(tmp_path / "lifecycle.csv", "\n".join(events) + "\n")
    read_event_log(con, lifecycle, LogMapping(lifecycle="lifecycle"))
    assert _map_of(con) == found
    assert found["reading"] == "lifecycle"
    work = {a["name"]: a["process_seconds_mean"] for a in found["activities"]}
    # Register: 10 and 20 min, and c3's completion alone (no work); Analyse: 60, 60 and 0 min
    assert work["Register"] == 10 * 60 and work["Analyse"] == 40 * 60
    rows = [(r["activity"], r["lifecycle"], r["_row"]) for r in _rows(con)]
    canonical = _write(tmp_path / "canonical.csv",
                       _TWO_TIMES.replace("Start Timestamp", "start_timestamp"))
    assert load_event_log(con, canonical).start_unread is None
    assert _map_of(con) == found
    read_event_log(con, two, started)
    c2 = [(r["activity"], r["lifecycle"], r["_row"]) for r in _rows(con) if r["case_id"] == "c2"]
    assert c2[2:6] == [("Analyse", "start", 5), ("Analyse", "complete", 5),
                       ("Analyse", "start", 6), ("Analyse", "complete", 6)]
    assert len(rows) == 17
    frame = pa.table({"case": ["c1", "c1"], "activity": ["a", "b"],
                      "begun": pa.array([datetime(2026, 1, 5, 9), datetime(2026, 1, 5, 10)],
                                        pa.timestamp("s")),
                      "done": pa.array([datetime(2026, 1, 5, 9, 30), datetime(2026, 1, 5, 11)],
                                       pa.timestamp("s"))})
    pq.write_table(frame, tmp_path / "two.parquet")
    read_event_log(con, tmp_path / "two.parquet", LogMapping(
        case_id="case", timestamp="done", start_timestamp="begun"))
    assert [(r["lifecycle"], r["timestamp"]) for r in _rows(con)] == [
        ("start", datetime(2026, 1, 5, 9)), ("complete", datetime(2026, 1, 5, 9, 30)),
        ("start", datetime(2026, 1, 5, 10)), ("complete", datetime(2026, 1, 5, 11))]


def test_a_bad_start_time_is_named_and_can_be_left_out(con: duckdb.DuckDBPyConnection,
                                                       tmp_path: Path) -> None:
    """A start that is no date, or after the row's completion, is a problem naming the row,
    the start column and the value; nothing is made. ``skip_bad_rows`` leaves the row out
    (both its events)."""
    text = _TWO_TIMES.replace("c1,Analyse,2026-01-05 10:00:00", "c1,Analyse,soon").replace(
        "c2,Register,2026-01-06 09:00:00", "c2,Register,2026-01-06 09:30:00")
    log = _write(tmp_path / "log.csv", text)
    started = LogMapping(start_timestamp="Start Timestamp")
    bad, late = _problems(con, log, started)
    assert (bad.row, bad.line, bad.field, bad.value) == (2, 3, "Start Timestamp", "soon")
    assert bad.message.startswith("is not a valid date: expected an ISO 8601 date")
    assert (late.row, late.line, late.field, late.value) == (4, 5, "Start Timestamp",
                                                             "2026-01-06 09:30:00")
    assert late.message == "is after the row's completion (the timestamp column)"
    info = read_event_log(con, log, LogMapping(start_timestamp="Start Timestamp",
                                               skip_bad_rows=True))
    assert info.skipped == 2 and info.rows == 17 - 4


def test_a_start_column_and_a_lifecycle_column_are_one_or_the_other(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """Named both, they are a problem; a start column found by its name gives way to a
    lifecycle column the user named (and the other way round); the start column may not be
    the timestamp column."""
    log = _write(tmp_path / "log.csv", "case_id,activity,lifecycle,start_timestamp,timestamp\n"
                                       "c1,a,complete,2026-01-05 09:00,2026-01-05 09:10\n")
    [p] = _problems(con, log, LogMapping(lifecycle="lifecycle",
                                         start_timestamp="start_timestamp"))
    assert p.field == "lifecycle" and "map one of them" in p.message
    [p] = _problems(con, log, LogMapping(start_timestamp="timestamp"))
    assert "the start-time column is the timestamp column" in p.message
    read_event_log(con, log, LogMapping(lifecycle="lifecycle"))
    assert [r["lifecycle"] for r in _rows(con)] == ["complete"]
    read_event_log(con, log, LogMapping(start_timestamp="start_timestamp"))
    assert [r["lifecycle"] for r in _rows(con)] == ["start", "complete"]


def test_the_one_pass_read_of_two_times_per_row_equals_the_staged_read(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """As ``dipstick streams`` reads a clean log (``ordered`` and ``canonical`` false), the rows
    are read once with both times typed and stored one per row, and a view makes each a start
    and a complete event (1.27 M rows: 0.23 against 1.56 s through the staged path): the same
    events, orders and file rows as the staged read, and the same map. A bad start still
    falls to the staged path, which names it."""
    two = _write(tmp_path / "two.csv", _TWO_TIMES)
    started = LogMapping(start_timestamp="Start Timestamp")
    read_event_log(con, two, started)   # the staged path, in case order
    staged, staged_map = _rows(con), _map_of(con)
    con.execute("DROP TABLE events")
    load_event_log(con, two, started, ordered=False, canonical=False)
    assert "events" in {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()")
                        .fetchall()}   # the one-pass read's view, not the staged table
    key = ("case_id", "timestamp", "seq")
    one_pass = sorted(_rows(con), key=lambda r: tuple(str(r[k]) for k in key))
    assert [{k: r[k] for k in (*key, "activity", "lifecycle", "_row")} for r in one_pass] == [
        {k: r[k] for k in (*key, "activity", "lifecycle", "_row")}
        for r in sorted(staged, key=lambda r: tuple(str(r[k]) for k in key))]
    assert _map_of(con) == staged_map
    late = _write(tmp_path / "late.csv", _TWO_TIMES.replace(
        "c2,Register,2026-01-06 09:00:00", "c2,Register,2026-01-06 09:30:00"))
    fresh = connect()
    with pytest.raises(PackageError) as e:
        load_event_log(fresh, late, started, ordered=False, canonical=False)
    [p] = e.value.problems
    assert (p.row, p.field, p.message) == (4, "Start Timestamp", "is after the row's "
                                           "completion (the timestamp column)")


def test_lines_ended_by_cr_alone_read(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """Excel's "CSV (Macintosh)" ends lines with CR alone: the header's quick split (Python's
    csv) raised "new-line character seen in unquoted field" (exit 3, a traceback); DuckDB's
    sniffer reads such a file. Found by the fuzzed logs (tests/test_fuzz.py)."""
    log = tmp_path / "mac.csv"
    log.write_bytes(b"case_id,activity,timestamp\rc1,a,2026-01-01 10:00\rc1,b,2026-01-01 11:00\r")
    read_event_log(con, log)
    assert [(r["activity"], r["_row"]) for r in _rows(con)] == [("a", 1), ("b", 2)]
