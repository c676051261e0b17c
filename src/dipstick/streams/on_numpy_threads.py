"""NumPy work of a large log's discovery (:mod:`dipstick.streams.on_numpy`) on two threads.

NumPy's sorts, gathers and ufunc loops release the GIL, so on a machine with a second core
idle — the discovery's NumPy work is otherwise one-threaded, ~0.27 s of a 1.27 M-event log's
~0.9 s command — part of it can run beside the rest. Results do not depend on it: a sort's
result is the same however reached, and the work beside is independent of the caller's
(docs/benchmarks.md, session 17)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]

# From this many values a sort or grouping is worth a second thread (starting one: ~0.1 ms);
# the tests lower it to take the threaded paths on small logs
TWO_THREADS_FROM = 1 << 17


class Beside:
    """``fn(*args)`` on a second thread while the caller works on, its result (or its error)
    handed over by :meth:`result`; ``at_once`` (small inputs), on the caller's thread."""

    def __init__(self, at_once: bool, fn: Callable[..., Any], *args: Any) -> None:
        self._out: Any = None
        self._failed: BaseException | None = None
        self._thread: threading.Thread | None = None
        if at_once:
            self._run(fn, args)
        else:
            self._thread = threading.Thread(target=self._run, args=(fn, args), daemon=True)
            self._thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            self._out = fn(*args)
        except BaseException as e:   # raised on the caller's thread by result()
            self._failed = e

    def result(self) -> Any:
        if self._thread is not None:
            self._thread.join()
        if self._failed is not None:
            raise self._failed
        return self._out


def sort(a: I64) -> None:
    """``a.sort()``, for a large array on two threads: each half sorted on its own, then the
    two sorted runs merged by NumPy's stable sort (a timsort: it finds the runs and merges
    them, ~0.01 s for 1.27 M values). A sort's result does not depend on how it was reached;
    the packed sort of a 1.27 M-event log: 0.08 → 0.05 s wall."""
    if len(a) < TWO_THREADS_FROM:
        a.sort()
        return
    half = Beside(False, np.ndarray.sort, a[:len(a) // 2])
    a[len(a) // 2:].sort()
    half.result()
    a.sort(kind="stable")
