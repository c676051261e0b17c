"""Reading a data package: ``dipstick.yaml`` into the value model, signal files into the engine.

Every problem is collected before anything is reported, so one run of ``dipstick validate``
lists all of them; each names the file, row, field and value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dipstick.bounds import date_problem, number_problem
from dipstick.engine import Signals
from dipstick.engine.memory import bounded
from dipstick.engine.sql import latest_date, load_table
from dipstick.errors import PackageError, Problem
from dipstick.model import ValueModel
from dipstick.package.sources import declared_tables, table_sources
from dipstick.package.tables import TABLES, keys_of
from dipstick.package.yamltext import Loader as _Loader
from dipstick.package.yamltext import load as load_yaml
from dipstick.selfassess import Answer, read_self_assessment

MODEL_FILE = "dipstick.yaml"
DATE_COLUMNS = {"tickets": ["opened_at"], "usage": ["date"], "costs": ["month"],
                "training": ["date"], "changes": ["date"], "surveys": ["date"], "kpis": ["date"],
                "events": ["timestamp"], "touchpoints": ["date"]}

# the tables something appends to after the load (a pulse's answers: pulse/feed.py), which
# stay plain tables; the others keep their text of known values coded (engine/coded.py)
APPENDED = frozenset({"surveys"})


@dataclass
class Package:
    path: Path
    model: ValueModel
    signals: Signals
    latest: date | None
    # day one: the owners' answers to the questionnaire (self_assessment.csv/.yaml, and the
    # app database's, merged in by a check's prepare step)
    self_assessment: tuple[Answer, ...] = ()
    # the tables Spark read and validated (``load_package(spark=…)``): name → DataFrame
    lake: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        self.signals.close()


Progress = Callable[[str], None]


def load_package(path: str | Path, progress: Progress | None = None, spark: Any = None,
                 omit: Mapping[str, Collection[str]] | None = None) -> Package:
    """Load and validate a package; raise :class:`PackageError` with every problem found.
    With a Spark session, its Parquet tables (files, folders, URLs) are read and validated
    by Spark as jobs and kept as Spark DataFrames in ``Package.lake`` (never collected);
    CSV tables, local files of the package folder, are still loaded by DuckDB. ``omit``:
    columns of a table DuckDB validates but does not keep, for a caller that never reads
    them (the check: ``runs.UNREAD``)."""
    root = Path(path)
    model, problems, declared = _read_model(root)
    if model is None:
        raise PackageError(problems)
    con = bounded()
    loaded: dict[str, str] = {}
    lake: dict[str, Any] = {}
    refs = reference_ids(model)
    for source in table_sources(root, declared, problems):
        if progress:
            progress(source.table)
        table = source.table
        if spark is not None and source.lake:
            from dipstick.engine.spark_load import load_frame

            frame, found = load_frame(spark, table, source.location, TABLES[table], refs,
                                      source.display, partial(keys_of, table), source.folder)
            if frame is not None:
                lake[table] = frame
        else:
            found = load_table(con, table, source.location, TABLES[table], refs,
                               source.display, partial(keys_of, table), source.folder,
                               coded=table not in APPENDED, omit=(omit or {}).get(table, ()))
            if not found:
                loaded[table] = table
        problems += found
    answers, found = read_self_assessment(root, (s.id for s in model.services))
    problems += found
    if problems:
        con.close()
        raise PackageError(problems)
    day = _as_date(latest_date(con, {t: DATE_COLUMNS[t] for t in loaded}))
    if lake:
        from dipstick.engine.spark_load import latest_of

        on_lake = latest_of({t: (f, DATE_COLUMNS[t]) for t, f in lake.items()})
        day = max(day, on_lake) if day and on_lake else day or on_lake
    # a self-assessment is data too: a day-one package's latest date is its newest answer
    newest = max((a.date for a in answers if a.date), default=None)
    return Package(root, model, Signals(con, loaded),
                   max(day, newest) if day and newest else day or newest, answers, lake)


def validate(path: str | Path) -> list[Problem]:
    try:
        load_package(path).close()
    except PackageError as e:
        return e.problems
    return []


def read_model(root: Path) -> tuple[ValueModel | None, list[Problem]]:
    """Parse and check ``dipstick.yaml``; the model is None when it cannot be built at all."""
    model, problems, _ = _read_model(root)
    return model, problems


def _read_model(root: Path) -> tuple[ValueModel | None, list[Problem], dict[str, str]]:
    """:func:`read_model`, and where its ``tables:`` live (:func:`table_sources`)."""
    file = root / MODEL_FILE
    if not root.is_dir():
        return None, [Problem(str(root), "is not a folder (a data package is a folder)")], {}
    if not file.is_file():
        return None, [Problem(str(file), "is missing: a data package needs a dipstick.yaml")], {}
    text, problem = _read_text(file)
    if problem is not None:
        return None, [problem], {}
    declared: dict[str, str] = {}
    model, problems = _parse_model(text, declared)
    return model, problems, declared


def _parse_model(text: str, declared: dict[str, str]) -> tuple[ValueModel | None,
                                                               list[Problem]]:
    """The model of ``text``; its ``tables:`` go to ``declared`` (not part of the model:
    where the data lives is the package's business, not the value model's)."""
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        return None, [Problem(MODEL_FILE, f"is not valid YAML: {getattr(e, 'problem', e)}",
                              line=mark.line + 1 if mark else None)]
    except ValueError as e:   # a number of over 4,300 digits, a date like 2026-13-45
        long = re.search(r"\d{4300,}", text)
        if long:
            return None, [Problem(MODEL_FILE, "has a number of more than 4,300 digits: no "
                                  "value means that much",
                                  line=text.count("\n", 0, long.start()) + 1)]
        return None, [Problem(MODEL_FILE, f"has a value that cannot be read: {e} (a date "
                              "must be a real day, e.g. 2026-03-01)")]
    except RecursionError:
        return None, [Problem(MODEL_FILE, "is nested too deeply to be read")]
    if not isinstance(raw, dict):
        return None, [Problem(MODEL_FILE, "must be a mapping with an `organisation:` key")]
    wrong_tables = declared_tables(raw.pop("tables", None), declared)
    if wrong_tables:
        return None, wrong_tables
    bounds = list(_out_of_bounds(raw))
    try:
        model = ValueModel.model_validate(raw)
    except ValidationError as e:
        node = yaml.compose(text, Loader=_Loader)  # line numbers, only when there are errors
        named = {where for where, _, _ in bounds}
        wrong = [_yaml_problem(err, raw, node) for err in e.errors()]
        return None, [*_bound_problems(bounds, node), *(p for p in wrong if p.field not in named)]
    found = model_problems(model)
    node = yaml.compose(text, Loader=_Loader) if found or bounds else None
    named = {where for where, _, _ in bounds}
    problems = [*_bound_problems(bounds, node),
                *(Problem(MODEL_FILE, msg, field=where, line=_line(node, _loc(where)))
                  for where, msg in found if where not in named)]
    # a model with a value out of bounds is not checked: its windows would overflow
    return (None if bounds else model), problems


def _read_text(file: Path) -> tuple[str, Problem | None]:
    """The file's text; a byte that is not UTF-8 is a problem naming its line, not a
    traceback."""
    data = file.read_bytes()
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as e:
        return "", Problem(MODEL_FILE, f"is not UTF-8 text: byte 0x{data[e.start]:02x} at "
                           f"position {e.start} (save the file as UTF-8)",
                           line=data.count(b"\n", 0, e.start) + 1)


def _out_of_bounds(raw: Any) -> list[tuple[str, str, object]]:
    """(field, why, value) of every number or date of the raw YAML that means nothing: inf,
    NaN, a whole number beyond 64 bits, a date outside 1900–2200 (:mod:`dipstick.bounds`),
    wherever it is (settings, costs, rates, targets, alerts …). A field's path is only
    spelled out for a value found out of bounds, and text (most values) is passed at once:
    the large demo's 47,000 values of 2,040 services, 0.027 → 0.015 s of CPU."""
    found: list[tuple[str, str, object]] = []
    path: list[tuple[bool, Any]] = []   # (in a list, key or index) down to the value

    def walk(node: Any) -> None:
        in_list = isinstance(node, list)
        for k, v in (enumerate(node) if in_list else node.items()):
            if isinstance(v, (dict, list)):
                path.append((in_list, k))
                walk(v)
                path.pop()
            elif not isinstance(v, str):
                why = _bound(v)
                if why:
                    found.append((_spelled([*path, (in_list, k)]), why, _shown(v)))

    if isinstance(raw, (dict, list)):
        walk(raw)
    return found


def _spelled(path: list[tuple[bool, Any]]) -> str:
    """``services[3].supports[0].contribution`` of a path of keys and indexes."""
    out = ""
    for in_list, k in path:
        out += f"[{k}]" if in_list else f".{k}" if out else str(k)
    return out


def _bound(value: Any) -> str | None:
    return date_problem(value) if isinstance(value, date) else number_problem(value)


def _shown(value: Any) -> object:
    if isinstance(value, date):
        return value.isoformat()
    return value if isinstance(value, float) else f"{str(value)[:20]}…"


def _bound_problems(bounds: list[tuple[str, str, object]], node: Any) -> list[Problem]:
    return [Problem(MODEL_FILE, why, field=where, value=value, line=_line(node, _loc(where)))
            for where, why, value in bounds]


def model_problems(model: ValueModel) -> list[tuple[str, str]]:
    """Referential and uniqueness rules the models cannot check one object at a time."""
    from dipstick.indicators.registry import settings_problems

    out: list[tuple[str, str]] = []
    groups = {g.id for g in model.stakeholder_groups}
    outcomes = {o.id for o in model.outcomes}
    services = {s.id for s in model.services}
    for name, ids in (("stakeholder_groups", [g.id for g in model.stakeholder_groups]),
                      ("outcomes", [o.id for o in model.outcomes]),
                      ("services", [s.id for s in model.services]),
                      ("value_streams", [v.id for v in model.value_streams]),
                      ("journeys", [j.id for j in model.journeys])):
        seen: set[str] = set()
        for i, x in enumerate(ids):
            if x in seen:
                out.append((f"{name}[{i}].id", f"duplicate id {x!r}"))
            seen.add(x)
    for i, s in enumerate(model.services):
        out += [(f"services[{i}].consumers[{k}]", f"unknown stakeholder group {c!r}")
                for k, c in enumerate(s.consumers) if c not in groups]
        out += [(f"services[{i}].supports[{k}].outcome", f"unknown outcome {v.outcome!r}")
                for k, v in enumerate(s.supports) if v.outcome not in outcomes]
    for i, v in enumerate(model.value_streams):
        for k, st in enumerate(v.steps):
            out += [(f"value_streams[{i}].steps[{k}].services", f"unknown service {x!r}")
                    for x in st.services if x not in services]
        if v.event_log is not None:
            out += [(f"value_streams[{i}].event_log.services", f"unknown service {x!r}")
                    for x in v.event_log.services if x not in services]
    for i, j in enumerate(model.journeys):
        if j.stakeholder_group and j.stakeholder_group not in groups:
            out.append((f"journeys[{i}].stakeholder_group",
                        f"unknown stakeholder group {j.stakeholder_group!r}"))
        for si, stage in enumerate(j.stages):
            for ti, t in enumerate(stage.touchpoints):
                out += [(f"journeys[{i}].stages[{si}].touchpoints[{ti}].services",
                         f"unknown service {x!r}") for x in t.services if x not in services]
    out += [(f"settings.{k}", msg) for k, msg in settings_problems(model.settings)]
    return out


def reference_ids(model: ValueModel) -> dict[str, set[str]]:
    """The ids a table's reference columns may name, by kind (the loader's and importers'
    check of unknown services, groups, outcomes …)."""
    sep = chr(31)
    return {
        "service": {s.id for s in model.services},
        "group": {g.id for g in model.stakeholder_groups},
        "outcome": {o.id for o in model.outcomes},
        "journey": {j.id for j in model.journeys},
        "dimension": {f"{g.id}{sep}{d.id}" for g in model.stakeholder_groups
                      for d in g.value_dimensions},
        "touchpoint": {f"{j.id}{sep}{t.id}" for j in model.journeys for t in j.touchpoints},
    }


def _yaml_problem(err: Any, raw: Any, node: Any) -> Problem:
    loc = tuple(err["loc"])
    where = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p))
                    for i, p in enumerate(loc))
    value = _lookup(raw, loc) if err["type"] != "missing" else None
    msg = "is required" if err["type"] == "missing" else err["msg"]
    if err["type"] == "value_error":   # our own validators' words, without pydantic's prefix
        msg = str(err.get("ctx", {}).get("error", msg))
    if err["type"] == "extra_forbidden":
        msg = "unknown key (check the spelling against docs/data-package.md)"
    return Problem(MODEL_FILE, msg, field=where or None, value=value, line=_line(node, loc))


def _loc(where: str) -> tuple[str | int, ...]:
    out: list[str | int] = []
    for part in where.replace("]", "").replace("[", ".").split("."):
        if part:
            out.append(int(part) if part.isdigit() else part)
    return tuple(out)


def _lookup(raw: Any, loc: tuple[Any, ...]) -> Any:
    for p in loc:
        try:
            raw = raw[p]
        except (KeyError, IndexError, TypeError):
            return None
    return raw if not isinstance(raw, (dict, list)) else None


def _line(node: Any, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (or of its nearest existing parent)."""
    line = node.start_mark.line + 1 if node is not None else None
    for p in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if k.value == p), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(p, int) and p < len(node.value):
            nxt = node.value[p]
        else:
            nxt = None
        if nxt is None:
            break
        node, line = nxt, nxt.start_mark.line + 1
    return line


def _as_date(v: object) -> date | None:
    if isinstance(v, datetime):
        return v.date()
    return v if isinstance(v, date) else None
