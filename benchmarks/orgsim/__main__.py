"""Write one simulated organisation: ``python -m orgsim PATH --seed N [--stable]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from .generate import generate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("path", type=Path)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--stable", action="store_true")
    p.add_argument("--services", type=int, default=40)
    a = p.parse_args()
    t = generate(a.path, a.seed, a.stable, a.services)
    print(f"{a.path}: {t.services} services, {len(t.leaks)} seeded leaks, as of {t.as_of}, "
          f"tables {', '.join(t.tables)}")


if __name__ == "__main__":
    main()
