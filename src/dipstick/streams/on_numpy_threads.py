"""NumPy work of a large log's discovery (:mod:`dipstick.streams.on_numpy`) on two threads.

NumPy's sorts, gathers and ufunc loops release the GIL, so on a machine with a second core
idle — the discovery's NumPy work is otherwise one-threaded, ~0.2 s of a 1.27 M-event log's
~0.9 s command — part of it can run beside the rest: the graph and the activities (~0.065 s
warm) beside the variants, rework and throughput (~0.04 s). Results do not depend on it: the
work beside reads only arrays nobody writes (docs/benchmarks.md, session 17)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

# From this many events the work is worth a second thread (starting one: ~0.1 ms); the tests
# lower it to take the threaded path on small logs
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

