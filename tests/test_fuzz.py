"""Fuzzing the inputs (issue 17, item 7): the package loader (``dipstick validate`` and
``dipstick check``, in process), every ``dipstick import`` kind, ``dipstick pulse import`` and
the web upload's zip extraction, fed CSV bytes, YAML and zip members drawn by hypothesis.

Whatever arrives, the answer is a success (exit 0, or 1 when ``check`` finds a leak) or a
refusal naming the place — exit 2 with the file (and row or field) in the message, a
:class:`PackageError` whose problems name the archive — never a traceback, never another
exit code, and a refused zip leaves nothing on disk.

The suite runs a few examples of each fuzzer, derandomized and without hypothesis' example
database, so every run tries the same inputs (~30 s on 2 cores). ``benchmarks/fuzz.py`` runs
the same fuzzers with many more, random, examples (``DIPSTICK_FUZZ_EXAMPLES``).

The values issue 17 made problems (dates outside 1900–2200, non-finite numbers, integers of
thousands of digits, a ``dipstick.yaml`` that is not UTF-8) are in the strategies too.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
import traceback
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from dipstick.cli import app
from dipstick.connectors.imports import SERVICE_COLUMNS
from dipstick.defaults import IMPORT_KINDS
from dipstick.errors import PackageError
from dipstick.package.archive import StoredPackage, store_zip
from dipstick.package.tables import TABLES, Column

from builder import PackageBuilder

#: 0: the suite's bounded, reproducible run; N: N random examples per fuzzer (the script)
LONG = int(os.environ.get("DIPSTICK_FUZZ_EXAMPLES", "0"))


def fuzz(examples: int) -> Callable[[Any], Any]:
    """Hypothesis settings: ``examples`` derandomized ones in the suite, ``LONG`` random ones
    in the long run; never a deadline (a loaded machine is not a failure), no database."""
    return settings(max_examples=LONG or examples, derandomize=not LONG, database=None,
                    deadline=None, print_blob=bool(LONG),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture,
                                           HealthCheck.filter_too_much])


# --- strategies -------------------------------------------------------------------------------

# any day of years 1–9999 (the range is 1900–2200), any integer (a cell of 5,000 digits is in
# ODD: Python will not print such an int), any float
SAFE_DAYS = st.one_of(st.dates(date(1900, 1, 1), date(2200, 12, 31)), st.dates())
SAFE_INTS = st.one_of(st.integers(-(10**15), 10**15), st.integers(),
                      st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1]))
SAFE_FLOATS = st.floats()                                              # nan and ±inf included
ODD = st.sampled_from(["", " ", "-", "0", "-1", "1.5", "1,5", "10", "11", "true", "no",
                       "NULL", "N/A", "\"", "'", ",", ";", "\t", "\n", "\r\n", "é", "€", "😀",
                       "\x00", "\ufeff", "=1+1", "2026-02-30", "2026-13-01", "31/12/2026",
                       "2026-06-01T25:00:00", "12:00", "1e10", "0x10", "crm", "staff",
                       "sales", "incident", "release", "start", "ease", "buy", "checkout",
                       "[/red]", "[bold]x", "[/]", "[link=https://evil.example]x[/link]",
                       "9" * 5000, "-1e400", "inf", "NaN", "9999-12-31", "0001-01-01"])


@st.composite
def cells(draw: st.DrawFn) -> str:
    """One CSV cell: text of any kind, a number, a date or time (in range), or an odd value."""
    return draw(st.one_of(
        ODD, st.text(max_size=12), SAFE_INTS.map(str), SAFE_FLOATS.map(repr),
        SAFE_DAYS.map(date.isoformat),
        st.datetimes(datetime(1900, 1, 1), datetime(2200, 12, 31)).map(
            lambda d: d.isoformat(sep=" ")),
        st.datetimes().map(lambda d: d.isoformat(sep=" "))))


def columns_of(kind: str) -> list[Column]:
    return list(SERVICE_COLUMNS if kind == "services" else TABLES[kind])


#: ids the base package declares, per kind of reference: rows that name them are mostly valid
KNOWN = {"service": ["crm"], "group": ["staff", "shoppers"], "dimension": ["time_saved", "ease"],
         "outcome": ["sales"], "journey": ["buy"], "touchpoint": ["checkout"]}


IDS = sorted({v for vs in KNOWN.values() for v in vs})


def plausible(column: Column) -> st.SearchStrategy[str]:
    """A value the column could hold (in range, one of its choices or known ids), so that a
    row gets past the first check and the odd cell beside it is what is tested."""
    if column.choices:
        return st.sampled_from(column.choices)
    if column.ref:
        return st.sampled_from(KNOWN[column.ref])
    if column.kind in ("timestamp", "month"):     # near the package's as-of (odd cells go far)
        return st.one_of(st.dates(date(2024, 1, 1), date(2027, 12, 31)).map(date.isoformat),
                         st.datetimes(datetime(2024, 1, 1), datetime(2027, 12, 31)).map(
                             lambda d: d.isoformat(sep=" ")))
    if column.kind in ("number", "integer"):
        low = column.minimum if column.minimum is not None else -1e6
        high = column.maximum if column.maximum is not None else 1e6
        if column.kind == "integer":
            return st.integers(int(low), int(high)).map(str)
        return st.floats(low, high).map(lambda x: f"{x:.6g}")
    if column.kind == "boolean":
        return st.sampled_from(["true", "false", "1", "0", ""])
    return st.text(st.characters(codec="utf-8"), max_size=12)


@st.composite
def csv_bytes(draw: st.DrawFn, kind: str) -> bytes:
    """A CSV for ``kind``: its columns (some dropped, reordered, or an unknown one added) and a
    few rows of fuzzed cells — or, now and then, bytes of anything."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    columns = columns_of(kind)
    if draw(st.booleans()):            # every column, in order; else some, in any order
        chosen = columns
    else:
        chosen = draw(st.lists(st.sampled_from(columns), unique=True, min_size=1,
                               max_size=len(columns)))
    header = [c.name for c in chosen]
    values = [st.one_of(plausible(c), plausible(c), plausible(c), cells()) for c in chosen]
    if draw(st.integers(0, 4)) == 0:
        header.append(draw(st.sampled_from(["extra", "", "id", "Service", "date"])))
        values.append(cells())
    rows = draw(st.lists(st.tuples(*values), max_size=6))
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=draw(st.sampled_from([",", ",", ";", "\t"])))
    writer.writerow(header)
    writer.writerows(rows)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "latin-1", "cp1252",
                                     "utf-16", "utf-16-be"]))
    return buf.getvalue().encode(encoding, errors="replace")


SCALARS = st.one_of(st.none(), st.booleans(), SAFE_INTS, SAFE_FLOATS, st.text(max_size=10),
                    ODD, SAFE_DAYS)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8) | ODD, inner,
                                                 max_size=3)), max_leaves=6)


def paths_in(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a YAML tree (keys of mappings, indexes of lists)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*at, key)
            yield from paths_in(item, (*at, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield (*at, i)
            yield from paths_in(item, (*at, i))


def alike(value: Any) -> st.SearchStrategy[Any]:
    """Another value of the same type: deeper than any value, which the schema mostly refuses
    at once."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.one_of(st.integers(-2, 3), SAFE_INTS)
    if isinstance(value, float):
        return st.one_of(st.floats(-1, 2), SAFE_FLOATS)
    if isinstance(value, str):
        return st.one_of(ODD, st.text(max_size=10), st.sampled_from(IDS))
    if isinstance(value, list):
        return st.one_of(st.just([]), st.just(value + value[:1]),
                         st.permutations(value).map(list))
    return VALUES


@st.composite
def mutated_model(draw: st.DrawFn, model: dict[str, Any]) -> str | bytes:
    """``dipstick.yaml`` text: the package's own model with one to three places replaced by
    another value or removed — or, now and then, any text at all."""
    if draw(st.integers(0, 7)) == 0:
        return draw(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
    doc = json.loads(json.dumps(model))
    for _ in range(draw(st.integers(1, 3))):
        places = list(paths_in(doc))
        place = draw(st.sampled_from(places))
        parent: Any = doc
        for step in place[:-1]:
            parent = parent[step]
        roll = draw(st.integers(0, 5))
        if roll == 0:
            del parent[place[-1]]
        elif roll == 1:
            parent[place[-1]] = draw(VALUES)
        else:
            parent[place[-1]] = draw(alike(parent[place[-1]]))
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


# --- the package every fuzzer starts from -----------------------------------------------------

@pytest.fixture
def base(tmp_path: Path) -> Path:
    """Built for each fuzzer (not per example: ~50 ms), so the module can be spread over the
    workers (conftest.SPREAD)."""
    return base_package(tmp_path / "pkg")


def base_package(root: Path) -> Path:
    """A small valid package with every table the fuzzers replace."""
    b = PackageBuilder(root)
    b.service("crm").usage(since_days=120).tickets(since_days=120).surveys().kpis()
    b.journey("buy")
    b.touchpoint_rows("buy", "checkout", [(b.as_of - timedelta(days=d), 8, 100, 5)
                                          for d in range(1, 120, 7)])
    b.rows("costs", [{"month": f"2026-{m:02d}-01", "service": "crm", "amount": 1000}
                     for m in range(1, 10)])
    b.rows("training", [{"date": "2026-05-01", "service": "crm", "group": "staff",
                         "completed": 10, "required": 12}])
    b.rows("changes", [{"id": "CH1", "service": "crm", "date": "2026-05-01",
                        "kind": "release", "success": True, "communicated": True}])
    b.model["value_streams"] = [{"id": "log", "name": "Log",
                                 "event_log": {"process": "p", "services": ["crm"]}}]
    b.rows("events", [{"case_id": f"C{c}", "activity": a, "process": "p",
                       "timestamp": f"2026-05-{1 + c:02d} {9 + k}:00:00", "service": "crm"}
                      for c in range(5) for k, a in enumerate(("Open", "Awaiting", "Done"))])
    return b.write()


@contextmanager
def copy_of(base: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
        yield Path(shutil.copytree(base, Path(folder) / "pkg"))


def run(*args: str | Path) -> tuple[int, str]:
    """``dipstick ARGS`` in process: the exit code and everything it printed. An exception
    the CLI let through fails here, with its traceback (a user would have seen one)."""
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        trace = "".join(traceback.format_exception(result.exception))
        raise AssertionError(f"dipstick {' '.join(map(str, args))}: a traceback\n{trace}")
    return result.exit_code, result.stdout + result.stderr


def assert_answered(code: int, output: str, allowed: tuple[int, ...], *places: str) -> None:
    """Success, or exit 2 naming one of ``places``; never a traceback or another exit code."""
    assert code in (*allowed, 2), (code, output[-2000:])
    assert "Traceback" not in output, output[-2000:]
    if code == 2:
        assert any(p in output for p in places), (places, output[-2000:])


def assert_named(output: str, *files: str) -> None:
    """``--format json`` problems: each names a file, and one of ``files``."""
    doc = json.loads(output)
    named = {p["file"] for p in doc["problems"]}
    assert doc["problems"] and all(named), doc
    assert named & set(files) or any(f in doc["message"] for f in files), doc


#: the JSON a script reads, and the tables (rich) a person reads: data in either is data
FORMATS = st.sampled_from(["json", "table"])


# --- the package loader -----------------------------------------------------------------------

LOADED = sorted(TABLES)


@fuzz(examples=4)
@given(data=st.data())
@pytest.mark.parametrize("table", LOADED)
def test_a_fuzzed_table_is_valid_or_named(base: Path, table: str, data: st.DataObject) -> None:
    body = data.draw(csv_bytes(table), label=f"{table}.csv")
    fmt = data.draw(FORMATS, label="format")
    with copy_of(base) as pkg:
        (pkg / f"{table}.csv").write_bytes(body)
        code, output = run("validate", pkg, "--format", fmt)
        assert_answered(code, output, (0,), f"{table}.csv")
        if code == 2 and fmt == "json":
            assert_named(output, f"{table}.csv", "dipstick.yaml")


@fuzz(examples=3)
@given(data=st.data())
@pytest.mark.parametrize("table", ["tickets", "usage", "surveys", "events"])
def test_a_fuzzed_table_is_checked_or_named(base: Path, table: str,
                                            data: st.DataObject) -> None:
    body = data.draw(csv_bytes(table), label=f"{table}.csv")
    fmt = data.draw(FORMATS, label="format")
    with copy_of(base) as pkg:
        (pkg / f"{table}.csv").write_bytes(body)
        code, output = run("check", pkg, "--no-store", "--format", fmt)
        assert_answered(code, output, (0, 1), f"{table}.csv")


@fuzz(examples=12)
@given(data=st.data())
def test_a_fuzzed_model_is_valid_or_named(base: Path, data: st.DataObject) -> None:
    model = yaml.safe_load((base / "dipstick.yaml").read_text())
    text = data.draw(mutated_model(model), label="dipstick.yaml")
    fmt = data.draw(FORMATS, label="format")
    with copy_of(base) as pkg:
        target = pkg / "dipstick.yaml"
        if isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(text, encoding="utf-8")
        code, output = run("validate", pkg, "--format", "json")
        assert_answered(code, output, (0,), "dipstick.yaml")
        if code == 2:
            assert_named(output, "dipstick.yaml", *(f"{t}.csv" for t in TABLES))
        code, output = run("check", pkg, "--no-store", "--format", fmt)
        assert_answered(code, output, (0, 1), "dipstick.yaml")


# --- the importers ----------------------------------------------------------------------------

@fuzz(examples=5)
@given(data=st.data())
@pytest.mark.parametrize("kind", IMPORT_KINDS)
def test_a_fuzzed_export_is_imported_or_named(base: Path, kind: str,
                                              data: st.DataObject) -> None:
    body = data.draw(csv_bytes(kind), label="export.csv")
    fmt = data.draw(FORMATS, label="format")
    with copy_of(base) as pkg:
        source = pkg.parent / "export.csv"
        source.write_bytes(body)
        before = sorted(p.name for p in pkg.iterdir())
        code, output = run("import", kind, source, "--into", pkg, "--format", fmt)
        if fmt == "json":
            json.loads(output)             # what a script reads: JSON, whatever the export held
        assert_answered(code, output, (0,), "export.csv")
        if code == 2:       # all-or-nothing: the package is as it was
            assert sorted(p.name for p in pkg.iterdir()) == before, output[-1000:]


@fuzz(examples=5)
@given(data=st.data())
def test_a_fuzzed_survey_table_is_pulse_imported_or_named(base: Path,
                                                           data: st.DataObject) -> None:
    body = data.draw(csv_bytes("surveys"), label="surveys.csv")
    with copy_of(base) as pkg:
        (pkg / "surveys.csv").write_bytes(body)
        database = f"sqlite:///{pkg.parent / 'app.db'}"
        code, output = run("pulse", "import", pkg, "--database", database)
        assert_answered(code, output, (0,), "surveys.csv")


# --- the web upload's zip extraction ----------------------------------------------------------

MEMBER_PARTS = st.one_of(st.sampled_from(["pkg", "dipstick.yaml", "tickets.csv", ".", "..",
                                          "", "a" * 300, "__MACOSX", "x", "C:", "a\\b"]),
                         st.text(max_size=12))


@st.composite
def zips(draw: st.DrawFn, base: Path) -> bytes:
    """A zip of the package's files (at the root or in one folder, some left out or fuzzed)
    plus members of any name, folder entries, duplicates — or bytes that are no zip."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    top = draw(st.sampled_from(["", "pkg/"]))
    members: list[tuple[str, bytes]] = []
    for f in sorted(base.iterdir()):
        if draw(st.integers(0, 5)) == 0:
            continue
        body = f.read_bytes()
        if f.suffix == ".csv" and draw(st.integers(0, 5)) == 0:
            body = draw(csv_bytes(f.stem))
        members.append((top + f.name, body))
    for _ in range(draw(st.integers(0, 3))):
        name = "/".join(draw(st.lists(MEMBER_PARTS, min_size=1, max_size=4))) or "/"
        members.append((name + draw(st.sampled_from(["", "", "/"])),
                        draw(st.binary(max_size=30))))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", draw(st.sampled_from([zipfile.ZIP_STORED,
                                                         zipfile.ZIP_DEFLATED]))) as z:
        for name, body in draw(st.permutations(members)):
            z.writestr(name, body)
    raw = bytearray(buf.getvalue())
    if raw and draw(st.integers(0, 5)) == 0:           # one flipped byte: CRC, header, length
        raw[draw(st.integers(0, len(raw) - 1))] ^= draw(st.integers(1, 255))
    return bytes(raw)


@pytest.mark.filterwarnings("ignore:Duplicate name")
@fuzz(examples=40)
@given(data=st.data())
def test_a_fuzzed_zip_is_stored_or_refused_leaving_nothing(base: Path,
                                                           data: st.DataObject) -> None:
    body = data.draw(zips(base), label="upload.zip")
    with tempfile.TemporaryDirectory(prefix="fuzz-zip-") as folder:
        packages = Path(folder) / "packages"
        try:
            stored = store_zip(io.BytesIO(body), packages, "fuzzed", "upload.zip")
        except PackageError as e:
            assert e.problems and all(p.file for p in e.problems), e.problems
            assert sorted(packages.iterdir()) == [], sorted(packages.iterdir())
        else:
            assert isinstance(stored, StoredPackage)
            assert (stored.path / "dipstick.yaml").is_file()


# --- what the fuzzers found -------------------------------------------------------------------

MARKUP = "[/red]x[/][bold]"


def test_rich_markup_in_the_data_is_printed_as_typed(base: Path) -> None:
    """Found by these fuzzers: Rich reads ``[...]`` as markup, so a value like ``[/red]`` in a
    table, a name or an export ended in a ``MarkupError`` traceback (exit 1) instead of the
    problem list, the lights or the import summary."""
    with copy_of(base) as pkg:
        model = yaml.safe_load((pkg / "dipstick.yaml").read_text())
        model["organisation"]["name"] = model["services"][0]["name"] = MARKUP
        model["value_streams"].append({"id": "hand", "name": MARKUP, "steps": [
            {"name": MARKUP, "process_minutes": 5, "wait_minutes": 5, "services": ["crm"]}]})
        (pkg / "dipstick.yaml").write_text(yaml.safe_dump(model))
        for args in (("check", pkg, "--no-store", "--wide"), ("streams", pkg)):
            code, output = run(*args)
            assert code in (0, 1) and MARKUP in output, (args, output[-1000:])
        export = pkg.parent / "export.csv"
        export.write_text(f"id,service,opened_at,type\nT9,{MARKUP},2026-01-01,incident\n")
        code, output = run("import", "tickets", export, "--into", pkg)
        assert code == 2 and MARKUP in output, output[-1000:]
        code, output = run("import", "tickets", export, "--into", pkg, "--starter-services")
        assert code == 0 and MARKUP in output, output[-1000:]
        tickets = (pkg / "tickets.csv").read_text().replace(",crm,", f",{MARKUP},", 1)
        (pkg / "tickets.csv").write_text(tickets)
        code, output = run("validate", pkg)
        assert code == 2 and MARKUP in output and "tickets.csv" in output, output[-1000:]
    with copy_of(base) as pkg:                           # the path is data too
        odd = pkg.rename(pkg.parent / MARKUP.replace("/", "_"))
        code, output = run("validate", odd)
        assert code == 0 and odd.name in output, output[-1000:]


# --- event logs as real tools export them: `dipstick streams LOG` ------------------------------

LOG_COLUMNS = ("case_id", "activity", "timestamp", "start_timestamp", "lifecycle", "resource",
               "seq", "Case ID", "Start Timestamp", "Complete Timestamp")


def log_cell(column: str) -> st.SearchStrategy[str]:
    """A value the column could hold, now and then an odd one beside it."""
    if "imestamp" in column:
        return st.one_of(
            st.datetimes(datetime(2024, 1, 1), datetime(2024, 1, 3)).map(
                lambda d: d.isoformat(sep=" ", timespec="seconds")),
            st.datetimes(datetime(2024, 1, 1), datetime(2024, 1, 3)).map(
                lambda d: d.strftime("%d.%m.%Y %H:%M")),
            st.datetimes(datetime(2024, 1, 1), datetime(2024, 2, 28)).map(   # told or not
                lambda d: d.strftime("%d/%m/%Y %H:%M")),
            st.datetimes(datetime(2024, 1, 1), datetime(2024, 2, 28)).map(
                lambda d: f"{d.month}/{d.day}/{d.year} {d.strftime('%I:%M %p').lstrip('0')}"),
            st.sampled_from(["", "?", "soon", "2024-13-45 25:00", "29/2/24 1:16", "13/13/2024"]))
    if column == "lifecycle":
        return st.sampled_from(["start", "complete", "COMPLETE", "schedule", ""])
    if column == "seq":
        return st.one_of(st.integers(-5, 10**6).map(str), st.sampled_from(["", "1.5", "x"]))
    return st.one_of(st.sampled_from(["c1", "c2", "Prüfung – 5 €", "„quoted“", ""]),
                     st.text(max_size=6))


@st.composite
def log_bytes(draw: st.DrawFn) -> bytes:
    """A CSV event log: some of the columns tools write (case, activity, one or two times, a
    lifecycle, an order), in any order, a few rows, in the encodings Windows and Excel write
    — or, now and then, bytes of anything."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    header = draw(st.lists(st.sampled_from(LOG_COLUMNS), unique=True, min_size=1, max_size=6))
    rows = draw(st.lists(st.tuples(*(log_cell(c) for c in header)), max_size=8))
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=draw(st.sampled_from([",", ",", ";"])))
    writer.writerow(header)
    writer.writerows(rows)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16",
                                     "utf-16-be", "utf-16-le"]))
    return buf.getvalue().encode(encoding, errors="replace")


LOG_OPTIONS = st.lists(st.sampled_from([("--start-timestamp", "Start Timestamp"), ("--dayfirst",),
                                        ("--skip-bad-rows",), ("--lifecycle", "lifecycle"),
                                        ("--order", "seq"), ("--encoding", "latin-1")]),
                       unique=True, max_size=2)


@fuzz(examples=12)
@given(body=log_bytes(), gz=st.booleans(), options=LOG_OPTIONS)
def test_a_fuzzed_event_log_is_discovered_or_named(body: bytes, gz: bool,
                                                   options: list[tuple[str, ...]]) -> None:
    """Whatever a log holds, in whatever encoding, with whichever options: a discovery (exit
    0, JSON) or exit 2 naming the file — never a traceback, and no copy left behind."""
    import gzip

    with tempfile.TemporaryDirectory(prefix="fuzz-log-") as folder, \
            tempfile.TemporaryDirectory(prefix="fuzz-tmp-") as scratch:
        log = Path(folder) / ("log.csv.gz" if gz else "log.csv")
        log.write_bytes(gzip.compress(body) if gz else body)
        # the command's temporary folders in a folder of this example's own: the system's is
        # shared with the other worker and any other process making such folders
        kept, tempfile.tempdir = tempfile.tempdir, scratch
        try:
            code, output = run("streams", log, "--format", "json",
                               *(o for opt in options for o in opt))
        finally:
            tempfile.tempdir = kept
        assert_answered(code, output, (0,), log.name)
        assert not list(Path(scratch).iterdir()), "a copy of the log was left behind"
