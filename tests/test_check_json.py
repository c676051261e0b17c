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


def _evidence_field_by_field(e: Evidence) -> dict[str, Any]:
    """``check.evidence_json`` as it was until session 19: the JSON's keys named one by one."""
    return {"metric": e.metric, "label": e.label, "value": e.value, "period": e.period,
            "status": e.status.value, "score": e.score, "unit": e.unit,
            "threshold": e.threshold, "baseline": e.baseline, "note": e.note,
            "n": e.n, "low": e.low, "high": e.high, "p": e.p, "q": e.q}


def test_evidence_json_is_the_fields_named_one_by_one(demo_result: CheckResult) -> None:
    """The attribute copy gives the named fields' dict — keys in order, values of the same
    types, the light as plain ``str`` — for evidence made every way (``Evidence(...)``,
    ``make_evidence`` through ``fact``, ``evolve``, ``dataclasses.replace``, a pickle's load),
    with NaN, −0.0, a date, a bool and every field set; a field added to ``Evidence`` fails."""
    import pickle
    from dataclasses import fields

    from dipstick.findings import evidence_json, fact

    every = [e for v in demo_result.verdicts for f in v.findings for e in f.evidence]
    full = Evidence(**{f.name: f.default for f in fields(Evidence) if f.name != "status"}
                    | {"metric": "m", "label": "l", "value": "v", "period": "p",
                       "status": Status.LEAK, "threshold": "t", "baseline": 1.5, "n": 4,
                       "low": -0.0, "high": 2.5, "p": 0.01, "q": 0.02, "relative": True})
    odd = fact("nan", "ünïcode ✓", float("nan"), "p", Status.WATCH, score=-0.0)
    made = [full, odd, evolve(odd, q=0.5, relative=True), replace(full, value=date(2026, 1, 2)),
            evolve(full, n=True), *pickle.loads(pickle.dumps([full, odd]))]
    assert len(every) > 100 and {e.status for e in every} >= {Status.OK, Status.LEAK}
    for e in (*every, *made):
        got, want = evidence_json(e), _evidence_field_by_field(e)
        assert [(k, type(v), repr(v)) for k, v in got.items()] == \
            [(k, type(v), repr(v)) for k, v in want.items()]


def test_coverage_shared_by_value_is_encoded_as_each_entry_alone(
        demo_result: CheckResult) -> None:
    """``json_chunks`` makes a coverage entry's dict once per value (``ServiceCoverage.value``)
    and shares it: entries that differ in any one field must still each show their own."""
    from dipstick.findings import ServiceCoverage, Span

    day, other = date(2026, 1, 5), date(2026, 2, 6)
    base = ServiceCoverage("tickets", Span(3, day, other), Span(4, day, other))
    alike = [base, replace(base, table="usage"), replace(base, window=Span(5, day, other)),
             replace(base, window=Span(3, other, other)), replace(base, window=Span(3, day, day)),
             replace(base, baseline=Span(7, day, other)),
             replace(base, baseline=Span(4, other, other)),
             replace(base, baseline=Span(4, day, None)), ServiceCoverage("tickets", Span(), Span()),
             base]
    first = demo_result.verdicts[0]
    findings = tuple(evolve(f, coverage=tuple(alike[i:] + alike[:i]))
                     for i, f in enumerate(first.findings))
    result = replace(demo_result, verdicts=(evolve(first, findings=findings),
                                            *demo_result.verdicts[1:]))
    assert "".join(json_chunks(result)) == _dumps(result.to_json())
