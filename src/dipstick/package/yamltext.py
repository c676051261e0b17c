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


_NO_KEY: Any = object()   # a mapping waits for its next key; a value not yet cached


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
    """The document's value from the loader's events. One loop with the innermost open
    container in locals (no call per value): the loop runs once per event, 95,000 times for
    2,040 services, so each attribute look-up and call in it shows (the large demo's
    dipstick.yaml, same-run median of 25: 0.226 → 0.195 s of CPU, of which libyaml's
    events are 0.10 s)."""
    scalars: dict[tuple[str, tuple[bool, bool]], Any] = {}  # (value, implicit) → Python value
    ctors = loader.yaml_constructors
    resolve, check_event, get_event = loader.resolve, loader.check_event, loader.get_event
    root: list[Any] = []
    # the innermost open container, whether it is a list, and for a mapping the key waiting
    # for its value; the ones around it on the stack (no key waits in those: a container is
    # a key's value or a list's item)
    top: Any = root
    is_list = True
    key: Any = _NO_KEY
    stack: list[tuple[Any, bool]] = []
    documents = 0
    while check_event():
        event = get_event()
        kind = type(event)
        if kind is ScalarEvent:
            if event.anchor is not None or (event.tag is not None and event.tag != "!"):
                raise _Unusual
            cached = (event.value, event.implicit)
            value = scalars.get(cached, _NO_KEY)
            if value is _NO_KEY:
                tag = resolve(ScalarNode, event.value, event.implicit)
                if tag not in _PLAIN:
                    raise _Unusual
                value = event.value if tag == _STR else ctors[tag](
                    loader, ScalarNode(tag, event.value))
                scalars[cached] = value
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if (event.anchor is not None or (event.tag is not None and event.tag != "!")
                    or len(stack) > _DEPTH):
                raise _Unusual
            value = {} if kind is MappingStartEvent else []
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            top, is_list = stack.pop()
            key = _NO_KEY
            continue
        elif kind is DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise _Unusual
            continue
        elif kind is StreamStartEvent or kind is StreamEndEvent or kind is DocumentEndEvent:
            continue
        else:   # an alias, the one other event
            raise _Unusual
        # the value goes in the innermost container: a list's next item, or a mapping's key
        # then its value (a key must be a plain value, as PyYAML's mapping requires)
        if is_list:
            top.append(value)
        elif key is _NO_KEY:
            if kind is not ScalarEvent:
                raise _Unusual
            key = value
            continue
        else:
            top[key] = value
            key = _NO_KEY
        if kind is not ScalarEvent:   # a new container: the innermost until its end
            stack.append((top, is_list))
            top, is_list, key = value, kind is SequenceStartEvent, _NO_KEY
    if len(root) != 1:
        raise _Unusual
    return root[0]
