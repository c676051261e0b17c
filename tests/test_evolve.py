"""``findings.evolve``: the cheap ``dataclasses.replace`` of the check's hot paths must give
exactly what ``replace`` gives, leave the original alone and refuse a name that is no field."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from dipstick.check import ServiceVerdict
from dipstick.findings import Evidence, Finding, LeakEstimate, Status, evolve
from dipstick.model import Service

EV = Evidence("tickets", "Tickets", 12.5, "2026-01-01..2026-03-31", Status.WATCH, 30.0, "/wk",
              "watch ≥ 10 · leak ≥ 20", 8.0, "note", n=40, low=10.0, high=15.0, p=0.01)
FINDING = Finding("crm", "support", Status.LEAK, 60.0, "up", (EV,),
                  LeakEstimate(100.0, 2.0, "f", 80.0, 120.0), "act", date(2026, 2, 1))


@pytest.mark.parametrize(("obj", "changes"), [
    (EV, {"q": 0.02, "status": Status.LEAK, "score": 50.0}),
    (FINDING, {"since": date(2026, 3, 1), "evidence": (EV, EV)}),
    (FINDING, {"evidence": (), "coverage": ()}),
    (FINDING, {}),
])
def test_evolve_is_replace(obj: object, changes: dict[str, object]) -> None:
    before = dataclasses.astuple(obj)  # type: ignore[call-overload]
    got = evolve(obj, **changes)
    want = dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    assert got == want and type(got) is type(want) and got is not obj
    assert dataclasses.astuple(got) == dataclasses.astuple(want)  # type: ignore[call-overload]
    assert dataclasses.astuple(obj) == before   # type: ignore[call-overload]
    assert hash(got) == hash(want)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.score = 1.0  # type: ignore[attr-defined]


def test_evolve_keeps_a_verdicts_service_and_refuses_unknown_fields() -> None:
    service = Service(id="crm", name="CRM", lifecycle="live")
    verdict = ServiceVerdict(service, (FINDING,))
    got = evolve(verdict, findings=())
    assert got.service is service and got.findings == () and got.status is Status.UNKNOWN
    with pytest.raises(TypeError, match="no field sincce"):
        evolve(FINDING, sincce=date(2026, 1, 1))
