"""The second benchmark generator (benchmarks/orgsim) keeps writing valid packages whose ground
truth matches their data — a benchmark built on a rotten generator would grade nothing."""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import detection  # noqa: E402
import orgsim  # noqa: E402

BASELINE = timedelta(days=364 + 91)   # the check's baseline + current window (defaults)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, orgsim.Truth]:
    folder = tmp_path_factory.mktemp("orgsim") / "org"
    return folder, orgsim.generate(folder, 7, n_services=24, weeks=100)


def test_package_validates(small: tuple[Path, orgsim.Truth]) -> None:
    folder, _ = small
    r = subprocess.run([sys.executable, "-m", "dipstick", "validate", str(folder)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_cause_seeded_clear_and_subtle_on_distinct_services(
        small: tuple[Path, orgsim.Truth]) -> None:
    _, truth = small
    pairs = sorted((x.cause, x.clear) for x in truth.leaks)
    assert pairs == sorted((c, k) for c in orgsim.CAUSES for k in (True, False))
    assert len({x.service for x in truth.leaks}) == len(truth.leaks)


def test_onsets_inside_the_data_with_baseline_and_13_weeks_after(
        small: tuple[Path, orgsim.Truth]) -> None:
    folder, truth = small
    (first,) = duckdb.sql(
        f"select min(opened_at)::date from '{folder}/tickets.parquet'").fetchall()
    assert first[0] >= truth.start
    for x in truth.leaks:
        assert truth.start + BASELINE <= x.onset <= truth.as_of - timedelta(weeks=13), x
        assert any(d >= x.onset + timedelta(weeks=13) for d in truth.check_dates())
    assert orgsim.read_truth(folder) == truth


def test_seeded_evidence_is_in_the_data(small: tuple[Path, orgsim.Truth]) -> None:
    """A change leak has its release on its onset; a training leak has no release near it; an
    alignment leak's own outcome runs off target after its onset."""
    folder, truth = small
    with (folder / "changes.csv").open() as f:
        changes = list(csv.DictReader(f))
    model = yaml.safe_load((folder / "dipstick.yaml").read_text())
    for x in truth.leaks:
        mine = [date.fromisoformat(c["date"]) for c in changes if c["service"] == x.service]
        if x.cause == "change":
            assert x.onset in mine
        if x.cause == "training":
            assert not [d for d in mine if x.onset - timedelta(weeks=8) <= d <= truth.as_of]
        if x.cause == "alignment":
            svc = next(s for s in model["services"] if s["id"] == x.service)
            (link,) = svc["supports"]
            out = next(o for o in model["outcomes"] if o["id"] == link["outcome"])
            ((mean,),) = duckdb.sql(
                f"select avg(value) from '{folder}/kpis.csv' where outcome = "
                f"'{out['id']}' and date >= '{x.onset + timedelta(weeks=8)}'").fetchall()
            ratio = mean / out["kpi"]["target"]
            assert ratio < 0.95 if out["kpi"]["direction"] == "up" else ratio > 1.05


def test_portfolio_is_heterogeneous(small: tuple[Path, orgsim.Truth]) -> None:
    """Cost per active user spans ≥ 30× and weekly ticket volumes ≥ 10× across services."""
    folder, _ = small
    model = yaml.safe_load((folder / "dipstick.yaml").read_text())
    users = dict(duckdb.sql(f"select service, avg(active_users) from '{folder}/usage.parquet' "
                            "group by 1").fetchall())
    cpu = [s["monthly_cost"] / users[s["id"]] for s in model["services"] if users.get(s["id"])]
    assert max(cpu) / min(cpu) >= 30
    weekly = [n for (n,) in duckdb.sql(f"select count(*) from '{folder}/tickets.parquet' "
                                       "group by service").fetchall()]
    assert max(weekly) / min(weekly) >= 10


def test_stable_org_has_no_leaks_and_is_deterministic(tmp_path: Path) -> None:
    a = orgsim.generate(tmp_path / "a", 3, stable=True, n_services=20, weeks=100)
    b = orgsim.generate(tmp_path / "b", 3, stable=True, n_services=20, weeks=100)
    assert a.leaks == () and a == b
    assert (tmp_path / "a" / "dipstick.yaml").read_text() == (
        tmp_path / "b" / "dipstick.yaml").read_text()


def test_benchmark_counts_only_leak_lights_off_the_truth_as_false() -> None:
    leak = {"cause": "change", "clear": True, "at13": True, "at_end": True, "lit": True,
            "since_error": 3}
    org = {"stable": False, "leaks": [leak], "service_years": 0.0, "episodes": [],
           "fp_end": [{"service": "s1", "cause": "training", "kind": "other cause"}]}
    stable = {"stable": True, "leaks": [], "fp_end": [], "episodes": ["flow"],
              "service_years": 50.0}
    s = detection.summarise([org, stable])
    assert s["all"]["precision"] == 0.5 and s["change"]["precision"] == 1.0
    assert s["all"]["precision_leaking_orgs"] == 0.5
    assert s["training"]["precision"] == 0.0 and s["training"]["fp_other_cause"] == 1
    assert s["all"]["false_alarms_per_100_service_years"] == 2.0
    assert s["change"]["since_error_median_days"] == 3
    assert detection.parse_seeds("1-3,10") == [1, 2, 3, 10]
