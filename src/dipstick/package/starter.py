"""``dipstick init``'s first half: a starter ``dipstick.yaml`` from what the tables name.

An export lands in a folder before anyone has written a value model. The ids its tables name
(services, requester groups, survey dimensions, KPI outcomes, journey touchpoints) are read raw
(:func:`found_in`), and :func:`starter_text` turns them into a model that loads: found entries
are added, nothing is invented (one "all users" group stands in when no table names a group),
and what only a person knows is left as ``# TODO`` comments. :func:`write_model` checks the
result against the tables before an atomic rename puts it in place (docs/init.md).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dipstick.engine.sql import connect, ident, literal, run
from dipstick.errors import PackageError, Problem
from dipstick.package import MODEL_FILE, Package, load_package
from dipstick.package.tables import FORMATS, TABLES
from dipstick.package.yamltext import Loader as _Loader

ALL_USERS = "all-users"   # the placeholder group when no table names one
# what `dipstick import --starter-services` writes: a file holding only this is the import's own
_IMPORT_KEYS = {"organisation": {"name"}, "services": {"id", "name", "lifecycle"}}
_GROUP_COLUMNS = {"tickets": "requester_group", "training": "group", "surveys": "group"}
_SECTIONS = ("stakeholder_groups", "outcomes", "services", "journeys")


@dataclass
class Found:
    """The ids the package's tables name, read before any model knows them."""

    services: set[str] = field(default_factory=set)
    groups: dict[str, set[str]] = field(default_factory=dict)      # group -> services it used
    dimensions: dict[str, set[str]] = field(default_factory=dict)  # group -> survey dimensions
    outcomes: set[str] = field(default_factory=set)
    touchpoints: dict[str, set[str]] = field(default_factory=dict)  # journey -> touchpoints
    tables: tuple[str, ...] = ()


@dataclass(frozen=True)
class Starter:
    """The model text to write and what it adds; ``text`` is None when nothing is missing."""

    text: str | None
    added: Mapping[str, tuple[str, ...]]     # section -> ids added
    placeholder_group: bool                  # "all users" stands in for unknown groups
    imported_only: bool                      # the old file held only what an import writes


def found_in(root: Path) -> Found:
    """Read every table file of ``root`` as text and collect the ids it names (raw: the
    loader would reject an id the model lacks, which is exactly what init is for)."""
    out = Found()
    con = connect()
    tables: list[str] = []
    try:
        for table in TABLES:
            files = [root / f"{table}{ext}" for ext in FORMATS if (root / f"{table}{ext}")
                     .is_file()]
            if not files:
                continue
            tables.append(table)
            path = literal(files[0])   # a view's text cannot bind a parameter
            scan = (f"read_parquet({path})" if files[0].suffix == ".parquet"
                    else f"read_csv({path}, header = true, all_varchar = true)")
            run(con, f"CREATE OR REPLACE VIEW t AS SELECT * FROM {scan}")
            cols = {str(r[0]) for r in run(con, "DESCRIBE t")}
            _collect(con, table, cols, out)
    finally:
        con.close()
    out.tables = tuple(tables)
    return out


def _values(con: Any, *cols: str) -> list[tuple[str, ...]]:
    text = ", ".join(f"nullif(trim(CAST({ident(c)} AS VARCHAR)), '')" for c in cols)
    rows = run(con, f"SELECT DISTINCT {text} FROM t")
    return [tuple(str(v) for v in r) for r in rows if all(v is not None for v in r)]


def _collect(con: Any, table: str, cols: set[str], out: Found) -> None:
    if "service" in cols:
        out.services.update(v for (v,) in _values(con, "service"))
    group = _GROUP_COLUMNS.get(table)
    if group in cols:
        for (g,) in _values(con, group):
            out.groups.setdefault(g, set())
        if "service" in cols:
            for g, s in _values(con, group, "service"):
                out.groups[g].add(s)
    if table == "surveys" and {"group", "dimension"} <= cols:
        for g, d in _values(con, "group", "dimension"):
            out.dimensions.setdefault(g, set()).add(d)
    if table == "kpis" and "outcome" in cols:
        out.outcomes.update(v for (v,) in _values(con, "outcome"))
    if table == "touchpoints" and {"journey", "touchpoint"} <= cols:
        for j, t in _values(con, "journey", "touchpoint"):
            out.touchpoints.setdefault(j, set()).add(t)


# ---- the model text (pure) ---------------------------------------------------------------------

def imported_only(raw: Mapping[str, Any]) -> bool:
    """Whether a parsed dipstick.yaml holds nothing but what ``dipstick import`` writes."""
    for key, value in raw.items():
        allowed = _IMPORT_KEYS.get(str(key))
        if allowed is None:
            return False
        items = [value] if isinstance(value, Mapping) else value or []
        if not isinstance(items, list) or not all(
                isinstance(x, Mapping) and set(map(str, x)) <= allowed for x in items):
            return False
    return True


def starter_text(text: str | None, found: Found, name: str) -> Starter:
    """The starter model for ``found``. ``text`` is the current dipstick.yaml (None: none):
    a file with only the import's services is rewritten whole with its values kept; any other
    file keeps every byte and gets the missing entries appended to its sections."""
    raw = yaml.load(text, Loader=_Loader) if text and text.strip() else {}
    if not isinstance(raw, dict):
        raise PackageError([Problem(MODEL_FILE, "must be a mapping with an `organisation:` "
                                    "key")])
    fresh = imported_only(raw)
    have = {k: {str(x.get("id")) for x in raw.get(k) or [] if isinstance(x, Mapping)}
            for k in _SECTIONS}
    placeholder = not found.groups and not have["stakeholder_groups"]
    groups = dict(found.groups) | ({ALL_USERS: set()} if placeholder else {})
    new: dict[str, list[dict[str, Any]]] = {
        "stakeholder_groups": [_group(g, sorted(found.dimensions.get(g, ())), g == ALL_USERS)
                               for g in sorted(set(groups) | set(found.dimensions))
                               if g not in have["stakeholder_groups"]],
        "outcomes": [{"id": o, "name": o, "status": "active"} for o in sorted(found.outcomes)
                     if o not in have["outcomes"]],
        "services": [{"id": s, "name": s, "lifecycle": "live"} for s in sorted(found.services)
                     if s not in have["services"]],
        "journeys": [{"id": j, "name": j, "stages": [{"name": "Stage", "touchpoints": [
            {"id": t, "name": t} for t in sorted(ts)]}]}
            for j, ts in sorted(found.touchpoints.items()) if j not in have["journeys"]],
    }
    added = {k: tuple(str(x["id"]) for x in v) for k, v in new.items() if v}
    if fresh:
        services = [dict(s) for s in raw.get("services") or []] + new["services"]
        consumers = {s: sorted(g for g, used in groups.items() if s in used)
                     for s in found.services}
        org = {"name": name} | dict(raw.get("organisation") or {})
        out = _fresh(org, new["stakeholder_groups"], new["outcomes"], services,
                     new["journeys"], consumers, placeholder)
        return Starter(None if text is not None and out == text else out, added,
                       placeholder, True)
    if not added:
        return Starter(None, added, placeholder, False)
    merged = text or ""
    for key in _SECTIONS:
        if new[key]:
            merged = _append(merged, key, new[key])
    return Starter(merged, added, placeholder, False)


def _group(gid: str, dimensions: list[str], placeholder: bool) -> dict[str, Any]:
    g: dict[str, Any] = {"id": gid, "name": "All users" if placeholder else gid,
                         "kind": "internal"}
    if dimensions:
        g["value_dimensions"] = [{"id": d, "name": d, "weight": 1} for d in dimensions]
    return g


HEADER = """\
# A starter value model written by `dipstick init` from this package's tables (docs/init.md).
# Values were found in the tables; `# TODO` marks what only you know: fill it in, then run
# `dipstick init` again to see what to add next.
"""


def _dump(value: Any, indent: int = 0) -> str:
    body = yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=False,
                          width=100)
    pad = " " * indent
    return "".join(pad + line + "\n" for line in body.splitlines())


def _fresh(org: dict[str, Any], groups: list[dict[str, Any]], outcomes: list[dict[str, Any]],
           services: list[dict[str, Any]], journeys: list[dict[str, Any]],
           consumers: Mapping[str, list[str]], placeholder: bool) -> str:
    parts = [HEADER, "organisation:\n", _dump({"name": org.pop("name", "")}, 2)]
    parts.append(_dump({"currency": org.pop("currency", "EUR")}, 2).rstrip("\n")
                 + "   # TODO: your currency\n")
    parts.append(_dump({"hourly_rate": org.pop("hourly_rate", 60)}, 2).rstrip("\n")
                 + "   # TODO: loaded cost of a person's hour (60 is dipstick's default)\n")
    if org:
        parts.append(_dump(org, 2))
    parts.append("stakeholder_groups:\n")
    if placeholder:
        parts.append("  # TODO: no table names a requester group, so one group stands in for "
                     "everyone.\n  # Split it into the real groups (customer | partner | "
                     "supplier | internal) and their sizes.\n")
    else:
        parts.append("  # TODO: check each group's kind (customer | partner | supplier | "
                     "internal) and add its size\n")
    parts += [_dump([g], 2) for g in groups] or ["  []\n"]
    parts.append("outcomes:" + (" []\n" if not outcomes else "\n"))
    parts.append("  # TODO: the business results the services support, e.g.\n"
                 "  # - id: qualified_leads\n  #   name: Marketing +10% qualified leads\n"
                 "  #   owner: cmo@example.org\n"
                 "  #   kpi: {name: Qualified leads per month, target: 1100, direction: up}\n")
    parts += [_dump([o], 2) for o in outcomes]
    parts.append("services:\n" if services else "services: []\n")
    parts.append("  # TODO: per service, what the tables cannot tell, e.g.\n"
                 "  #   owner: someone@example.org\n"
                 "  #   monthly_cost: 1200        # run cost a month (or a costs table)\n"
                 "  #   consumers: [group-id]     # the stakeholder groups that use it\n"
                 "  #   supports: [{outcome: outcome-id, contribution: 1.0}]   # value links\n")
    for s in services:
        sid = str(s.get("id"))
        if not s.get("consumers") and consumers.get(sid):
            s["consumers"] = consumers[sid]
        parts.append(_dump([s], 2) + _todo(s))
    if journeys:
        parts.append("journeys:\n  # TODO: name the stages and put each touchpoint in its "
                     "stage\n")
        parts += [_dump([j], 2) for j in journeys]
    return "".join(parts)


def _todo(service: Mapping[str, Any]) -> str:
    """One comment naming what the tables cannot tell about a service (the example above the
    services shows the form)."""
    missing = [k for k in ("owner", "monthly_cost", "consumers", "supports") if k not in service]
    return f"    # TODO: {', '.join(missing)}\n" if missing else ""


def _append(text: str, key: str, items: list[dict[str, Any]]) -> str:
    """``text`` with ``items`` added to its top-level ``key`` sequence; every other byte kept
    (a block sequence grows at its end, a flow or empty one is rewritten as a block)."""
    node = yaml.compose(text, Loader=_Loader) if text.strip() else None
    block = "".join(_dump([x], 2) for x in items)
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value != key:
                continue
            if isinstance(v, yaml.SequenceNode) and not v.flow_style and v.value:
                col = v.start_mark.column
                end = _line_end(text, v.value[-1].end_mark.index)
                # a node ends at the next token: give back the comments and blank lines after
                # it that sit left of the items (they belong to what follows)
                while end > 0:
                    prev = text.rfind("\n", 0, end - 1) + 1
                    line = text[prev:end]
                    if line.strip() and not (line.lstrip().startswith("#")
                                             and len(line) - len(line.lstrip()) < col):
                        break
                    end = prev
                body = "".join(" " * col + line[2:] + "\n" for line in block.splitlines())
                return text[:end] + body + text[end:]
            existing = [] if isinstance(v, yaml.ScalarNode) else \
                yaml.load(text[v.start_mark.index:v.end_mark.index], Loader=_Loader) or []
            start = text.rfind("\n", 0, k.start_mark.index) + 1
            end = _line_end(text, v.end_mark.index)
            return text[:start] + f"{key}:\n" + "".join(
                _dump([x], 2) for x in [*existing, *items]) + text[end:]
    sep = "" if not text or text.endswith("\n") else "\n"
    return text + sep + f"{key}:\n" + block


def _line_end(text: str, index: int) -> int:
    """The start of the line after ``index`` (a node's end may sit mid-line)."""
    if index > 0 and text[index - 1] == "\n":
        return index
    nl = text.find("\n", index)
    return len(text) if nl < 0 else nl + 1


# ---- the write (the only side effect) ----------------------------------------------------------

def write_model(root: Path, text: str, dry_run: bool = False) -> Package:
    """Check ``text`` with the package's tables and, unless ``dry_run``, put it in place
    atomically (a temporary file renamed over dipstick.yaml). Returns the package as it loads
    with the new model (the caller closes it); raises PackageError and writes nothing if the
    model or a table does not load."""
    view = root / f".dipstick-init-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    view.mkdir()
    try:
        (view / MODEL_FILE).write_text(text, encoding="utf-8")
        for f in _table_files(root):
            (view / f.name).symlink_to(f.resolve())
        package = load_package(view)
        package.path = root
        if not dry_run:
            tmp = root / f".{MODEL_FILE}.{uuid.uuid4().hex[:8]}.tmp"
            shutil.copyfile(view / MODEL_FILE, tmp)
            os.replace(tmp, root / MODEL_FILE)
        return package
    finally:
        shutil.rmtree(view, ignore_errors=True)


def _table_files(root: Path) -> Iterable[Path]:
    return [f for f in root.iterdir() if f.is_file() and f.suffix in FORMATS
            and f.stem in TABLES]
