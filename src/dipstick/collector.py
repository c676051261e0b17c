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
    """The collector off for the block, then as it was (a nested pause leaves it off).

    What the block made and kept is moved to the oldest generation on the way out: else the
    first allocation after the pause collects the youngest generation, which then holds every
    object the block made (0.5 s of CPU after a check of the large demo, freeing nothing).
    ``gc.freeze`` then ``gc.unfreeze`` moves them without looking at them; only when nothing
    else is frozen, so the web's frozen caches (web/context.py ``settle``) stay frozen."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            if not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()
