"""Python's cyclic garbage collector, paused where dipstick makes many objects and no cycles.

Why: a collection walks every live object. A check of the large demo holds millions (rows,
series, findings, evidence) and triggers ~1,400 collections while it builds them, 0.6-0.9 s of
CPU that frees nothing (session 13, helper I's measure); storing a run made ~200,000 more
beside them. Reference counting still frees everything that is not in a cycle; a cycle made
meanwhile waits for the next collection after the pause.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """The collector off for the block, then as it was (a nested pause leaves it off)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
