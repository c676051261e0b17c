"""The demo organisation: big enough, every cause seeded, reproducible, and a valid package.

The default organisation is the session's shared demo (tests/shared.py); the large one only
as a catalog and seeding plan, since its signals take minutes and gigabytes to write.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest

from dipstick.demo import GroundTruth, generate
from dipstick.demo.catalog import named
from dipstick.demo.extra import grow
from dipstick.demo.leaks import plan
from dipstick.demo.timeline import Timeline
from dipstick.indicators.registry import CAUSES
from dipstick.model import ValueModel
from dipstick.package import read_model, validate

pytestmark = pytest.mark.slow

SIGNALS = ("tickets", "usage", "costs", "training", "changes", "surveys", "kpis", "touchpoints",
           "events")


@pytest.fixture(scope="module")
def demo(demo_org: Path, demo_truth: GroundTruth) -> tuple[Path, GroundTruth]:
    return demo_org, demo_truth


@pytest.fixture(scope="module")
def model(demo: tuple[Path, GroundTruth]) -> ValueModel:
    m, problems = read_model(demo[0])
    assert m is not None and problems == []
    return m


def hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir())}


def test_the_package_is_valid(demo: tuple[Path, GroundTruth]) -> None:
    assert validate(demo[0]) == []
    assert {f"{t}.csv" for t in SIGNALS} | {"dipstick.yaml", "ground_truth.json"} == set(
        hashes(demo[0]))


def test_the_catalog_is_a_realistic_organisation(model: ValueModel) -> None:
    assert len(model.services) >= 60
    assert all(s.owner and s.owner.endswith(".example") and "@" in s.owner
               for s in model.services)
    assert {"crm", "erp", "hr_portal", "payroll", "webshop", "mobile_app", "vpn",
            "service_desk", "data_warehouse"} <= {s.id for s in model.services}
    kinds = Counter(g.kind for g in model.stakeholder_groups)
    assert len(model.stakeholder_groups) >= 8
    assert set(kinds) == {"customer", "partner", "supplier", "internal"}
    assert all(2 <= len(g.value_dimensions) <= 4 for g in model.stakeholder_groups)
    assert len(model.outcomes) >= 10 and all(o.kpi for o in model.outcomes)
    assert model.value_streams and all(v.steps and v.runs_per_month
                                       for v in model.value_streams if v.event_log is None)
    [logged] = [v for v in model.value_streams if v.event_log is not None]
    assert logged.event_log is not None and logged.event_log.process == "access_request"
    touchpoints = [t for j in model.journeys for t in j.touchpoints]
    assert touchpoints and all(t.services for t in touchpoints)
    assert model.settings == {"value_per_drop_off": 25}


def test_signals_span_three_years_up_to_as_of(demo: tuple[Path, GroundTruth]) -> None:
    path, truth = demo
    con = duckdb.connect()
    first, last, n = con.execute(
        f"SELECT min(opened_at)::DATE, max(opened_at)::DATE, count(*) "
        f"FROM read_csv('{path / 'tickets.csv'}')").fetchone() or (None, None, 0)
    assert last == truth.as_of
    assert first is not None and first <= truth.as_of - timedelta(days=3 * 365)
    assert 100_000 <= n <= 200_000
    weekdays = dict(con.execute(f"SELECT isodow(date), avg(active_users) FROM "
                                f"read_csv('{path / 'usage.csv'}') WHERE service = 'email' "
                                "GROUP BY 1").fetchall())
    assert weekdays[7] < 0.6 * weekdays[2]    # the office is quiet on Sundays


def test_every_cause_is_seeded_at_least_twice(demo: tuple[Path, GroundTruth],
                                              model: ValueModel) -> None:
    truth = demo[1]
    assert Counter(x.cause for x in truth.leaks).keys() == set(CAUSES)
    assert min(Counter(x.cause for x in truth.leaks).values()) >= 2
    assert any(x.subtle for x in truth.leaks) and not all(x.subtle for x in truth.leaks)
    assert all(91 <= (truth.as_of - x.start).days <= 365 for x in truth.leaks)
    leaking = {x.service for x in truth.leaks}
    assert leaking.isdisjoint(truth.healthy)
    assert leaking | set(truth.healthy) == {s.id for s in model.services}
    assert len(truth.healthy) >= len(model.services) / 2


def test_duplicate_capabilities_are_retirement_leaks(demo: tuple[Path, GroundTruth],
                                                     model: ValueModel) -> None:
    caps = Counter(s.capability for s in model.services)
    twins = [s.id for s in model.services if caps[s.capability] > 1]
    retiring = {x.service for x in demo[1].leaks if x.cause == "retirement"}
    assert len(twins) >= 4 and set(twins) <= retiring


def test_healthy_services_stay_clear_of_structural_leaks(demo: tuple[Path, GroundTruth],
                                                         model: ValueModel) -> None:
    truth = demo[1]
    active = {o.id for o in model.outcomes if o.status == "active"}
    for s in (model.service(h) for h in truth.healthy):
        assert any(v.outcome in active for v in s.supports), s.id
        assert s.end_of_life is None or s.end_of_life > truth.as_of + timedelta(days=180)


def test_ground_truth_loads_back(demo: tuple[Path, GroundTruth]) -> None:
    """(That it equals what ``generate`` returned: the same-seed test below.)"""
    path, truth = demo
    assert GroundTruth.load(path / "ground_truth.json") == truth
    assert GroundTruth.load(path / "ground_truth.json").causes(truth.leaks[0].service)


def test_the_same_seed_writes_the_same_bytes(demo: tuple[Path, GroundTruth],
                                             tmp_path: Path) -> None:
    again = generate(tmp_path / "again", seed=7)
    assert hashes(tmp_path / "again") == hashes(demo[0])
    assert again == demo[1] == GroundTruth.load(tmp_path / "again")   # the truth loads back
    generate(tmp_path / "other", seed=8)
    other = hashes(tmp_path / "other")
    assert other["tickets.csv"] != hashes(demo[0])["tickets.csv"]


def test_size_must_be_known(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, size="huge")  # type: ignore[arg-type]


def test_the_large_catalog_is_seeded_by_the_same_plan() -> None:
    tl = Timeline()
    cat = named(np.random.default_rng([7, 1]), tl)
    grow(cat, 2040, np.random.default_rng([7, 2]), tl)
    seeded = plan(cat, tl, np.random.default_rng([7, 3]), "large")
    assert len(cat.services) >= 2000 and len({s.id for s in cat.services}) == len(cat.services)
    assert min(Counter(x.cause for x in seeded.leaks).values()) >= 20
    assert len(seeded.healthy) >= len(cat.services) / 2
