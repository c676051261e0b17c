"""Reading an XES log (IEEE 1849, ``.xes`` or ``.xes.gz``) into a staged DuckDB table of raw
text, the shape a CSV log is staged in (streams/logs.py), streamed: memory holds one chunk of
the document and one batch of events. See docs/event-logs.md, "XES"."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, cast

import duckdb

from dipstick.engine import logs_sql
from dipstick.engine.sql import MAX_ROWS_PER_PROBLEM, literal, run
from dipstick.errors import PackageError, Problem
from dipstick.textfile import open_bytes

# The raw XES columns: text, then the event's row, trace and position numbers
TEXT = ("case_id", "activity", "timestamp", "lifecycle", "resource", "process")
NUMBERS = ("_row", "_trace", "_pos")
LABELS = {"case_id": "trace concept:name", "activity": "concept:name",
          "timestamp": "time:timestamp", "lifecycle": "lifecycle:transition",
          "resource": "org:resource", "process": "log concept:name", "seq": "seq"}
_BATCH = 65_536
_PAIRED = ("start", "complete")
# Small chunks let a trace's elements die young: with 64 KiB the garbage collector promotes them
# and the parse runs at about half the speed (measured).
_CHUNK = 8_192


def stage_xes(con: duckdb.DuckDBPyConnection, relation: str, path: Path,
              display: str, untimed: bool = False) -> tuple[logs_sql.Staged, int]:
    """The log's events in the temp table ``relation`` (raw text, as a CSV is staged) and the
    number dropped for their lifecycle; nothing is left behind when the log is bad. With
    ``untimed`` an event without a time is staged with none (for the load to leave out and
    report, ``--skip-bad-rows``) instead of refused here."""
    schema = ", ".join([*(f"{c} VARCHAR" for c in TEXT), *(f"{c} BIGINT" for c in NUMBERS)])
    run(con, f"CREATE OR REPLACE TEMP TABLE {relation} ({schema})")
    try:
        dropped = parse_xes(path, display, con, relation, untimed)
    except BaseException:
        logs_sql.drop(con, relation, False)
        raise
    columns = {c: c for c in TEXT}
    locate = "'trace ' || _trace || coalesce(' (' || case_id || ')', '') || ', event ' || _pos"
    types = {c: "VARCHAR" for c in columns}
    return logs_sql.Staged(relation, False, types, columns, LABELS, rownum="_row",
                           csv_lines=False, locate=locate), dropped


def parse_xes(path: Path, display: str, con: duckdb.DuckDBPyConnection, table: str,
              untimed: bool = False) -> int:
    """Stream an XES log (``.xes`` or ``.xes.gz``) into ``table`` (:data:`TEXT` and
    :data:`NUMBERS`, in that order) and return the number of events dropped for their
    lifecycle.

    A log with ``start`` or ``complete`` transitions is a lifecycle log: its other transitions
    (``schedule``, ``suspend``, …) are dropped. A log with transitions but neither of those
    uses the attribute for something else (BPI Challenge 2013's incidents carry sub-states
    like ``In Progress`` there): every event is kept, as a state, with no lifecycle.

    ``_row`` counts every event in the file (dropped ones too) so messages point at the n-th
    ``<event>``; ``_trace`` and ``_pos`` say which trace and where in it.
    """
    reader = _XesReader(display, con, table, untimed)
    try:
        with open_bytes(path) as f:
            while chunk := f.read(_CHUNK):
                reader.feed(chunk)
        return reader.close()
    except ET.ParseError as e:
        line = e.position[0] if e.position else None
        raise PackageError([Problem(display, f"is not valid XML: {e}", line=line)]) from None
    except (OSError, EOFError) as e:
        raise PackageError([Problem(display, f"cannot be read: {e}")]) from None


class _XesReader:
    """ElementTree's C parser and tree builder, with the completed traces taken off the tree
    after every chunk fed, and every batch of events inserted into the table as NumPy arrays
    of Python objects: five times cheaper to build than Arrow arrays of the same lists, and
    no pyarrow to import (~0.12 s, a third of a small log's whole command; docs/benchmarks.md,
    session 26).

    Memory holds one chunk of the document and one batch of events, never the whole tree.
    Nothing crosses into Python per element: ``iterparse`` hands every element to a Python
    loop (start and end events, to reach the root and clear it) and was ~25 % slower here.
    CPython's C ``TreeBuilder.close()`` returns the document element while parsing goes on,
    which is how the completed traces are reached.
    """

    def __init__(self, display: str, con: duckdb.DuckDBPyConnection, table: str,
                 untimed: bool = False) -> None:
        self.display, self.con, self.table, self.untimed = display, con, table, untimed
        self.builder = ET.TreeBuilder()
        self.parser = ET.XMLParser(target=self.builder)
        self.root: ET.Element | None = None
        self.trace_tag = self.event_tag = ""
        self.rows: list[tuple[Any, ...]] = []   # an event kept: TEXT but process, NUMBERS
        self.process: str | None = None
        self.row = self.traces = self.dropped = self.missing = 0
        self.paired = False   # an event's transition was start or complete
        self.other = False    # an event's transition was something else (schedule, In Progress)
        self.untimed_other: list[tuple[int, int, str | None, int]] = []
        self.problems: list[Problem] = []

    def feed(self, chunk: bytes) -> None:
        self.parser.feed(chunk)
        root = self.root
        if root is None:
            root = self.builder.close()
            if root is None:   # the document element has not started yet
                return
            self._log(root)
        if len(root) > 1:   # every child but the last is complete
            done = root[:-1]
            del root[:-1]
            self._take(done)

    def close(self) -> int:
        self.parser.close()
        root = cast(ET.Element, self.root)
        self._take(list(root))
        if not self.paired:   # no start or complete: the transitions are states, not a lifecycle
            for untimed in self.untimed_other:
                self._no_time(*untimed)
            self.problems.sort(key=lambda p: p.row or 0)
        if self.missing > MAX_ROWS_PER_PROBLEM:
            self.problems.append(Problem(
                self.display, f"has no time:timestamp: {self.missing - MAX_ROWS_PER_PROBLEM:,} "
                "more events like the ones above", field="time:timestamp"))
        if self.problems:
            raise PackageError(self.problems)
        self._flush()
        if self.other:
            if self.paired:   # a lifecycle log: only its start and complete events are visits
                gone = run(self.con, f"DELETE FROM {self.table} WHERE lifecycle NOT IN "
                                     f"({', '.join(literal(p) for p in _PAIRED)})")
                self.dropped += int(gone[0][0]) + len(self.untimed_other)
            else:
                run(self.con, f"UPDATE {self.table} SET lifecycle = NULL")
        return self.dropped

    def _log(self, root: ET.Element) -> None:
        tag = root.tag
        ns = tag[:-3] if tag.endswith("}log") else ""
        if tag != ns + "log":
            raise PackageError([Problem(self.display, "is not an XES log (its root element is "
                                        f"<{tag.rpartition('}')[2]}>, not <log>)")])
        self.root = root
        self.trace_tag, self.event_tag = ns + "trace", ns + "event"

    def _take(self, children: list[ET.Element]) -> None:
        for child in children:
            if child.tag == self.trace_tag:
                self._trace(child)
            elif child.get("key") == "concept:name":   # the log's own name: its process
                self.process = child.get("value")
        if len(self.rows) >= _BATCH:
            self._flush()

    def _trace(self, trace: ET.Element) -> None:
        self.traces += 1
        n, case, event_tag = self.traces, None, self.event_tag
        events = []
        for child in trace:
            if child.tag == event_tag:
                events.append(child)
            elif child.get("key") == "concept:name":
                case = child.get("value")
        add = self.rows.append
        row = self.row
        for pos, ev in enumerate(events, 1):
            row += 1
            a = {x.get("key"): x.get("value") for x in ev}
            life = a.get("lifecycle:transition")
            other = False
            if life is not None:
                if life != "complete" and life != "start":
                    low = life.strip().lower()
                    if low == "complete" or low == "start":
                        life = low
                    else:
                        other = self.other = True
                if not other:
                    self.paired = True
            ts = a.get("time:timestamp")
            if ts is None and not self.untimed:   # untimed: staged without, for the load
                if other:   # dropped in a lifecycle log, a state's error in a state log
                    self.untimed_other.append((row, n, case, pos))
                else:
                    self._no_time(row, n, case, pos)
                continue
            add((case, a.get("concept:name"), ts, life, a.get("org:resource"), row, n, pos))
        self.row = row

    def _no_time(self, row: int, trace: int, case: str | None, pos: int) -> None:
        self.missing += 1
        if self.missing <= MAX_ROWS_PER_PROBLEM:
            self.problems.append(Problem(self.display, f"trace {trace} ({case!r}), event {pos}: "
                                         "has no time:timestamp", row=row,
                                         field="time:timestamp"))

    def _flush(self) -> None:
        import numpy as np

        n = len(self.rows)
        if not n:
            return
        cols = list(zip(*self.rows, strict=True))
        arrays = {c: np.array(v, dtype=object) for c, v in zip(TEXT[:5], cols[:5], strict=True)}
        arrays["process"] = np.array([self.process] * n, dtype=object)
        arrays.update((c, np.array(v, dtype=np.int64))
                      for c, v in zip(NUMBERS, cols[5:], strict=True))
        name = f"{self.table}_batch"
        self.con.register(name, arrays)
        try:   # an all-None column is typed NULL by DuckDB: every column cast
            run(self.con, f"INSERT INTO {self.table} SELECT "
                          f"{', '.join(f'CAST({c} AS VARCHAR)' for c in TEXT)}, "
                          f"{', '.join(NUMBERS)} FROM {name}")
        finally:
            self.con.unregister(name)
        self.rows = []
