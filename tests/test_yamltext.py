"""The YAML shortcut of ``dipstick.yaml`` (package.yamltext) gives what PyYAML's safe loader
gives, value for value and type for type, and leaves what it does not build to PyYAML."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from dipstick.package import yamltext

from builder import PackageBuilder


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down, keys in the same order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return (list(a) == list(b) and [type(k) for k in a] == [type(k) for k in b]
                and all(_same(a[k], b[k]) for k in a))
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and a != a:
        return b != b
    return bool(a == b)


def _pyyaml(text: str) -> Any:
    return yaml.load(text, Loader=yamltext.Loader)


BUILT = [
    "a: 1", "a: 1\na: 2", "{1: a, true: b, null: c, 2026-01-01: d, 1.5: e}",
    "- 1\n- 1.5\n- .nan\n- .inf\n- -.inf\n- yes\n- no\n- ~\n- 2026-03-01\n"
    "- 2026-03-01T09:30:00Z\n- 2026-03-01 09:30:00+02:00\n- '1'\n- \"true\"\n- 0x1f\n"
    "- 1_000\n- 0o17\n- 017\n- 1:20\n- 1e3\n- 1.0e+3\n- -.5\n- +1\n- True\n- On\n- Y\n- ''",
    "a: [1, {b: c}, [], {}]\nd:\n  - e\n  -\n    - f", "- |\n  text\n  more\n- >\n  folded",
    "a: null\nb: Null\nc: NULL\nd:", "'a': \"b\"\n! c: ! 5", "[" * 40 + "]" * 40,
]
LEFT_TO_PYYAML = [
    "", "a: &x [1]\nb: *x", "<<: {a: 1}\nb: 2", "=: 1", "x: !!str 5", "[" * 100 + "]" * 100,
]
ERRORS = ["a: =", "x: !custom 1", "a: 2026-13-45", "a: b: c", "a: " + "9" * 5000,
          "a: [1, 2", "? {a: 1}\n: 1", "? [a]\n: 1", "--- 1\n--- 2"]


@pytest.mark.parametrize("text", BUILT)
def test_the_shortcut_builds_what_pyyaml_builds(text: str) -> None:
    assert _same(yamltext._from_events(text), _pyyaml(text))
    assert _same(yamltext.load(text), _pyyaml(text))


@pytest.mark.parametrize("text", LEFT_TO_PYYAML)
def test_what_the_shortcut_does_not_build_pyyaml_does(text: str) -> None:
    with pytest.raises(yamltext._Unusual):
        yamltext._from_events(text)
    assert _same(yamltext.load(text), _pyyaml(text))


@pytest.mark.parametrize("text", ERRORS)
def test_errors_are_pyyamls_own(text: str) -> None:
    with pytest.raises(Exception) as theirs:
        _pyyaml(text)
    with pytest.raises(type(theirs.value)) as ours:
        yamltext.load(text)
    assert str(ours.value) == str(theirs.value)


def test_a_whole_dipstick_yaml_is_built_by_the_shortcut(tmp_path: Any) -> None:
    root = PackageBuilder(tmp_path / "pkg").healthy().write("csv")
    text = (root / "dipstick.yaml").read_text(encoding="utf-8")
    assert _same(yamltext._from_events(text), _pyyaml(text))
