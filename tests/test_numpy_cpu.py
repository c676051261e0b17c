"""NumPy's AVX-512 sorts are turned off on AMD Zen 4 only, by the console entry, before NumPy
is imported, and never over the user's own setting (dipstick/numpy_cpu.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dipstick.numpy_cpu import AVX512, VARIABLE, features_to_disable


def cpuinfo(vendor: str, family: int, flags: str, processors: int = 2) -> str:
    one = (f"processor\t: {{n}}\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: 17\n"
           f"flags\t\t: fpu sse2 avx avx2 {flags}\n\n")
    return "".join(one.format(n=n) for n in range(processors))


@pytest.mark.parametrize(("text", "expected"), [
    (cpuinfo("AuthenticAMD", 25, "avx512f avx512bw avx512vl"), AVX512),     # Zen 4
    (cpuinfo("AuthenticAMD", 25, "fma"), None),                             # Zen 3: no AVX-512
    (cpuinfo("AuthenticAMD", 26, "avx512f avx512bw"), None),                # Zen 5: not measured
    (cpuinfo("GenuineIntel", 6, "avx512f avx512bw"), None),                 # Intel's are fast
    (cpuinfo("AuthenticAMD", 25, "avx512fx"), None),                        # a flag, not a prefix
    ("", None),
    ("processor\t: 0\nvendor_id : AuthenticAMD\n", None),                   # no family, no flags
])
def test_only_zen_4_turns_avx512_off(text: str, expected: str | None) -> None:
    assert features_to_disable(text) == expected


def test_the_first_processor_decides() -> None:
    text = cpuinfo("GenuineIntel", 6, "avx512f", 1) + cpuinfo("AuthenticAMD", 25, "avx512f", 1)
    assert features_to_disable(text) is None


STEER = """
import sys
from pathlib import Path
from dipstick import numpy_cpu
environ = dict(arg.split("=", 1) for arg in sys.argv[2:])
numpy_cpu.steer(environ, Path(sys.argv[1]))
print(environ.get(numpy_cpu.VARIABLE))
"""


def _steer(info: Path, *environ: str) -> str:
    """``steer`` in a fresh interpreter: in this one NumPy is imported, and then it must do
    nothing (the last test)."""
    ran = subprocess.run([sys.executable, "-c", STEER, str(info), *environ],
                         capture_output=True, text=True, check=False)
    assert ran.returncode == 0, ran.stderr
    return ran.stdout.strip()


def test_steer_sets_the_variable_unless_the_user_did(tmp_path: Path) -> None:
    zen4, intel = tmp_path / "zen4", tmp_path / "intel"
    zen4.write_text(cpuinfo("AuthenticAMD", 25, "avx512f"))
    intel.write_text(cpuinfo("GenuineIntel", 6, "avx512f"))
    assert _steer(zen4) == AVX512
    assert _steer(intel) == "None"
    assert _steer(zen4, f"{VARIABLE}=AVX512_SPR") == "AVX512_SPR"
    assert _steer(zen4, f"{VARIABLE}=") == ""                  # set, even empty: the user's
    assert _steer(tmp_path / "no-such-file") == "None"


def test_steer_does_nothing_once_numpy_is_imported(tmp_path: Path) -> None:
    import numpy  # noqa: F401  (imported: the variable would be read too late)

    from dipstick import numpy_cpu

    zen4 = tmp_path / "zen4"
    zen4.write_text(cpuinfo("AuthenticAMD", 25, "avx512f"))
    environ: dict[str, str] = {}
    numpy_cpu.steer(environ, zen4)
    assert environ == {}


ENTRY = """
import atexit, os, sys
sys.argv = ["dipstick", "--version"]
atexit.register(lambda: print(os.environ.get("NPY_DISABLE_CPU_FEATURES"),
                              "numpy" in sys.modules))
from dipstick.cli import main
main()
"""


def test_the_console_entry_steers_this_machine_before_numpy(tmp_path: Path) -> None:
    """What the entry sets is what this machine's /proc/cpuinfo calls for (on Zen 4
    ``X86_V4``, elsewhere nothing); ``--version`` imports no NumPy."""
    info = Path("/proc/cpuinfo")
    expected = features_to_disable(info.read_text()) if info.exists() else None
    env = {k: v for k, v in os.environ.items() if k != VARIABLE}
    ran = subprocess.run([sys.executable, "-c", ENTRY], capture_output=True, text=True,
                         check=False, cwd=tmp_path, env=env)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split()[-2:] == [str(expected), "False"]
