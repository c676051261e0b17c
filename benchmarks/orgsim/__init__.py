"""orgsim: a second organisation generator for the detection benchmark, written from the data
contract alone (shared/DATA_PACKAGE.md, shared/PRODUCT.md, docs/data-package.md).

It shares no code or distributions with ``dipstick.demo`` and was written without reading the
indicators' thresholds, so a benchmark on it can fail the indicators that were tuned on the demo.
``python -m orgsim PATH --seed N [--stable]`` (from ``benchmarks/``) writes one package.
"""

from .generate import Truth, generate, read_truth
from .leaks import CAUSES, SeededLeak

__all__ = ["CAUSES", "SeededLeak", "Truth", "generate", "read_truth"]
