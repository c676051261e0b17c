"""The long fuzzing run: the suite's fuzzers (tests/test_fuzz.py) with many random examples.

The suite tries a few derandomized examples per fuzzer so CI is quick and reproducible; this
runs the same fuzzers with ``--examples`` random ones each (no example database: every run
tries new inputs). A failure prints the smallest input hypothesis found and a
``@reproduce_failure`` blob to replay it. Run:

    python benchmarks/fuzz.py --examples 500 [-k zip] [-n 2]

``-k`` picks fuzzers as pytest does (``model``, ``table``, ``imported``, ``pulse``, ``zip``);
``-n`` runs them on that many workers (pytest-xdist). Exit status: pytest's (0: nothing found).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500,
                        help="random examples per fuzzer and parameter (default 500)")
    parser.add_argument("-k", dest="select", default=None,
                        help="only the fuzzers matching this pytest -k expression")
    parser.add_argument("-n", dest="workers", default="0",
                        help="pytest-xdist workers (default 0: in this process)")
    args = parser.parse_args()
    if args.examples < 1:
        parser.error("--examples must be at least 1")
    os.environ["DIPSTICK_FUZZ_EXAMPLES"] = str(args.examples)
    argv = [str(ROOT / "tests" / "test_fuzz.py"), "-q", "-n", args.workers,
            "-p", "no:cacheprovider", "--hypothesis-show-statistics"]
    if args.select:
        argv += ["-k", args.select]
    return int(pytest.main(argv))


if __name__ == "__main__":
    sys.exit(main())
