"""change: a change's signs are found by the ids their metrics end with, looked up once."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from dipstick.findings import Evidence, Status, Threshold, make_evidence
from dipstick.indicators.change_signs import SIGNS, _signs_by_change, corroborated
from dipstick.indicators.confidence import is_sign
from test_indicators import check

from builder import AS_OF, PackageBuilder


def _ev(metric: str, status: Status, p: float | None) -> Evidence:
    return make_evidence(metric, metric, 1.5, "p", status, 30.0, p=p, low=1.2, high=2.0)


def test_a_sign_is_found_by_every_id_its_metric_ends_with() -> None:
    """``metric.endswith(":" + id)``, as the scan per change had it: ids with colons too
    (``incident_ratio:b:a`` is a sign of ``b:a`` and of ``a``), not other prefixes."""
    metrics = ["incident_ratio:a", "incident_ratio:b:a", "usage_change:b", "shift:x/a",
               "failed:c", "uncommunicated:a:c", "question_ratio:", "satisfaction_drop:b:a",
               "kpi:a", "failed"]
    ev = [_ev(m, s, p) for m, (s, p) in zip(metrics, itertools.cycle(
        [(Status.LEAK, 0.01), (Status.WATCH, None), (Status.OK, 0.5), (Status.WATCH, 0.2)]),
        strict=False)]
    named = _signs_by_change(ev)
    for cid in ("a", "b:a", "b", "c", "a:c", "", "x/a", "z"):
        want = [i for i, e in enumerate(ev) if e.metric.endswith(f":{cid}")
                and e.metric.split(":")[0] in SIGNS]
        assert named.get(cid, []) == want, cid
    assert named["a"] == [0, 1, 7] and named["a:c"] == [5] and "x/a" not in named


def test_a_lone_sign_named_by_a_longer_id_is_held_at_watch() -> None:
    """``incident_ratio:b:a`` is change ``a``'s sign as well as ``b:a``'s: alone, not surely
    past its leak line, it is held at watch for either; another change's is left alone."""
    line = Threshold(1.3, 1.6)
    ev = [_ev("incident_ratio:b:a", Status.LEAK, 0.01), _ev("usage_change:x", Status.LEAK, 0.01)]
    for cid in ("a", "b:a"):
        out = corroborated(ev, [cid], {"incident_ratio": line})
        assert [e.status for e in out] == [Status.WATCH, Status.LEAK]
        assert out[0].note.endswith("a second sign of the same change")
    assert corroborated(ev, ["z"], {"incident_ratio": line}) == ev
    assert all(is_sign(e) for e in ev)


def test_the_places_of_signs_hold_after_corroboration() -> None:
    """``assess`` finds the signs once and hands their places to ``corroborated``: holding a
    lone sign at watch keeps its metric, so the places hold for the result too, and the
    result is the one ``corroborated`` finds on its own."""
    lines = {"incident_ratio": Threshold(1.3, 1.6), "question_ratio": Threshold(1.3, 1.6),
             "satisfaction_drop": Threshold(0.7, 1.2)}
    metrics = ["incident_ratio:a", "question_ratio:a", "satisfaction_drop:b", "failed:c",
               "incident_ratio:c", "usage_change:d", "incident_ratio:b:a", "shift:x/a"]
    for k, picks in enumerate(itertools.product([(Status.LEAK, 0.01), (Status.WATCH, 0.01),
                                                 (Status.OK, 0.5), (Status.LEAK, None)],
                                                repeat=3)):
        ev = [_ev(m, *picks[(i + k) % 3]) for i, m in enumerate(metrics)]
        named = _signs_by_change(ev)
        out = corroborated(ev, ["a", "b", "c", "d", "b:a"], lines, named)
        assert out == corroborated(ev, ["a", "b", "c", "d", "b:a"], lines)
        assert _signs_by_change(out) == named


def _use_drop_at_release(incidents_after: int) -> Callable[[PackageBuilder], PackageBuilder]:
    """Use steps from 90 to 55 users a day at a release 60 days ago (flat peers: no season);
    4 incidents a week before it and ``incidents_after`` after."""
    release = AS_OF - timedelta(days=60)

    def build(b: PackageBuilder) -> PackageBuilder:
        b.service().kpis().usage(after=(release, 55))
        b.tickets(per_week=4, end_day=release - timedelta(days=1))
        b.tickets(per_week=incidents_after, start_day=release, prefix="A")
        for peer in ("p1", "p2", "p3", "p4", "p5"):
            b.service(peer).usage(peer)
        return b.rows("changes", [
            {"id": "CHG0", "service": "crm", "date": (release - timedelta(days=90)).isoformat(),
             "kind": "release", "success": "true", "communicated": "true"},
            {"id": "CHG1", "service": "crm", "date": release.isoformat(), "kind": "release",
             "success": "true", "communicated": "true"}])
    return build


@pytest.mark.parametrize("rise", [True, False])
def test_a_use_drop_stands_only_with_a_sign_of_harm_of_its_own_change(tmp_path: Path,
                                                                       rise: bool) -> None:
    """A release's use drop with its incidents tripled stands; with them halved (fewer per
    user too) it is held at watch — an earlier change of the service has no sign either."""
    result = check(tmp_path, _use_drop_at_release(12 if rise else 2), ["change"])
    f = next(v for v in result.verdicts if v.service.id == "crm").finding("change")
    use = next(e for e in f.evidence if e.metric == "usage_change:CHG1")
    assert use.value is not None and float(use.value) < -0.3
    assert ("no rise in incidents" in use.note) is not rise
    assert use.status is (Status.LEAK if rise else Status.WATCH)
