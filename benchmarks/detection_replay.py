"""Benchmark: a check's change-point detection alone, replayed, this tree against another. Run:

    python benchmarks/detection_replay.py [--dir /tmp/dipstick-large] [--base OTHER/src]
                                          [--repeat 5]

A whole check spends ~17 s of CPU on other things; on a shared machine its noise hides a second
gained in detection. So the check runs once (in this process, with this tree) to record its
weekly series and every question the indicators ask the :class:`~dipstick.shifts.ShiftIndex`
(``last_bad``, ``shifts``, ``shifts_of``, … from outside it, in order); then a child process
per tree replays the questions on fresh indexes of the same series, ``--repeat`` times each,
the trees in turn, and reports the CPU seconds (``time.process_time``) of the replays and the
load average. The children also print a digest of every answer: the trees must agree, else it
fails (the check's shifts would differ).
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ASKED = ("last_bad", "shifts", "shifts_of", "driver", "since", "all_shifts", "expect",
         "expect_series")


def record(root: Path, out: Path) -> int:
    """Run the check on ``root``; pickle its series, links and questions to ``out``."""
    from dipstick.runs import check_package
    from dipstick.shifts import ShiftIndex

    questions: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    seen: list[ShiftIndex] = []
    depth = [0]

    def wrap(name: str) -> None:
        method = getattr(ShiftIndex, name)

        def asked(self: ShiftIndex, *args: Any, **kwargs: Any) -> Any:
            if name in ("expect", "expect_series"):    # a generator argument: kept
                args = tuple(list(a) for a in args)
            if depth[0] == 0:
                questions.append((name, args, kwargs))
                if not seen:
                    seen.append(self)
                assert self is seen[0], "one index per check"
            depth[0] += 1
            try:
                return method(self, *args, **kwargs)
            finally:
                depth[0] -= 1

        setattr(ShiftIndex, name, asked)

    for name in ASKED:
        wrap(name)
    check_package(root, None, None)
    index = seen[0]
    with out.open("wb") as f:
        pickle.dump((index.series_by_key, index.params, index.links, questions), f)
    return len(questions)


def ask(index: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``index.name(*args, **kwargs)``; on a tree whose ``shifts`` has no ``after`` yet, its
    answer as the caller then took it (the shifts dated after ``after``, filtered from all);
    on one without ``expect`` (a hint, answering nothing), nothing."""
    if not hasattr(index, name):
        return None
    if name == "shifts" and "after" in kwargs and \
            "after" not in inspect.signature(index.shifts).parameters:
        after = kwargs["after"]
        return [s for s in index.shifts(*args) if after is None or s.date > after]
    return getattr(index, name)(*args, **kwargs)


def replay(data: Path, repeat: int) -> None:
    """Replay the recorded questions ``repeat`` times on fresh indexes; print CPU and digest."""
    from dipstick.shifts import ShiftIndex

    with data.open("rb") as f:
        series, params, links, questions = pickle.load(f)
    cpus = []
    digest = ""
    for _ in range(repeat):
        index = ShiftIndex(series, params, links)
        start = time.process_time()
        answers = [ask(index, name, args, kwargs) for name, args, kwargs in questions]
        cpus.append(time.process_time() - start)
        digest = hashlib.sha256(repr(answers).encode()).hexdigest()[:16]
    print(" ".join(f"{c:.3f}" for c in cpus), digest)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/dipstick-large"))
    ap.add_argument("--base", type=Path, help="another src (e.g. /work/main/src), in turn")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--replay", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.replay is not None:
        replay(args.replay, args.repeat)
        return
    here = Path(__file__).resolve().parent.parent / "src"
    trees = [("this", here)] + ([("base", args.base)] if args.base else [])
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "questions.pickle"
        n = record(args.dir, data)
        print(f"{args.dir}: {n:,} questions recorded")
        load = os.getloadavg()[0]
        runs: dict[str, list[float]] = {name: [] for name, _ in trees}
        digests: dict[str, str] = {}
        for _ in range(args.repeat):
            for name, src in trees:
                out = subprocess.run(
                    [sys.executable, __file__, "--replay", str(data), "--repeat", "1"],
                    env={**os.environ, "PYTHONPATH": str(src)}, check=True,
                    capture_output=True, text=True).stdout.split()
                runs[name].append(float(out[0]))
                digests[name] = out[1]
        for name, src in trees:
            print(f"{name} ({src}): {statistics.median(runs[name]):.3f} s CPU median, "
                  f"{min(runs[name]):.3f} min (runs: "
                  f"{', '.join(f'{c:.3f}' for c in runs[name])}); answers {digests[name]}")
        if args.base:
            ratio = statistics.median(runs["this"]) / statistics.median(runs["base"])
            print(f"this / base: {ratio:.2f}× CPU; load {load:.1f} → "
                  f"{os.getloadavg()[0]:.1f}")
        if len(set(digests.values())) > 1:
            raise SystemExit("the trees answer differently")


if __name__ == "__main__":
    main()
