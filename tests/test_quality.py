"""Standing checks: lint and types are part of the suite, every indicator is registered and
documented, and settings names are unique across the flat `settings:` mapping."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import dipstick.indicators
from dipstick.findings import CommonSpec
from dipstick.indicators.registry import CAUSES, INDICATORS

ROOT = Path(__file__).resolve().parents[1]
NOT_CAUSES = {"base", "common", "registry"}


def test_every_cause_module_is_registered_in_product_order() -> None:
    modules = {m.name for m in pkgutil.iter_modules(dipstick.indicators.__path__)} - NOT_CAUSES
    assert modules == set(CAUSES)
    assert CAUSES == ("perception", "training", "change", "retirement", "employee_experience",
                      "customer_experience", "alignment", "flow")


def test_every_indicator_and_setting_is_documented() -> None:
    doc = (ROOT / "docs" / "indicators.md").read_text()
    for ind in INDICATORS:
        assert f"## `{ind.cause}`" in doc, ind.cause
        for name in ind.spec.model_fields:
            assert f"`{name}`" in doc, f"{ind.cause}.{name} is not documented"
    for name in CommonSpec.model_fields:
        assert f"`{name}`" in doc


def test_setting_names_are_unique_across_indicators() -> None:
    names = [n for s in (CommonSpec, *(i.spec for i in INDICATORS)) for n in s.model_fields]
    assert len(names) == len(set(names))


def test_ruff_is_clean() -> None:
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "src", "tests", "benchmarks"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict_is_clean() -> None:
    r = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_core_never_imports_the_edges() -> None:
    core = ["model", "package", "engine", "indicators", "shifts", "check.py"]
    edges = ("dipstick.cli", "dipstick.web", "dipstick.store", "dipstick.render")
    for part in core:
        for f in (ROOT / "src" / "dipstick").joinpath(part).rglob("*.py") if not part.endswith(
                ".py") else [ROOT / "src" / "dipstick" / part]:
            text = f.read_text()
            assert not any(f"import {e}" in text or f"from {e}" in text for e in edges), f
