"""Benchmark: how much of a check's CPU goes to change-point detection. Run:

    python benchmarks/detection_share.py [--dir /tmp/dipstick-large]

The whole check runs in this process (as ``dipstick check --no-store`` runs it, without the
JSON); ``time.process_time`` is read around each first question to ``ShiftIndex.shifts_of``
(whatever it does inside: one series' detection, or a batch screen and a segmentation), so
the figure holds for any version of the code — run it with ``PYTHONPATH=<other tree>/src`` to
measure another commit on the same data in the same hour. Prints the load average too: on a
shared machine CPU seconds are the figures to compare.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from dipstick.runs import check_package
from dipstick.shifts import SeriesKey, Shift, ShiftIndex


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/dipstick-large"))
    args = ap.parse_args()
    spent = [0.0, 0]
    first = ShiftIndex.shifts_of

    def timed(self: ShiftIndex, key: SeriesKey) -> list[Shift]:
        if key in self._found:
            return self._found[key]
        start = time.process_time()
        try:
            return first(self, key)
        finally:
            spent[0] += time.process_time() - start
            spent[1] += 1

    ShiftIndex.shifts_of = timed  # type: ignore[method-assign]
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    check_package(args.dir, None, None)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{args.dir}: check {wall:.1f} s wall, {cpu:.2f} s CPU; detection {spent[0]:.2f} s "
          f"CPU ({spent[0] / cpu:.0%}) over {spent[1]:,} first questions; "
          f"load {load:.1f} → {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
