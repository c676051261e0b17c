"""``import_file``: one export (CSV, Excel, Parquet) into one table of a data package, safely.

The shell (CLI, live pulls) calls only this. An import is all-or-nothing: the new table is
written to a temporary file in the package folder, validated with the package's own table
checks, and only then renamed over the old one; a bad row stops it (or, with
``skip_bad_rows``, is listed in a rejects file). See docs/connectors.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import duckdb

from dipstick.connectors import catalog, folder
from dipstick.connectors import look as look_
from dipstick.connectors import pipeline as pl
from dipstick.connectors import services as services_
from dipstick.connectors.look import FieldLook
from dipstick.connectors.presets import Preset, preset
from dipstick.connectors.sources import Source, open_source, read_error, stage
from dipstick.defaults import IMPORT_KINDS
from dipstick.engine.log_times import iso_sql
from dipstick.engine.sql import (
    duplicate_message,
    duplicate_rows,
    has_key,
    ident,
    key_sql,
    key_text,
    literal,
    load_table,
    run,
)
from dipstick.errors import PackageError, Problem, UsageError
from dipstick.model import ValueModel
from dipstick.package import DATE_COLUMNS, MODEL_FILE, reference_ids
from dipstick.package.tables import FORMATS, TABLES, Column, keys_of


@dataclass(frozen=True)
class ImportOptions:
    """How to read one export. Every field has the default a plain canonical CSV needs."""

    preset: str | None = None                 # servicenow | jira (tickets, services)
    mapping: Mapping[str, str] = field(default_factory=dict)  # dipstick field -> source column
    service_from: str | None = None           # the source column naming the service
    service_map: Path | None = None           # CSV value,service: source values -> service ids
    starter_services: bool = False            # one new service per distinct unmapped value
    starter_groups: bool = False              # one new internal group per unknown group value
    dayfirst: bool = False                    # 3/4/2026 is 3 April
    date_format: str | None = None            # a strptime format, e.g. %m/%d/%Y
    encoding: str | None = None               # utf-8 | utf-8-sig | latin-1 (None: detected)
    skip_bad_rows: bool = False               # bad rows go to a rejects file instead of failing
    replace: bool = False                     # replace the table instead of merging by key
    delimiter: str | None = None              # CSV delimiter (None: sniffed)
    sheet: str | None = None                  # Excel sheet (None: the first)
    dry_run: bool = False                     # look, map, check and count; write nothing


@dataclass(frozen=True)
class ImportSummary:
    """What an import did; the same object feeds the summary table and ``--format json``."""

    table: str
    rows_read: int
    rows_written: int
    rows_rejected: int
    rejects_file: Path | None
    first_date: date | None
    last_date: date | None
    unmapped: tuple[str, ...]
    source: Path | None = None
    target: Path | None = None
    rows_in_table: int = 0                    # rows of the table after the merge
    rows_replaced: int = 0                    # existing rows whose key the import carried
    services_added: tuple[str, ...] = ()
    groups_added: tuple[str, ...] = ()        # stakeholder groups added (--starter-groups)
    service_map_file: Path | None = None      # the starter mapping written, if any
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()            # what the user should fix or check
    fields: tuple[FieldLook, ...] = ()        # the mapping with fill rates
    dry_run: bool = False                     # nothing was written
    unassigned: int = 0                       # rows that went to the 'unassigned' service

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table, "source": _s(self.source), "target": _s(self.target),
            "rows_read": self.rows_read, "rows_written": self.rows_written,
            "rows_rejected": self.rows_rejected, "rejects_file": _s(self.rejects_file),
            "rows_in_table": self.rows_in_table, "rows_replaced": self.rows_replaced,
            "first_date": _s(self.first_date), "last_date": _s(self.last_date),
            "unmapped": list(self.unmapped), "services_added": list(self.services_added),
            "groups_added": list(self.groups_added),
            "service_map_file": _s(self.service_map_file), "notes": list(self.notes),
            "warnings": list(self.warnings), "unassigned": self.unassigned,
            "dry_run": self.dry_run, "mapping": [f.to_json() for f in self.fields],
        }


def _s(v: object) -> str | None:
    return None if v is None else str(v)


Progress = Callable[[int], None]


KINDS = IMPORT_KINDS
SERVICE_COLUMNS: tuple[Column, ...] = (
    Column("id"), Column("name", required=True), Column("owner"),
    Column("lifecycle", choices=("pipeline", "live", "retiring", "retired")),
    Column("capability"), Column("monthly_cost", "number", minimum=0),
    Column("licences", "integer", minimum=0),
    Column("licence_cost_monthly", "number", minimum=0),
    Column("end_of_life", "timestamp"), Column("launched", "timestamp"),
)


def import_file(kind: str, source: Path, into: Path, options: ImportOptions = ImportOptions(),
                progress: Progress | None = None) -> ImportSummary:
    """Import ``source`` as table ``kind`` (or the ``services`` of dipstick.yaml) into the
    package folder ``into`` (created when missing). ``progress`` receives the percent done.

    Raises PackageError (file, row, field, value of every problem; nothing written) or
    UsageError (a bad option).
    """
    if kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}: use one of {', '.join(KINDS)}")
    if options.date_format is not None and options.dayfirst:
        raise UsageError("give --dayfirst or --date-format, not both")
    source, into = Path(source), Path(into)
    spec = preset(kind, options.preset)
    tick = progress or (lambda _: None)
    with folder.locked(into):
        text, model = folder.current_model(into)
        with folder.workdir(into) as work:
            con = folder.connect(work)
            try:
                if options.date_format is not None:
                    _check_date_format(con, options.date_format)
                src = open_source(con, source, work, options.encoding, options.delimiter,
                                  options.sheet)
                tick(5)
                if kind == "services":
                    return _import_services(con, src, into, work, text, options, spec, tick)
                return _import_table(con, kind, src, into, work, text, model, options, spec,
                                     tick)
            finally:
                con.close()


def _check_date_format(con: duckdb.DuckDBPyConnection, fmt: str) -> None:
    from dipstick.engine.logs_sql import check_format

    bad = check_format(con, fmt)
    if bad:
        raise UsageError(f"--date-format {fmt!r} is not a valid strptime format: {bad}")


# ---- signal tables ---------------------------------------------------------------------------

def _import_table(con: duckdb.DuckDBPyConnection, kind: str, src: Source, into: Path,
                  work: Path, text: str, model: ValueModel, options: ImportOptions,
                  spec: Preset | None, tick: Progress) -> ImportSummary:
    columns = TABLES[kind] + pl.EXTRA.get(kind, ())
    choice = look_.choose(con, src, kind, spec, options.mapping, options.service_from,
                          options.dayfirst, options.date_format,
                          [c.name for c in columns if c.kind == "timestamp"])
    dates = pl.Dates(options.dayfirst or bool(spec and spec.dayfirst), options.date_format,
                     (*(spec.date_formats if spec else ()), *choice.date_forms))
    mapping = {**choice.mapping, **options.mapping}
    p = pl.plan(kind, columns, src.columns, src.display, mapping, choice.service_from,
                spec, service_optional=options.starter_services)
    used = [*p.sources.values(), *([p.order] if p.order else [])]
    stage(con, src, pl.RAW, used)
    groups: list[str] = []
    if options.starter_groups:
        text, model, groups = services_.starter_groups(con, p, text, model, work)
    refs = reference_ids(model)
    checks = _read(con, src, p, dates, refs)
    rows_read = _count(con, "_typed_t")
    tick(30)
    pl.collect_bad(con, "_typed", checks, "row")
    _stop_if_bad(con, src, options, [Problem(src.display, f"note: {choice.dates}")]
                 if choice.dates else [])
    collapse = spec is not None and spec.collapse is not None
    if collapse:
        run(con, f"CREATE OR REPLACE TABLE _rows AS {pl.collapse_sql(p)}")
    else:
        run(con, "CREATE OR REPLACE VIEW _rows AS SELECT * FROM _typed "
                 "WHERE _row NOT IN (SELECT row FROM _bad)")
    tick(50)
    unmapped, added, map_rows = services_.resolve_services(
        con, p, options.service_map, options.starter_services, model)
    unassigned, said = services_.coverage(con, p, src.display, unmapped,
                                          options.service_map is not None,
                                          options.starter_services, choice.service_fill)
    if added:
        text = catalog.with_services(text, [*catalog.raw_services(text),
                                            *({"id": sid, "name": name, "lifecycle": "live"}
                                              for sid, name in added)])
        model = folder.check_model(text, work)
        refs = reference_ids(model)
    pl.collect_bad(con, "_final", _post_checks(con, kind, p, collapse), "post")
    _stop_if_bad(con, src, options, [*(Problem(src.display, f"note: {n}") for n in
                                       choice.notes), *said.problems] if said.problems else [])
    run(con, "CREATE OR REPLACE VIEW _out AS SELECT * FROM _final "
             "WHERE _row NOT IN (SELECT row FROM _bad)")
    # unmapped optional columns are left out, not written as NULL (engine.sql reads a NULL
    # reference against an empty id list as unknown)
    out_cols = [c for c in columns if c.required or c.name in p.sources or c.name in p.constants]
    select = ", ".join(f"CAST({ident('v_' + c.name)} AS {c.sql_type}) AS {ident(c.name)}"
                       for c in out_cols)
    old = _existing(into, kind)
    merging = old is not None and not options.replace
    # a view unless the merge reads it three times: writing 10 M rows costs more than a rescan
    run(con, f"CREATE OR REPLACE {'TABLE' if merging else 'VIEW'} _new AS SELECT {select} "
             "FROM _out")
    date_col = DATE_COLUMNS[kind][0]
    written, first, last = run(con, f"SELECT count(*), min({ident(date_col)}), "
                                    f"max({ident(date_col)}) FROM _new")[0]
    tick(65)
    notes = (*choice.notes, *((f"collapsed {rows_read:,} updates to one row per "
                               f"{p.label('id')}",) if collapse else ()),
             *((f"added {len(groups)} stakeholder group(s) from the values of "
                f"{', '.join(services_.group_columns(p))}, as internal: set their kind, size "
                "and value dimensions in dipstick.yaml",) if groups else ()))
    warnings = (*choice.warnings, *said.warnings)
    fields = tuple(look_.fill_rates(con, p, _how(p, options, choice, spec), collapse,
                                    distinct=options.dry_run))
    if options.dry_run:
        tick(100)
        return ImportSummary(
            kind, rows_read, int(written), _count(con, "_bad"), None, _day(first), _day(last),
            tuple(unmapped), source=src.path, target=into / f"{kind}{_ext(into, kind)}",
            services_added=tuple(sid for sid, _ in added), notes=notes, warnings=warnings,
            fields=fields, dry_run=True, unassigned=unassigned, groups_added=tuple(groups))

    replaced = 0
    keys, _ = keys_of(kind, p.sources)
    if merging:
        assert old is not None
        run(con, f"CREATE OR REPLACE VIEW _old AS SELECT * FROM {_read_typed(old, columns)}")
        match = " AND ".join(f"n.{ident(k)} IS NOT DISTINCT FROM o.{ident(k)}" for k in keys)
        replaced = int(run(con, f"SELECT count(*) FROM _old o WHERE EXISTS (SELECT 1 FROM _new n "
                                f"WHERE {match})")[0][0])
        run(con, f"CREATE OR REPLACE VIEW _merged AS SELECT * FROM _new UNION ALL BY NAME "
                 f"SELECT * FROM _old o WHERE NOT EXISTS (SELECT 1 FROM _new n WHERE {match})")
    else:
        run(con, "CREATE OR REPLACE VIEW _merged AS SELECT * FROM _new")
    ext = old.suffix if old is not None else ".parquet"
    staged = folder.stage_dir(into, work)
    tmp = staged / f"{kind}{ext}"
    fmt = "FORMAT parquet" if ext == ".parquet" else "FORMAT csv, HEADER true"
    # rows keep the file's order (then the kept old rows); a collapsed audit trail comes out
    # of a GROUP BY in no fixed order, so it is sorted: the same import, the same file
    order = f" ORDER BY {', '.join(ident(k) for k in keys)}" if collapse else ""
    run(con, f"COPY (SELECT * FROM _merged{order}) TO ? ({fmt})", [str(tmp)])
    tick(80)
    # the written file, read back by the package loader's own checks against the new model
    problems = load_table(con, kind, tmp, TABLES[kind], refs, f"{kind}{ext} (as imported)",
                          partial(keys_of, kind))
    if problems:
        raise PackageError(problems)
    total = _count(con, ident(kind))
    tick(95)
    rejects = _write_rejects(con, staged, kind, p)
    map_file = None
    if options.starter_services:
        map_file = services_.write_map(into, staged, map_rows)
    if added or groups or not (into / MODEL_FILE).is_file():
        (staged / MODEL_FILE).write_text(text, encoding="utf-8")
    folder.commit(into, work, staged,
                  [MODEL_FILE, services_.MAP_FILE, f"{kind}.rejects.csv", tmp.name],
                  stale=[f"{kind}.rejects.csv"] if rejects is None else [])
    tick(100)
    return ImportSummary(
        kind, rows_read, int(written), _count(con, "_bad"),
        into / rejects.name if rejects else None, _day(first), _day(last), tuple(unmapped),
        source=src.path, target=into / tmp.name, rows_in_table=total, rows_replaced=replaced,
        services_added=tuple(sid for sid, _ in added),
        service_map_file=into / services_.MAP_FILE if map_file else None,
        notes=notes, warnings=warnings, fields=fields, unassigned=unassigned,
        groups_added=tuple(groups))


def _how(p: pl.Plan, options: ImportOptions, choice: look_.Choice,
         spec: Preset | None) -> dict[str, str]:
    """How each field found its column, for the mapping table."""
    how: dict[str, str] = {}
    for f, col in p.sources.items():
        if f in options.mapping:
            how[f] = "--map"
        elif f == "service" and options.service_from:
            how[f] = "--service-from"
        elif f == "service" and choice.service_from:
            how[f] = f"chosen: filled on {choice.service_fill.get(col, 0):.1%}"
        elif f in choice.mapping:
            how[f] = "near match"
        elif spec is not None and col.lower() in {c.lower() for c in spec.columns.get(f, ())}:
            how[f] = f"{spec.name} preset"
        else:
            how[f] = "same name"
    return how


def _ext(into: Path, kind: str) -> str:
    old = _existing(into, kind) if into.is_dir() else None
    return old.suffix if old is not None else ".parquet"


def _read(con: duckdb.DuckDBPyConnection, src: Source, p: pl.Plan, dates: pl.Dates,
          refs: Mapping[str, set[str]]) -> list[tuple[str, str, str, str]]:
    try:
        return pl.build_typed(con, p, dates, refs)
    except duckdb.Error as e:
        raise read_error(src, e) from None


def _stop_if_bad(con: duckdb.DuckDBPyConnection, src: Source, options: ImportOptions,
                 lead: Sequence[Problem] = ()) -> None:
    """Stop on bad rows (unless they are skipped); ``lead`` problems sum them up first."""
    if not options.skip_bad_rows and _count(con, "_bad"):
        raise PackageError([*lead, *pl.bad_problems(con, src.display,
                                                    src.format != "parquet")])


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(run(con, f"SELECT count(*) FROM {table}")[0][0])


def _post_checks(con: duckdb.DuckDBPyConnection, kind: str, p: pl.Plan,
                 collapse: bool) -> list[tuple[str, str, str, str]]:
    """Checks of the rows as they will be written: services resolved, cross-field rules, one
    row per key."""
    checks: list[tuple[str, str, str, str]] = []
    names = {c.name for c in p.columns}
    if "service" in names:
        label = p.label("service")
        checks.append((label, "t_service IS NULL AND v_service IS NULL",
                       "is required but empty (or use --starter-services)", "t_service"))
        checks.append((label, "t_service IS NOT NULL AND v_service IS NULL",
                       "no service for this value: not in the service map and not a service id "
                       "in dipstick.yaml (map it with --service-map, or --starter-services)",
                       "t_service"))
    if kind == "tickets" and "resolved_at" in p.sources:
        checks.append((p.label("resolved_at"), "v_resolved_at < v_opened_at",
                       "is before opened_at", "t_resolved_at"))
    if kind == "touchpoints" and {"visitors", "drop_offs"} <= p.sources.keys():
        checks.append((p.label("drop_offs"), "v_drop_offs > v_visitors",
                       "is more than visitors", "t_drop_offs"))
    keys, unique = keys_of(kind, p.sources)
    if not collapse and unique:
        key = key_sql([ident("v_" + k) for k in keys])
        keyed = has_key([ident("v_" + c.name) for c in p.columns
                         if c.name in keys and not c.required])
        condition, n = duplicate_rows(con, "_final", key, "_row", keyed)
        if n:
            kinds = {c.name: c.kind for c in p.columns}
            value = key_text([(ident("v_" + k), kinds[k]) for k in keys])
            checks.append((p.label(keys[0]), condition, duplicate_message(keys), value))
    return checks


def _existing(into: Path, kind: str) -> Path | None:
    files = [into / f"{kind}{ext}" for ext in FORMATS if (into / f"{kind}{ext}").is_file()]
    if len(files) > 1:
        raise PackageError([Problem(files[0].name, f"both {files[0].name} and {files[1].name} "
                                    "exist; keep one")])
    return files[0] if files else None


def _read_typed(path: Path, columns: tuple[Column, ...]) -> str:
    """The existing table, its known columns in their types (it is a valid package table).
    Read by a view (``_old``), so its path is a literal: DuckDB cannot bind one in a view."""
    if path.suffix == ".parquet":
        scan = f"read_parquet({literal(path)})"
    else:
        scan = f"read_csv({literal(path)}, header = true, all_varchar = true)"
    kinds = {c.name: c for c in columns}

    def cast(name: str) -> str:
        c = kinds[name]
        x = ident(name)
        if c.kind in ("timestamp", "month"):
            return f"{iso_sql(x)} AS {x}"
        if c.kind == "boolean":
            return f"TRY_CAST({x} AS BOOLEAN) AS {x}"
        return f"TRY_CAST({x} AS {c.sql_type}) AS {x}"

    return f"(SELECT * REPLACE ({{}}) FROM {scan})".format(
        ", ".join(cast(n) for n in _columns_of(path) if n in kinds)) \
        if any(n in kinds for n in _columns_of(path)) else f"(SELECT * FROM {scan})"


def _columns_of(path: Path) -> list[str]:
    con = duckdb.connect()
    try:
        scan = "read_parquet(?)" if path.suffix == ".parquet" else \
            "read_csv(?, header = true, all_varchar = true)"
        return [str(r[0]) for r in run(con, f"DESCRIBE SELECT * FROM {scan}", [str(path)])]
    finally:
        con.close()


def _write_rejects(con: duckdb.DuckDBPyConnection, staged: Path, kind: str,
                   p: pl.Plan) -> Path | None:
    """The bad rows with why, then their source values under the file's column names."""
    if not _count(con, "_bad"):
        return None
    out = staged / f"{kind}.rejects.csv"
    columns = {col: f"r.{ident('t_' + f)}" for f, col in reversed(list(p.sources.items()))}
    if p.order:
        columns[p.order] = "coalesce(r._tord, CAST(r._ord AS VARCHAR))"
    values = "".join(f", {x} AS {ident(col)}" for col, x in columns.items())
    run(con, f"COPY (SELECT b.row AS rejected_row, b.field AS rejected_field, b.value AS "
             f"rejected_value, b.message AS reason{values} FROM _bad b LEFT JOIN _typed r ON "
             "r._row = b.row ORDER BY b.row, b.field) TO ? (FORMAT csv, HEADER true)",
        [str(out)])
    return out


# ---- services (the catalog) ------------------------------------------------------------------

def _import_services(con: duckdb.DuckDBPyConnection, src: Source, into: Path, work: Path,
                     text: str, options: ImportOptions, spec: Preset | None,
                     tick: Progress) -> ImportSummary:
    p = pl.plan("services", SERVICE_COLUMNS, src.columns, src.display, options.mapping, None,
                spec, service_optional=True)
    stage(con, src, pl.RAW, list(p.sources.values()))
    dates = pl.Dates(options.dayfirst or bool(spec and spec.dayfirst), options.date_format)
    checks = _read(con, src, p, dates, {})
    rows_read = _count(con, "_typed_t")
    pl.collect_bad(con, "_typed", checks, "row")
    _stop_if_bad(con, src, options)
    idx = "v_id" if "id" in p.sources else "NULL"
    cols = [c.name for c in SERVICE_COLUMNS if c.name in p.sources]
    got = run(con, f"SELECT _row, {idx}, v_name, {', '.join('v_' + c for c in cols)} FROM _typed "
                   "WHERE _row NOT IN (SELECT row FROM _bad) ORDER BY _row")
    imported: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    rows_ok: list[int] = []
    for rec in got:
        row, sid, name, values = rec[0], rec[1], rec[2], rec[3:]
        sid = sid or catalog.slug(str(name))
        entry: dict[str, Any] = {"id": sid}
        for c, v in zip(cols, values, strict=True):
            if v is not None and c != "id":
                entry[c] = v.date() if isinstance(v, datetime) else v
        if sid in seen:
            label = p.label("id" if "id" in p.sources else "name")
            message = f"duplicate service id (also on row {seen[sid]})"
            run(con, "INSERT INTO _bad VALUES (?, ?, ?, ?, 'post')", [row, label, sid, message])
            continue
        seen[sid] = row
        rows_ok.append(row)
        imported.append(entry)
    _stop_if_bad(con, src, options)
    existing = catalog.raw_services(text)
    services, added, updated = catalog.merge_services(existing, imported, options.replace)
    new_text = catalog.with_services(text, services)
    tick(60)
    if options.dry_run:
        return ImportSummary("services", rows_read, len(imported), _count(con, "_bad"), None,
                             None, None, (), source=src.path, target=into / MODEL_FILE,
                             rows_in_table=len(services), rows_replaced=len(updated),
                             services_added=tuple(added), dry_run=True)
    staged = folder.stage_dir(into, work)
    (staged / MODEL_FILE).write_text(new_text, encoding="utf-8")
    folder.check_package(into, staged)
    tick(90)
    rejects = _write_rejects(con, staged, "services", p)
    folder.commit(into, work, staged, [MODEL_FILE, "services.rejects.csv"],
                  stale=["services.rejects.csv"] if rejects is None else [])
    tick(100)
    return ImportSummary("services", rows_read, len(imported), _count(con, "_bad"),
                         into / rejects.name if rejects else None, None, None, (),
                         source=src.path, target=into / MODEL_FILE,
                         rows_in_table=len(services), rows_replaced=len(updated),
                         services_added=tuple(added))


def _day(v: object) -> date | None:
    if isinstance(v, datetime):
        return v.date()
    return v if isinstance(v, date) else None
