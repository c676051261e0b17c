"""The ``services:`` (and ``stakeholder_groups:``) of dipstick.yaml as an import target: ids
from names, and a rewrite of one block that keeps every other byte of the file as the user
wrote it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def slug(value: str) -> str:
    """A service id from a name: ``Group 56`` → ``group-56``."""
    s = re.sub(r"[^a-z0-9]+", "-", value.strip().lower()).strip("-")
    return s or "service"


def starter_ids(values: Iterable[str], taken: set[str]) -> dict[str, str]:
    """One id per value; values whose slug is already someone else's get ``-2``, ``-3`` …
    (in sorted order, so the same values always give the same ids)."""
    out: dict[str, str] = {}
    used = set(taken)
    for v in sorted(set(values)):
        base = slug(v)
        sid, n = base, 1
        while sid in used and sid not in taken:
            n += 1
            sid = f"{base}-{n}"
        used.add(sid)
        out[v] = sid
    return out


def new_model_text(name: str) -> str:
    return yaml.safe_dump({"organisation": {"name": name}}, sort_keys=False,
                          allow_unicode=True)


def raw_services(text: str) -> list[dict[str, Any]]:
    return raw_block(text, "services")


def raw_block(text: str, key: str) -> list[dict[str, Any]]:
    """The entries of one list block of dipstick.yaml (``services``, ``stakeholder_groups``)."""
    raw = yaml.load(text, Loader=_Loader) or {}
    items = raw.get(key) if isinstance(raw, dict) else None
    return [dict(s) for s in items or [] if isinstance(s, dict)]


def merge_services(existing: Sequence[Mapping[str, Any]], imported: Sequence[Mapping[str, Any]],
                   replace: bool) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Existing services updated with the imported fields (by id), new ones appended; with
    ``replace`` the services not imported are dropped. Returns (services, added, updated)."""
    by_id = {str(s.get("id")): dict(s) for s in existing}
    order = [str(s.get("id")) for s in existing]
    added, updated = [], []
    for s in imported:
        sid = str(s["id"])
        if sid in by_id:
            before = dict(by_id[sid])
            by_id[sid].update(s)
            if by_id[sid] != before:
                updated.append(sid)
        else:
            by_id[sid] = dict(s)
            order.append(sid)
            added.append(sid)
    if replace:
        keep = {str(s["id"]) for s in imported}
        order = [i for i in order if i in keep]
    return [by_id[i] for i in order], added, updated


def with_services(text: str, services: Sequence[Mapping[str, Any]]) -> str:
    """``text`` with its ``services:`` block replaced (or appended); the rest is untouched."""
    return with_block(text, "services", services)


def with_block(text: str, name: str, items: Sequence[Mapping[str, Any]]) -> str:
    """``text`` with its ``name:`` block replaced (or appended); the rest is untouched."""
    block = yaml.safe_dump({name: [dict(s) for s in items]}, sort_keys=False,
                           allow_unicode=True, default_flow_style=None, width=100)
    node = yaml.compose(text, Loader=_Loader) if text.strip() else None
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == name:
                start = text.rfind("\n", 0, key.start_mark.index) + 1
                end = value.end_mark.index
                if text[end - 1:end] != "\n":   # a flow value: the rest of its line goes too
                    nl = text.find("\n", end)
                    end = len(text) if nl < 0 else nl + 1
                return text[:start] + block + text[end:]
    sep = "" if not text or text.endswith("\n") else "\n"
    return text + sep + block
