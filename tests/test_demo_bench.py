"""Benchmark organisations: small valid packages, reproducible, whose stable kind raises no leak.

The detection benchmark (`benchmarks/detection.py`) trusts two things checked here: a bench
organisation is a valid package with the leaks its ground truth lists, and a stable one is
really healthy, so every `leak` found there is dipstick's false alarm, not the generator's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from dipstick.check import run_check
from dipstick.demo.bench import BENCH_FILE, SERVICES, generate_bench
from dipstick.findings import Status
from dipstick.package import load_package, validate


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_a_bench_org_is_small_valid_and_reproducible(tmp_path: Path) -> None:
    truth = generate_bench(tmp_path / "a", seed=3)
    again = generate_bench(tmp_path / "b", seed=3)
    assert validate(tmp_path / "a") == []
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert truth.leaks and truth.leaks == again.leaks
    services = {x.service for x in truth.leaks} | set(truth.healthy)
    assert SERVICES[0] <= len(services) <= SERVICES[1]
    extra = json.loads((tmp_path / "a" / BENCH_FILE).read_text())
    assert len(extra["leaks"]) == len(truth.leaks)
    assert all(0 <= x["magnitude"] <= 1 for x in extra["leaks"])


def test_seeded_leaks_are_found_at_the_end_of_the_data(tmp_path: Path) -> None:
    truth = generate_bench(tmp_path, seed=5)
    package = load_package(tmp_path)
    try:
        result = run_check(package)
    finally:
        package.close()
    by_id = {v.service.id: v for v in result.verdicts}
    found = [x for x in truth.leaks if by_id[x.service].finding(x.cause).status is Status.LEAK]
    assert len(found) >= len(truth.leaks) - 1, truth.leaks


@pytest.mark.parametrize("seed", [11, 12])
def test_a_stable_org_has_no_leak(tmp_path: Path, seed: int) -> None:
    truth = generate_bench(tmp_path, seed=seed, stable=True)
    assert truth.leaks == []
    package = load_package(tmp_path)
    try:
        result = run_check(package)
    finally:
        package.close()
    flagged = [(v.service.id, f.cause, f.summary) for v in result.verdicts for f in v.findings
               if f.status is Status.LEAK]
    assert not flagged, flagged
