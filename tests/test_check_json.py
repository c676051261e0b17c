"""The check's JSON written service by service (``check.json_chunks``) is the same text as the
one ``json.dumps`` of ``to_json()`` it replaced, and a non-finite number still prints nothing."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
import typer

from dipstick.check import CheckResult, json_chunks
from dipstick.cli.app import _print_check_json, _print_json
from dipstick.findings import Evidence, Status, evolve


def _dumps(data: Any) -> str:
    return json.dumps(data, default=str, ensure_ascii=False, allow_nan=False)


def _with_evidence(result: CheckResult, evidence: Evidence) -> CheckResult:
    """The result with one more piece of evidence on its first service's first finding."""
    first = result.verdicts[0]
    finding = first.findings[0]
    changed = evolve(first, findings=(evolve(finding, evidence=(*finding.evidence, evidence)),
                                      *first.findings[1:]))
    return replace(result, verdicts=(changed, *result.verdicts[1:]))


def test_the_pieces_are_the_whole_documents_text(demo_result: CheckResult) -> None:
    assert "".join(json_chunks(demo_result)) == _dumps(demo_result.to_json())


def test_the_pieces_of_a_check_of_no_service_and_of_one(demo_result: CheckResult) -> None:
    for verdicts in ((), demo_result.verdicts[:1]):
        result = replace(demo_result, verdicts=verdicts)
        assert "".join(json_chunks(result)) == _dumps(result.to_json())


def test_odd_values_are_encoded_as_json_dumps_does(demo_result: CheckResult) -> None:
    odd = Evidence(metric="m\u00e9tric \"quoted\"\n", label="\u2212 \u00b7 \U0001f600 \x00",
                   value=date(2026, 1, 2), period="p", status=Status.WATCH,   # type: ignore
                   score=1e300, n=True, low=-0.0, high=1e-7)
    result = _with_evidence(demo_result, odd)
    text = "".join(json_chunks(result))
    assert text == _dumps(result.to_json())
    assert '"value": "2026-01-02"' in text and '"n": true' in text


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_a_non_finite_number_prints_nothing_and_exits_3(
        demo_result: CheckResult, bad: float, capsys: pytest.CaptureFixture[str]) -> None:
    result = _with_evidence(demo_result, Evidence("m", "l", bad, "p", Status.OK))
    with pytest.raises(ValueError):
        json_chunks(result)
    with pytest.raises(typer.Exit) as e:
        _print_check_json(result)
    assert e.value.exit_code == 3
    out = capsys.readouterr()
    assert out.out == "" and "not finite" in out.err


def test_the_check_prints_what_print_json_printed(
        demo_result: CheckResult, capsys: pytest.CaptureFixture[str]) -> None:
    _print_json(demo_result.to_json())
    before = capsys.readouterr().out
    _print_check_json(demo_result)
    assert capsys.readouterr().out == before
    assert before.endswith("}\n") and json.loads(before)["schema"] == "dipstick.check/v1"
