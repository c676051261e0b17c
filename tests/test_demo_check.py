"""The demo organisation end to end: every seeded leak is found with the right cause, and no
healthy service is flagged `leak` — the check against a known truth."""

from __future__ import annotations

import pytest

from dipstick.check import CheckResult
from dipstick.demo import GroundTruth
from dipstick.findings import Status
from dipstick.store import Store


@pytest.fixture(scope="module")
def demo(demo_truth: GroundTruth, demo_result: CheckResult) -> tuple[GroundTruth, CheckResult,
                                                                       float]:
    """The session's demo and its check (tests/shared.py: generated and checked once)."""
    return demo_truth, demo_result, 0.0


def test_every_seeded_leak_is_found_with_its_cause(demo: tuple[GroundTruth, CheckResult,
                                                                float]) -> None:
    truth, result, _ = demo
    by_id = {v.service.id: v for v in result.verdicts}
    missed = [(leak.service, leak.cause, by_id[leak.service].finding(leak.cause).status.value,
               by_id[leak.service].finding(leak.cause).summary)
              for leak in truth.leaks
              if by_id[leak.service].finding(leak.cause).status is not Status.LEAK]
    assert not missed, missed


def test_no_healthy_service_is_flagged_leak(demo: tuple[GroundTruth, CheckResult,
                                                         float]) -> None:
    truth, result, _ = demo
    by_id = {v.service.id: v for v in result.verdicts}
    flagged = [(sid, f.cause, f.summary) for sid in truth.healthy
               for f in by_id[sid].findings if f.status is Status.LEAK]
    assert not flagged, flagged
    assert len(truth.healthy) >= len(result.verdicts) / 2


def test_the_demo_has_a_total_and_every_leak_a_formula(demo: tuple[GroundTruth, CheckResult,
                                                                     float]) -> None:
    _, result, _ = demo
    assert result.leak_money > 0
    for v in result.verdicts:
        for f in v.findings:
            if f.status is Status.LEAK:
                assert f.leak.formula and f.action, (v.service.id, f.cause)


def test_the_access_request_stream_is_discovered_from_the_event_log(
        demo: tuple[GroundTruth, CheckResult, float]) -> None:
    """The demo's event log: whole cases that began in the 13-week window, about 14 requests a
    working day, most approved before work starts — and healthy, so the service desk's flow
    light stays green with the discovered steps counted."""
    _, result, _ = demo
    [(metrics, found)] = result.processes
    assert metrics.id == "access_request" and metrics.discovered
    assert 800 < found.cases < 1_400
    assert found.main_path is not None and found.main_path.activities == (
        "Submitted", "Awaiting Approval", "In Progress", "Fulfilled")
    assert {a.name for a in found.activities if a.waiting} == {"Awaiting Approval",
                                                               "Awaiting Requester"}
    desk = next(v for v in result.verdicts if v.service.id == "service_desk")
    flow = desk.finding("flow")
    assert flow.status is Status.OK
    assert any(e.metric == "rolled_ca:access_request" for e in flow.evidence)


def test_the_stored_demo_check_is_the_check(demo_db: str, demo_result: CheckResult) -> None:
    """The session's app database (tests/shared.py) holds the demo's check as its one run:
    what the web and pulse tests start from instead of checking the demo again."""
    with Store.open(demo_db) as store:
        [run] = store.runs()
        stored = store.load_run(run.id)
    assert run.as_of == demo_result.window.as_of and run.services == len(demo_result.verdicts)
    assert [(s["id"], s["status"]) for s in stored["services"]] == [
        (v.service.id, v.status.value) for v in demo_result.verdicts]
