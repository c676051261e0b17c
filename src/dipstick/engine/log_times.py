"""How the time text of an event log (or an export) becomes a timestamp.

ISO 8601 by default (an offset after a space too, as Java writes it), no time before the year
1000: DuckDB's cast reads ``29/02/16`` as 16 February of the year 29. Slash dates —
``29/2/2016 01:16``, ``2/29/2016 1:16 PM``, ``29.02.2016 01:16``, ``29-02-2016``, and with a
two-digit year after / or . (``29/02/16 09:30``, read as 2016; 69–99 as 19xx) — are
day-first with ``--dayfirst``; in an event log read without an option they are read in the
order the log's own values tell: a value whose first part alone passes 12 (``29/2/2016``)
makes them day-first, one whose second part alone does (``2/29/2016``) month-first. Nothing is
guessed: a log in which no value tells the order is refused, naming a value and both options,
and so is one whose values tell both orders. Dotted dates are day-first when no value says
otherwise (no locale writes month.day.year). (docs/event-logs.md, "Times and time zones";
docs/decisions.md, session 28.)
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import duckdb

from dipstick.engine.quote import literal

DMY, MDY = "dmy", "mdy"
# a date of one or two-digit parts and a four-digit year (%Y alone would also take "16"), one
# separator: / (British, French, US, ServiceNow), . (German, Nordic) or - (Dutch); an
# optional h:mm[:ss[.ffffff]] on a 24-hour clock or a 12-hour one with AM or PM (US, Australia)
_CLOCK_RE = r"( \d{1,2}:\d{2}(:\d{2}(\.\d{1,6})?)?( ?[AaPp][Mm])?)?"
SLASH_RE = r"\d{1,2}(/\d{1,2}/|\.\d{1,2}\.|-\d{1,2}-)\d{4}" + _CLOCK_RE
# a two-digit year (29/02/16, 29.02.16), read by %y: not after -, where 16-02-29 is ISO's order
SHORT_RE = r"\d{1,2}(/\d{1,2}/|\.\d{1,2}\.)\d{2}" + _CLOCK_RE
_SLASH, _SHORT = re.compile(SLASH_RE), re.compile(SHORT_RE)
# DuckDB's cast reads a date whose first part has one to three digits as the year (29/02/16 as
# 16 February of the year 29, 1/2/3 as the year 1): no log or export means a time before this
# (no date at all; bounds.EARLIEST, 1900, is the range a real date must then be in)
_NO_TIME_BEFORE = "TIMESTAMP '1000-01-01'"
_SPACED_OFFSET = r" ([+-]\d{2}(:?\d{2})?)$"   # 2016-02-29 01:16:05 +0100: DuckDB's cast refuses
_CLOCKS = (" %H:%M:%S", " %H:%M", "")                          # tried first, each separator
_CLOCKS_MORE = (" %H:%M:%S.%f", " %I:%M:%S %p", " %I:%M %p", " %I:%M:%S%p", " %I:%M%p",
                " %I:%M:%S.%f %p", " %I:%M:%S.%f%p")              # then these
ISO_EXPECTED = "an ISO 8601 date (e.g. 2026-03-01, 2026-03-01 09:30 or 2026-03-01T09:30:00+01:00)"
DAYFIRST_EXPECTED = ("a day-first date d/m/yyyy h:mm[:ss[.fff]] (with AM or PM or not), or with "
                     ". or - between day, month and year, or d/m/yy (e.g. 29/2/2016 01:16, "
                     "29.02.2016 01:16, 29/02/16)")
MONTHFIRST_EXPECTED = ("a month-first date m/d/yyyy h:mm[:ss[.fff]] (with AM or PM or not), or "
                       "m/d/yy, as the log's other dates (e.g. 2/29/2016 1:16 PM)")
BOTH_OPTIONS = "--dayfirst reads them day-first, --time-format '%m/%d/%Y %H:%M' month-first"


def is_slash(value: str | None) -> bool:
    """Whether a time as written is a slash date (trimmed)."""
    return value is not None and _match(value) is not None


def _match(value: str) -> tuple[re.Match[str], str] | None:
    """A slash date's match and its year's directive (%Y, or %y for a two-digit year)."""
    v = value.strip()
    m = _SLASH.fullmatch(v)
    if m is not None:
        return m, "%Y"
    m = _SHORT.fullmatch(v)
    return None if m is None else (m, "%y")


def dated(cast: str) -> str:
    """``cast``, NULL where it gives a time before the year 1000 (DuckDB computes the
    repeated expression once: +0.013 s on 1.2 M times)."""
    return f"CASE WHEN {cast} >= {_NO_TIME_BEFORE} THEN {cast} END"


def iso_sql(text: str, spaced: bool = False) -> str:
    """ISO 8601 text as a naive UTC TIMESTAMP (an offset or a zone honoured), NULL when it is
    none, a time before the year 1000 included. With ``spaced``, an offset after a space
    (Java's "yyyy-MM-dd HH:mm:ss Z": 2016-02-29 01:16:05 +0100), which DuckDB's cast refuses,
    is joined to the time: only a value the plain cast refuses pays it (logs and exports; a
    data package's dates are ISO 8601 as written)."""
    zoned = f"TRY_CAST({text} AS TIMESTAMPTZ)"
    if spaced:
        joined = f"regexp_replace({text}, {literal(_SPACED_OFFSET)}, '\\1')"
        zoned = f"coalesce({zoned}, TRY_CAST({joined} AS TIMESTAMPTZ))"
    return dated(f"TRY_CAST({zoned} AS TIMESTAMP)")


@dataclass(frozen=True)
class Slash:
    """Slash dates in ``order`` (:data:`DMY`, :data:`MDY`); ``first``, the log's first time as
    written, whose form is tried first: DuckDB tries a list of formats in turn, and a list
    whose first entry fits costs a sixth of one that fits only further on (0.08 against 0.5 s
    for 1.2 M times; docs/benchmarks.md, session 28)."""

    order: str
    first: str = ""


def _directives(order: str) -> tuple[str, str]:
    """The strptime directives of a slash date's first two parts in ``order``."""
    return ("%d", "%m") if order == DMY else ("%m", "%d")


def form(value: str, order: str) -> str | None:
    """The strptime format of a slash date as written, in ``order``; None for no slash date."""
    found = _match(value)
    if found is None:
        return None
    m, year = found
    a, b = _directives(order)
    sep, clock, secs, part, half = m.group(1)[0], *m.groups()[1:5]
    time = "" if clock is None else ((" %I:%M" if half else " %H:%M") + (":%S" if secs else "")
                                     + (".%f" if part else ""))
    return f"{a}{sep}{b}{sep}{year}{time}" + ("" if not half else " %p" if half[0] == " " else "%p")


def _formats(slash: Slash, year: str = "%Y") -> str:
    """DuckDB's list of strptime formats for slash dates whose year is ``year`` (%Y, or %y after
    / or .): the first time's form, then the rest, the 24-hour forms without a fraction first
    (without a first time, the importer's ``--dayfirst``, the list before session 28 comes
    first: a dotted date fits its fifth entry, not its eleventh)."""
    a, b = _directives(slash.order)
    forms = [f"{a}{s}{b}{s}{year}{t}" for clocks in (_CLOCKS, _CLOCKS_MORE)
             for s in ("/.-" if year == "%Y" else "/.") for t in clocks]
    first = form(slash.first, slash.order)
    if first is not None and first in forms:
        forms = [first, *(f for f in forms if f != first)]
    return "[" + ", ".join(map(literal, forms)) + "]"


def timestamp_sql(text: str, fmt: str | None, slash: Slash | None) -> tuple[str, str]:
    """SQL turning one text value into a naive UTC TIMESTAMP (NULL when unparseable), and the
    expected form for messages: by the strptime format ``fmt``, else as ``slash`` dates, else
    as ISO 8601."""
    if fmt is not None:   # %Y also takes "16": the year 16 is no date (dated)
        return (dated(f"CAST(try_strptime({text}, {literal(fmt)}) AS TIMESTAMP)"),
                f"a date in the format {fmt}")
    if slash is not None:
        v = f"trim({text})"   # a two-digit year only where a four-digit one does not fit
        return (f"CASE WHEN regexp_full_match({v}, {literal(SLASH_RE)}) THEN "
                f"try_strptime({v}, {_formats(slash)}) WHEN regexp_full_match({v}, "
                f"{literal(SHORT_RE)}) THEN try_strptime({v}, {_formats(slash, '%y')}) END",
                DAYFIRST_EXPECTED if slash.order == DMY else MONTHFIRST_EXPECTED)
    return (iso_sql(text, spaced=True),
            ISO_EXPECTED + "; slash dates are read when a value tells day-first (29/2/2016) "
            "from month-first (2/29/2016), or with --dayfirst; other forms need a strptime "
            "format (--time-format)")


# Times only their form reads, whose month is a name or whose year comes first with dots:
# Oracle's 01-MAR-2016 09:30, Jira's 12/Mar/24 10:15 AM, the US Mar 1, 2016 9:30:05 AM, the
# British 1 March 2016, e-mail's Tue, 01 Mar 2016 09:30:05 +0000, 2016.03.01 09:30. A month
# name tells the order, so the first time's form is the log's (named_form).
_NAMED = tuple(d + t for d in ("%d-%b-%Y", "%d-%b-%y", "%d/%b/%Y", "%d/%b/%y", "%d %b %Y",
                               "%d %B %Y", "%b %d, %Y", "%B %d, %Y", "%a, %d %b %Y", "%Y.%m.%d")
               for t in ("", " %H:%M", " %H:%M:%S", " %H:%M:%S.%f", " %I:%M %p", " %I:%M:%S %p",
                         " %I:%M%p", " %I:%M:%S%p", " %I.%M.%S.%f %p", " %H:%M:%S %z"))


def named_form(con: duckdb.DuckDBPyConnection, value: str) -> str | None:
    """The strptime format of a time as written whose month is a name (or whose year comes
    first with dots), as DuckDB reads it; None for ISO 8601, a slash date or any other form.
    One query of the one value (~110 formats)."""
    v = value.strip()
    if is_slash(v) or not (re.search(r"[A-Za-z]{3}", v) or re.match(r"\d{4}\.\d", v)):
        return None
    tried = ", ".join(f"{dated(f'try_strptime($v, {literal(f)})')} IS NOT NULL" for f in _NAMED)
    hits = con.execute(f"SELECT {iso_sql('$v')} IS NOT NULL, {tried}", {"v": v}).fetchall()[0]
    return None if hits[0] else next(
        (f for f, hit in zip(_NAMED, hits[1:], strict=True) if hit), None)


def named_note(label: str, at: tuple[int, str], fmt: str) -> str:
    """What the command says of times read in the form their first one showed."""
    return (f"{label}: read in the form {fmt}, as row {at[0]} shows ({at[1]!r}); --time-format "
            "sets another")


@dataclass(frozen=True)
class Told:
    """What a log's slash dates say of their order: the first row (and its value) whose first
    part alone passes 12 (``day``), and whose second part alone does (``month``); ``first``,
    the log's first row with a time and that time as written (its separator)."""

    first: tuple[int, str]
    day: tuple[int, str] | None
    month: tuple[int, str] | None

    @property
    def order(self) -> str | None:
        """:data:`DMY` or :data:`MDY` when the values tell one order (dots: day-first unless
        told otherwise), None when they tell none or both."""
        if self.day and self.month:
            return None
        if self.month:
            return MDY
        if self.day or "." in self.first[1]:
            return DMY
        return None

    def note(self, label: str) -> str:
        """What the command says of dates read in the :attr:`order` they told."""
        found = _match(self.first[1])
        y = "yy" if found is not None and found[1] == "%y" else "yyyy"
        kind = f"day-first (d/m/{y})" if self.order == DMY else f"month-first (m/d/{y})"
        by = self.day or self.month
        why = f"as row {by[0]} shows ({by[1]!r})" if by else "dotted dates being day-first"
        return f"{label}: read as {kind} dates, {why}; --dayfirst or --time-format sets the form"


_PARTS = re.compile(r"\s*(\d{1,2})[/.-](\d{1,2})[/.-]")   # a slash date's first two parts


def tell_values(rows: Iterable[tuple[int, str]], missing: Collection[str]) -> Told | None:
    """:func:`tell` of (row, time) pairs in hand — a CSV's first MiB, before any read."""
    first, day, month = None, None, None
    for row, raw in rows:
        value = raw.strip()
        if value in missing:
            continue
        if first is None:
            if not is_slash(value):
                return None
            first = (row, value)
        m = _PARTS.match(value)
        big = (int(m.group(1)) > 12, int(m.group(2)) > 12) if m else (False, False)
        if day is None and big == (True, False):   # 13/13/2024 tells nothing: it is no date
            day = (row, value)
        if month is None and big == (False, True):
            month = (row, value)
        if day and month:
            break
    return None if first is None else Told(first, day, month)


def first_value(con: duckdb.DuckDBPyConnection, relation: str, rownum: str,
                text: str) -> tuple[int, str] | None:
    """A time column's first value (``text``, missing markers NULL) and its row, trimmed; None
    when it has none. A scan keeps the rows' order, so no ``ORDER BY`` (0.03 s)."""
    found = con.execute(f"SELECT {rownum}, trim({text}) FROM {relation} WHERE {text} IS NOT "
                        "NULL LIMIT 1").fetchall()
    return (int(found[0][0]), str(found[0][1])) if found else None


def tell(con: duckdb.DuckDBPyConnection, relation: str, rownum: str, raw: str,
         at: tuple[int, str] | None, scan: bool = True) -> Told | None:
    """How a time column is written (``raw``, its SQL over ``relation``, whose data row is
    ``rownum``; ``at``, its :func:`first_value`): None when its first value is no slash date
    (ISO, or a form only a format reads), else what its values say of their order — one scan
    of ~15 ms per 120 k rows, only for such a log (and only with ``scan``: else its first
    value alone)."""
    if at is None or not is_slash(at[1]):
        return None
    if not scan:
        return Told(at, None, None)
    parts = literal("^" + _PARTS.pattern)
    big = [f"TRY_CAST(p.{k} AS INTEGER) > 12" for k in "dm"]
    day, month = (f"{big[i]} AND NOT {big[1 - i]}" for i in (0, 1))   # 13/13 tells nothing
    row = con.execute(f"SELECT min(r) FILTER (WHERE {day}), arg_min(v, r) FILTER (WHERE {day}), "
                      f"min(r) FILTER (WHERE {month}), arg_min(v, r) FILTER (WHERE {month}) "
                      f"FROM (SELECT r, v, regexp_extract(v, {parts}, ['d', 'm']) AS p FROM "
                      f"(SELECT {rownum} AS r, CAST({raw} AS VARCHAR) AS v FROM {relation}))"
                      ).fetchall()[0]
    found = [None if row[i] is None else (int(row[i]), str(row[i + 1]).strip()) for i in (0, 2)]
    return Told(at, found[0], found[1])
