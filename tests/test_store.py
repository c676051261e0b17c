"""The app database against real databases: a SQLite file and PostgreSQL (own schema per test)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select

import dipstick.store
from dipstick.check import CheckResult, ServiceVerdict
from dipstick.errors import StoreError, UsageError
from dipstick.findings import (
    Evidence,
    Finding,
    LeakEstimate,
    Status,
    Threshold,
    Window,
    conclude,
    evidence,
    fact,
    unknown,
)
from dipstick.model import Service
from dipstick.store import (
    ENV_URL,
    Store,
    default_url,
    pulse_tables,  # noqa: F401  (its tables in the metadata compared)
)
from dipstick.store.schema import Base
from dipstick.store.tables import FindingRow, Run, ServiceResult

T0 = datetime(2026, 10, 1, 8, 30, tzinfo=UTC)



@pytest.fixture
def store(url: str) -> Iterator[Store]:
    with Store.open(url) as s:
        s.migrate()
        yield s


def crm_findings(leaking: bool) -> tuple[Finding, ...]:
    period = "2026-07-02..2026-09-30"
    tickets = evidence("howto_per_user", "How-to tickets per active user",
                       0.4321 if leaking else 0.05, Threshold(0.1, 0.3), period,
                       baseline=0.0712, note="up since the release")
    eol = fact("end_of_life", "End of life", "2026-06-30", period, Status.LEAK, unit="")
    return (
        conclude("crm", "training", [tickets, evidence("completion", "Training completion",
                                                      None, Threshold(0.8, 0.5), period)],
                 LeakEstimate(1234.5678, 20.5749, "0.33 tickets x 600 users x 0.1 h x 60 EUR")
                 if leaking else LeakEstimate.none(), "train the sales team"),
        conclude("crm", "retirement", [eol], LeakEstimate(987.654, 16.46, "licences x cost"),
                 "retire or consolidate") if leaking
        else unknown("crm", "retirement", "no licence data", "retire or consolidate"),
        unknown("crm", "perception", "no pulse check in 120 days", "talk with the stakeholders"),
    )


def result(as_of: date = date(2026, 9, 30), *, leaking: bool = True,
           hr_findings: tuple[Finding, ...] | None = None) -> CheckResult:
    """A two-service check built from the real dataclasses, as the indicators would."""
    crm = Service(id="crm", name="CRM", owner="Sales Ops", lifecycle="retiring")
    hr = Service(id="hr", name="HR portal")
    hr_ok = hr_findings or (
        Finding("hr", "training", Status.OK, 0.0, "no sign of a leak", (), LeakEstimate(), "x"),
        Finding("hr", "perception", Status.WATCH, 31.25, "value score falling",
                (fact("value_score", "Value score", 3.1, "2026-Q3", Status.WATCH),),
                LeakEstimate(0.0, 0.0, "not estimated"), "talk with the stakeholders"),
    )
    return CheckResult("Acme Ltd", "EUR", 62.5, Window(as_of, 91, 364), "/data/acme",
                       (ServiceVerdict(crm, crm_findings(leaking)), ServiceVerdict(hr, hr_ok)))


def normalised(doc: dict[str, Any]) -> Any:
    return json.loads(json.dumps(doc))


def save(store: Store, res: CheckResult, started: datetime = T0) -> int:
    return store.save_run(res, started_at=started, finished_at=started + timedelta(seconds=3),
                          command="dipstick check /data/acme")


def test_migrate_twice_is_idempotent_and_matches_the_models(store: Store) -> None:
    store.migrate()
    versions = Path(dipstick.store.__file__).parent / "migrations" / "versions"
    newest = max(f.name.split("_")[0] for f in versions.glob("[0-9]*.py"))
    assert store.revision() == newest
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_load_run_round_trips_to_json(store: Store) -> None:
    res = result()
    run_id = save(store, res)
    loaded = store.load_run(run_id)
    assert normalised(loaded) == normalised(res.to_json())
    assert loaded["summary"]["leak_per_month"] == {"money": 1234.57, "hours": 20.6}
    assert loaded["services"][0]["causes"]["training"]["evidence"][0]["baseline"] == 0.0712


def test_load_run_of_unknown_id_is_a_usage_error(store: Store) -> None:
    with pytest.raises(UsageError, match="no run 42"):
        store.load_run(42)


def test_runs_are_listed_newest_first_with_aware_utc_times(store: Store) -> None:
    cest = timezone(timedelta(hours=2))
    first = save(store, result(leaking=False), T0.astimezone(cest))
    second = save(store, result(), T0 + timedelta(days=1))
    runs = store.runs()
    assert [r.id for r in runs] == [second, first]
    assert runs[1].started_at == T0 and runs[1].started_at.tzinfo is not None
    assert runs[0].counts == {"ok": 0, "watch": 1, "leak": 1, "unknown": 0}
    assert runs[0].leak_money == pytest.approx(1234.5678)
    assert (runs[0].services, runs[0].organisation, runs[0].as_of) == (2, "Acme Ltd",
                                                                        date(2026, 9, 30))
    assert [r.id for r in store.runs(limit=1)] == [second]


def test_service_history_across_runs(store: Store) -> None:
    later = save(store, result(date(2026, 10, 31)), T0 + timedelta(days=31))
    earlier = save(store, result(date(2026, 9, 30), leaking=False), T0)
    history = store.service_history("crm")
    assert [(p.run_id, p.as_of, p.status) for p in history] == [
        (earlier, date(2026, 9, 30), Status.OK),  # unknown causes do not darken a light
        (later, date(2026, 10, 31), Status.LEAK)]
    assert history[1].leak_cause == "training"
    assert history[1].leak_money == pytest.approx(1234.5678)
    assert store.service_history("nope") == []


def _bad_summary() -> tuple[Finding, ...]:
    # A buggy indicator that forgot its summary: the NOT NULL column refuses it.
    return (Finding("hr", "training", Status.LEAK, 60.0, None),)  # type: ignore[arg-type]


def _duplicate_cause() -> tuple[Finding, ...]:
    twice = Finding("hr", "training", Status.OK, 0.0, "fine")
    return (twice, twice)


@pytest.mark.parametrize("bad", [_bad_summary, _duplicate_cause])
def test_a_failing_save_stores_nothing(store: Store, bad: Any) -> None:
    kept = save(store, result())
    with pytest.raises(StoreError, match="cannot save the run"):
        save(store, result(hr_findings=bad()), T0 + timedelta(hours=1))
    assert [r.id for r in store.runs()] == [kept]
    with store.engine.connect() as conn:
        counts = [conn.scalar(select(func.count()).select_from(t))
                  for t in (Run, ServiceResult, FindingRow)]
    assert counts == [1, 2, 5]


def test_saving_before_migrating_says_so(url: str) -> None:
    with Store.open(url) as fresh, pytest.raises(StoreError, match="migrated"):
        save(fresh, result())


@pytest.mark.parametrize("bad_url", [
    "postgresql+psycopg://postgres@127.0.0.1:1/x",
    "sqlite:////nonexistent-dir/for-dipstick/app.db",
])
def test_unreachable_database_is_a_clear_store_error(bad_url: str) -> None:
    with pytest.raises(StoreError, match="cannot reach the app database at") as info:
        Store.open(bad_url)
    assert bad_url.split("://")[1][:12] in str(info.value)
    assert "Traceback" not in str(info.value)


def test_bad_url_is_a_clear_store_error() -> None:
    with pytest.raises(StoreError, match="bad database URL 'nonsense://u:\\*\\*\\*@h/db'"):
        Store.open("nonsense://u:secret@h/db")


def test_default_url_is_env_else_a_file_here(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Any) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_URL, raising=False)
    assert default_url() == f"sqlite:///{tmp_path / 'dipstick.db'}"
    with Store.open() as s:
        s.migrate()
        assert s.url == default_url()
    assert (tmp_path / "dipstick.db").exists()
    monkeypatch.setenv(ENV_URL, "sqlite:///elsewhere.db")
    assert default_url() == "sqlite:///elsewhere.db"


def test_a_real_check_round_trips(store: Store, tmp_path: Any) -> None:
    """A check computed by the engine from a package (not built by hand) survives the database."""
    from dipstick.check import run_check
    from dipstick.package import load_package

    from builder import PackageBuilder

    pkg = (PackageBuilder(tmp_path / "pkg").healthy().service("erp", supports=[])
           .usage("erp", users=20).surveys("erp").write())
    package = load_package(pkg)
    try:
        real = run_check(package)
    finally:
        package.close()
    run_id = save(store, real)
    loaded = store.load_run(run_id)
    assert loaded == normalised(real.to_json())
    assert store.service_history("erp")[-1].status.value == "leak"
    # n/a (migration 0006: no value stream, no touchpoint) and the evidence's test survive
    crm = next(s for s in loaded["services"] if s["id"] == "crm")
    assert crm["causes"]["flow"]["status"] == crm["causes"]["customer_experience"]["status"] \
        == "n/a"
    assert any(e["n"] and e["p"] is not None for c in crm["causes"].values()
               for e in c["evidence"])


def test_since_dates_survive_the_database(store: Store, tmp_path: Any) -> None:
    from dipstick.check import run_check
    from dipstick.package import load_package

    from builder import PackageBuilder

    package = load_package(PackageBuilder(tmp_path / "pkg").service().usage().surveys().kpis()
                           .satisfaction_step(days_ago=120).write())
    try:
        real = run_check(package)
    finally:
        package.close()
    since = real.verdicts[0].finding("employee_experience").since
    assert since is not None
    stored = store.load_run(save(store, real))
    assert stored == normalised(real.to_json())
    assert stored["services"][0]["causes"]["employee_experience"]["since"] == since.isoformat()
    assert stored["services"][0]["since"] == since.isoformat()


def test_episodes_round_trip(store: Store) -> None:
    """A symptom's link and the episode's story come back as the check wrote them."""
    from dipstick.episodes import ChangeRecord, group

    story_of = Evidence("shift:crm/questions_per_user", "Shift in how-to tickets per user", 2.0,
                        "week of 2026-06-01", Status.LEAK, 0.0, "", None, 0.1)
    leaks = (Finding("crm", "training", Status.LEAK, 70.0, "how-to tickets", (story_of,),
                     LeakEstimate(500.0, 10.0, "f"), "train", date(2026, 6, 1)),
             Finding("crm", "change", Status.WATCH, 30.0, "a release", (), LeakEstimate(),
                     "communicate"),
             Finding("crm", "retirement", Status.LEAK, 60.0, "usage down", (story_of,),
                     LeakEstimate(300.0, 6.0, "g"), "retire", date(2026, 6, 8)))
    found, episodes = group(leaks, [ChangeRecord("CHG1", date(2026, 5, 31), "release")])
    res = CheckResult("Acme Ltd", "EUR", 62.5, Window(date(2026, 9, 30), 91, 364), "/data/acme",
                      (ServiceVerdict(Service(id="crm", name="CRM"), found, episodes),))
    loaded = store.load_run(save(store, res))
    assert normalised(loaded) == normalised(res.to_json())
    crm = loaded["services"][0]
    assert crm["episodes"][0]["change"] == "CHG1"
    assert crm["causes"]["training"]["symptom_of"] == "change"
    assert crm["leak_per_month"] == {"money": 500.0, "hours": 10.0, "cause": "change",
                                     "formula": crm["causes"]["change"]["leak_per_month"][
                                         "formula"], "low": None, "high": None}
    assert crm["since"] == "2026-05-31"


def test_runs_after_a_deleted_one_keep_their_own_rows(store: Store) -> None:
    """The service rows take their ids before they are written (rows.py): runs saved one
    after another, and after the newest was deleted, each get back exactly their own
    services and findings."""
    first = save(store, result(leaking=False))
    gone = save(store, result(date(2026, 10, 31)), T0 + timedelta(days=31))
    with store.engine.begin() as conn:
        conn.execute(Run.__table__.delete().where(Run.__table__.c.id == gone))
    runs = [(first, result(leaking=False))]
    for day in (1, 2):
        res = result(date(2026, 11, day), leaking=day == 1)
        runs.append((save(store, res, T0 + timedelta(days=40 + day)), res))
    for run_id, res in runs:
        assert normalised(store.load_run(run_id)) == normalised(res.to_json())
    with store.engine.connect() as conn:
        ids = conn.scalars(select(ServiceResult.id).order_by(ServiceResult.id)).all()
        owners = conn.execute(select(FindingRow.service_result_id, ServiceResult.run_id)
                              .join(ServiceResult)).all()
    assert len(ids) == len(set(ids)) == 6
    assert {run for _, run in owners} == {r for r, _ in runs}


def test_evidence_json_keeps_its_values_and_stores_no_nan(store: Store) -> None:
    """The evidence's JSON text comes from pydantic-core (rows.json_text): a non-finite number
    is stored as null (PostgreSQL's json refuses NaN), text beyond ASCII and quotes come back
    as written, and the stored text parses to what the standard library's encoder wrote."""
    from dataclasses import replace

    from dipstick.check import evidence_json
    from dipstick.store.rows import finite, json_text

    odd = (fact("nan", 'Odd "value" – ünïcode ✓', float("nan"), "2026-Q3", Status.WATCH),
           replace(fact("inf", "Infinite", float("inf"), "2026-Q3", Status.OK), n=3, low=-0.0),
           replace(fact("big", "Large", 1e16, "2026-Q3", Status.OK), low=1e-7,
                   high=123456789.125))
    hr = (Finding("hr", "training", Status.WATCH, 31.25, "odd values", odd, LeakEstimate(), "x"),)
    run_id = save(store, result(hr_findings=hr))
    stored = store.details(run_id, "hr")["training"]["evidence"]
    assert [e["value"] for e in stored] == [None, None, 1e16]
    assert stored[0]["label"] == 'Odd "value" – ünïcode ✓'
    assert (stored[1]["n"], stored[2]["low"], stored[2]["high"]) == (3, 1e-7, 123456789.125)
    plain = [evidence_json(e) for e in odd]
    assert json.loads(json_text(plain)) == json.loads(json.dumps(finite(plain)))
    if store.engine.dialect.name == "sqlite":   # the encoder's UTF-8 goes in as text, no blob
        with store.engine.connect() as conn:
            kinds = conn.exec_driver_sql("SELECT DISTINCT typeof(evidence) FROM findings")
            raw = conn.exec_driver_sql(
                "SELECT f.evidence FROM findings f JOIN service_results s ON s.id = "
                "f.service_result_id WHERE s.service_id = 'hr' AND f.cause = 'training'")
            assert (kinds.scalars().all(), raw.scalar_one()) == (["text"], json_text(plain))


def _small_check(tmp_path: Any) -> Any:
    """A real check of a small package (one service with usage and surveys beside the
    healthy one): findings of every kind, evidence with every field the JSON keeps."""
    from dipstick.check import run_check
    from dipstick.package import load_package

    from builder import PackageBuilder

    package = load_package(PackageBuilder(tmp_path / "pkg").healthy().service("erp", supports=[])
                           .usage("erp", users=20).surveys("erp").write())
    try:
        return run_check(package)
    finally:
        package.close()


def test_evidence_dicts_are_the_checks_own(tmp_path: Any) -> None:
    """The store encodes the check's own evidence dicts (``findings.evidence_json``, the one
    definition since session 19): the stored text of every evidence of a real check is
    ``json_text`` of those dicts. Their keys and types are held to the fields in
    tests/test_check_json.py."""
    from dipstick.findings import evidence_json
    from dipstick.store.rows import _finding_row, json_text

    real = _small_check(tmp_path)
    found = [f for v in real.verdicts for f in v.findings if f.evidence]
    assert len(found) > 5
    for f in found:
        row = _finding_row(1, 0, f, {})
        assert row[-2] == json_text([evidence_json(e) for e in f.evidence])


def test_coverage_text_is_its_json_and_its_key_every_field(tmp_path: Any) -> None:
    """rows._coverage_text encodes each table's coverage once per value, keyed by the fields of
    ``ServiceCoverage`` and ``Span`` by name: the text is ``json_text`` of the list's JSON for
    every finding of a real check, and a field added to either class fails here (the key
    would not see it, and two different coverages could share a text)."""
    from dataclasses import fields

    from dipstick.findings import ServiceCoverage, Span
    from dipstick.store.rows import _coverage_text, json_text

    assert [f.name for f in fields(ServiceCoverage)] == ["table", "window", "baseline"]
    assert [f.name for f in fields(Span)] == ["rows", "first", "last"]
    real = _small_check(tmp_path)
    covered: dict[tuple[Any, ...], str] = {}
    findings = [f for v in real.verdicts for f in v.findings]
    for f in (*findings, Finding("x", "y", Status.OK, 0.0, "", (), LeakEstimate(), "")):
        assert _coverage_text(f.coverage, covered) == json_text([c.to_json() for c in f.coverage])
    day = date(2026, 9, 1)
    one, other = (ServiceCoverage("tickets", Span(3, day, day), Span(rows, day, None))
                  for rows in (0, 5))
    assert _coverage_text((one, other), covered) == json_text([one.to_json(), other.to_json()])
    assert 0 < len(covered) < sum(len(f.coverage) for f in findings) + 2
