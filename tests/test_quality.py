"""Standing checks: lint and types are part of the suite, every indicator is registered and
documented, and settings names are unique across the flat `settings:` mapping."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

import dipstick
import dipstick.indicators
from dipstick.findings import CommonSpec
from dipstick.indicators.registry import CAUSES, INDICATORS

ROOT = Path(__file__).resolve().parents[1]
# shared parts, and a cause's own parts (perception's arrays, change's signs)
NOT_CAUSES = {"base", "common", "registry", "confidence", "tickets", "moments", "weekly",
              "ticket_arrays", "perception_sides", "stat_arrays", "change_signs",
              "change_sides"}


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


def test_the_import_contracts_hold() -> None:
    """The layers and independence contracts of pyproject.toml ([tool.importlinter])."""
    r = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_module_of_dipstick_is_in_a_layer() -> None:
    """A new top-level module or package must take a place in the layers, or nothing would
    keep it from importing upwards."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")
    named = {part.split("#")[0].strip() for layer in layers["layers"]
             for part in layer.replace(":", "|").split("|")}
    modules = {m.name for m in pkgutil.iter_modules(dipstick.__path__)}
    assert modules == named


def test_no_import_cycles_in_src() -> None:
    """No module reaches itself through imports: every strongly connected component of the
    import graph is one module. Imports under TYPE_CHECKING and inside functions count, so a
    cycle cannot hide behind either."""
    graph = grimp.build_graph("dipstick", exclude_type_checking_imports=False)
    cycles = [c for c in _components(graph) if len(c) > 1]
    assert not cycles, cycles
    package_graph: dict[str, set[str]] = {}
    for m in graph.modules:
        package_graph.setdefault(_top(m), set()).update(
            _top(i) for i in graph.find_modules_directly_imported_by(m))
    package_cycles = [c for c in _components_of(package_graph) if len(c) > 1]
    assert not package_cycles, package_cycles


def _top(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _components(graph: grimp.ImportGraph) -> list[list[str]]:
    return _components_of({m: set(graph.find_modules_directly_imported_by(m))
                           for m in graph.modules})


def _components_of(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                found.append(component)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The cycle test above can fail: a two-module loop and a self-contained chain."""
    assert sorted(map(sorted, _components_of({"a": {"b"}, "b": {"a"}, "c": {"a"}}))) == [
        ["a", "b"], ["c"]]
