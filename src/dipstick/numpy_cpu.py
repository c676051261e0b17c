"""NumPy's AVX-512 sorts kept off AMD Zen 4, where they are the slow path.

Why: NumPy dispatches ``sort``, ``argsort`` and ``partition`` to x86-simd-sort's AVX-512
kernels wherever the CPU has AVX-512. On AMD Zen 4 (family 25 with AVX-512) those kernels
store through ``vpcompress`` to memory, which Zen 4 runs microcoded: sorting 5.3 M integers
took 0.32 s there against 0.06 s on the AVX2 kernels of the same NumPy (session 15,
docs/benchmarks.md "NumPy's sorts on Zen 4"). A check and a discovery sort millions of values.
The switch is NumPy's own environment variable, read once when NumPy is first imported, so
the console entry sets it before anything imports NumPy, and only when the user has not set it.
Other CPUs (Intel with AVX-512, Zen 3 and older without it, Arm) are left as they are.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

VARIABLE = "NPY_DISABLE_CPU_FEATURES"
AVX512 = "X86_V4"   # NumPy's name for the AVX-512 group (its AVX512_* targets build on it)


def features_to_disable(cpuinfo: str) -> str | None:
    """The NumPy CPU features to turn off on the CPU ``/proc/cpuinfo`` describes: AVX-512 on
    AMD family 25 (Zen 3 and Zen 4; only Zen 4 has AVX-512), else none."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            break                                   # the first processor is enough
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    zen = fields.get("vendor_id") == "AuthenticAMD" and fields.get("cpu family") == "25"
    return AVX512 if zen and "avx512f" in fields.get("flags", "").split() else None


def steer(environ: MutableMapping[str, str] = os.environ,
          cpuinfo: Path = Path("/proc/cpuinfo")) -> None:
    """Set :data:`VARIABLE` for this process (and what it starts) where
    :func:`features_to_disable` says so, unless it is set already or NumPy is already imported
    (then it would be read too late, and a mismatch between this process and its children
    would only confuse)."""
    if VARIABLE in environ or "numpy" in sys.modules:
        return
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:                                 # not Linux, or no /proc: leave NumPy be
        return
    features = features_to_disable(text)
    if features:
        environ[VARIABLE] = features
