"""YAML text to Python values, as ``yaml.safe_load`` gives them, in a third of its time.

Why: a 2,000-service ``dipstick.yaml`` (0.9 MB) took 0.6 s of CPU to load even with libyaml's
parser, two thirds of it in PyYAML's pure-Python composer and constructor (a node object, an
implicit-tag regex and a constructor call per scalar). Here the values are built straight
from libyaml's events, each distinct scalar resolved and constructed once, by PyYAML's own
resolver and constructors, so every value is what ``safe_load`` makes of it. Anything this
shortcut does not do itself (anchors and aliases, explicit tags, merge keys, a key that is a
list or mapping, several documents, deep nesting) and every error is left to ``yaml.load``,
which then answers, or fails, exactly as before.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import ScalarNode

# libyaml's loader where it is installed (its parser is C); pure Python where it is missing
Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
# the implicit scalar tags built here; others (merge ``<<``, value ``=``) go to yaml.load
_PLAIN = {_STR, "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
          "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp"}
# deeper than this is left to yaml.load, whose "too deeply" answer (a RecursionError) stays
_DEPTH = 64


class _Unusual(Exception):
    """Something the shortcut leaves to ``yaml.load``."""


def load(text: str) -> Any:
    """The value of the single YAML document ``text``, equal to ``yaml.load(text,
    Loader=Loader)``; raises what that raises."""
    try:
        return _from_events(text)
    except Exception:   # _Unusual, or an error yaml.load will report in its own words
        return yaml.load(text, Loader=Loader)


def _from_events(text: str) -> Any:
    loader = Loader(text)
    try:
        return _build(loader)
    finally:
        loader.dispose()


def _build(loader: Any) -> Any:
    scalars: dict[tuple[str, bool, bool], Any] = {}   # (value, implicit) → its Python value
    ctors = loader.yaml_constructors
    # the containers being filled; for a mapping, the key waiting for its value
    stack: list[tuple[list[Any] | dict[Any, Any], list[Any]]] = []
    root: list[Any] = []
    documents = 0
    while loader.check_event():
        event = loader.get_event()
        kind = type(event)
        if kind is ScalarEvent:
            if event.anchor is not None or event.tag not in (None, "!"):
                raise _Unusual
            implicit = event.implicit
            key = (event.value, implicit[0], implicit[1])
            if key in scalars:
                value = scalars[key]
            else:
                tag = loader.resolve(ScalarNode, event.value, implicit)
                if tag not in _PLAIN:
                    raise _Unusual
                value = event.value if tag == _STR else ctors[tag](
                    loader, ScalarNode(tag, event.value))
                scalars[key] = value
            _put(stack, root, value)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if event.anchor is not None or event.tag not in (None, "!") or len(stack) > _DEPTH:
                raise _Unusual
            container: list[Any] | dict[Any, Any] = {} if kind is MappingStartEvent else []
            _put(stack, root, container)
            stack.append((container, []))
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            stack.pop()
        elif kind is DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise _Unusual
        elif kind is AliasEvent or kind not in (StreamStartEvent, StreamEndEvent, DocumentEndEvent):
            raise _Unusual
    if len(root) != 1:
        raise _Unusual
    return root[0]


def _put(stack: list[tuple[list[Any] | dict[Any, Any], list[Any]]], root: list[Any],
         value: Any) -> None:
    """Place ``value`` in the innermost open container: a list's next item, or a mapping's
    key then its value (a key must be a plain value, as PyYAML's mapping requires)."""
    if not stack:
        root.append(value)
        return
    container, pending = stack[-1]
    if isinstance(container, list):
        container.append(value)
    elif pending:
        container[pending.pop()] = value
    else:
        if isinstance(value, (list, dict)):
            raise _Unusual
        pending.append(value)
