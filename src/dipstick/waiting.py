"""The words that mark a waiting state in an activity name (docs/streams.md).

Its own module, below the model, so that discovering a process from a log file imports no
pydantic: the ``streams`` command's start-up is part of its measured time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Words that mark a waiting state at the start of an activity name or of any part of a
# composite one ("Queued-Awaiting Assignment", "Accepted-Wait - User"): docs/streams.md.
WAITING_PREFIXES = ("awaiting", "waiting", "wait", "pending", "on hold", "queued")
_PARTS = re.compile(r"\s*[-–—/:|(),]\s*")


def is_waiting(name: str, prefixes: Sequence[str] = WAITING_PREFIXES) -> bool:
    """Whether an activity is a waiting state: its name, or a part of it between separators
    (``-`` ``/`` ``:`` ``|`` brackets, commas), starts with a word of the vocabulary, at a
    word boundary ("Wait - User" waits, "Waiter" does not; "On-hold" reads as "on hold")."""
    low = tuple(p.lower().strip() for p in prefixes if p.strip())
    text = name.lower().strip()
    candidates = [text, _PARTS.sub(" ", text), *_PARTS.split(text)]
    return any(c == p or (c.startswith(p) and not c[len(p)].isalnum())
               for c in candidates if c for p in low)
