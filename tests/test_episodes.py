"""One event, one leak: episodes on hand-built packages through the real check, and the
grouping rule case by case on findings written out as data."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from html import unescape
from pathlib import Path

import pytest
from rich.console import Console

from dipstick.alerts.events import LEAK, diff
from dipstick.check import CheckResult, run_check
from dipstick.episodes import ChangeRecord, Rule, group
from dipstick.findings import HELD
from dipstick.indicators.base import Evidence, Finding, LeakEstimate, Status
from dipstick.package import load_package
from dipstick.render import print_check
from dipstick.report import render_report
from dipstick.shifts import CAUSE_SERIES

from builder import AS_OF, PackageBuilder
from webserver import RunningApp, signed_in

RELEASE = AS_OF - timedelta(days=70)


def bad_release(b: PackageBuilder, *, recorded: bool = True) -> PackageBuilder:
    """A release that cuts usage by a third, drops ticket satisfaction by 3.5 points and
    multiplies how-to tickets by six, all on one day."""
    b.service().usage(users=90, after=(RELEASE, 60)).surveys().kpis()
    b.tickets(per_week=5, satisfaction=8.5, end_day=RELEASE - timedelta(days=1))
    b.tickets(per_week=5, satisfaction=5.0, start_day=RELEASE, prefix="A")
    b.tickets(kind="question", per_week=1, end_day=RELEASE - timedelta(days=1), prefix="Q")
    b.tickets(kind="question", per_week=6, start_day=RELEASE, prefix="R")
    if recorded:
        b.rows("changes", [{"id": "CHG1", "service": "crm", "date": RELEASE.isoformat(),
                            "kind": "release", "success": "true", "communicated": "true"}])
    return b


def check(root: Path, b: PackageBuilder) -> CheckResult:
    package = load_package(b.write())
    try:
        return run_check(package)
    finally:
        package.close()


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bad release as a package (also what the module's web ``app`` fixture serves)."""
    return bad_release(PackageBuilder(tmp_path_factory.mktemp("release") / "pkg")).write()


@pytest.fixture(scope="module")
def released(package: Path) -> CheckResult:
    loaded = load_package(package)
    try:
        return run_check(loaded)
    finally:
        loaded.close()


def test_a_bad_release_is_one_leak_with_its_symptoms(released: CheckResult) -> None:
    result = released
    [v] = result.verdicts
    leaks = [f.cause for f in v.findings if f.status is Status.LEAK]
    symptoms = {f.cause: f for f in v.findings if f.symptom_of}
    assert leaks == ["change"]
    assert {"training", "employee_experience"} <= set(symptoms)
    for f in symptoms.values():
        assert f.status is Status.WATCH and f.symptom_of == "change"
        assert f.leak.money == 0 and not f.action          # not priced, no second action
        assert any(e.metric.startswith("shift:") for e in f.evidence)   # evidence kept
    [ep] = v.episodes
    assert (ep.root, ep.since, ep.change) == ("change", RELEASE, "CHG1")
    assert set(ep.symptoms) == set(symptoms)
    assert ep.story.startswith(f"since release CHG1 on {RELEASE}: ")
    assert "how-to tickets per user ×" in ep.story
    root = v.finding("change")
    assert root.since == RELEASE and root.episode == ep.story
    # one price: the episode's largest estimate, once, in the service and the total
    assert v.leak_cause == "change" and v.since == RELEASE
    assert v.leak.money > 0 and result.leak_money == v.leak.money
    # one alert, and the story in it
    events = [e for e in diff(result, {}) if e.kind == LEAK]
    assert [(e.cause, e.details["episode"]) for e in events] == [("change", ep.story)]
    doc = result.to_json()["services"][0]
    assert doc["episodes"] == [ep.to_json()]
    assert doc["causes"]["training"]["symptom_of"] == "change"
    assert doc["causes"]["change"]["episode"] == ep.story


def test_terminal_and_report_tell_the_episode(released: CheckResult) -> None:
    [v] = released.verdicts
    [ep] = v.episodes
    console = Console(record=True, width=240)
    print_check(console, released)
    text = console.export_text()
    assert ep.story in text and "explains" in text
    html = unescape(render_report(released))
    assert ep.story in html and "symptom of Change" in html
    # the symptoms get no second action in the report: every other cause not ok has one
    assert html.count("Recommended action:") == sum(
        1 for f in v.findings if f.status is not Status.OK and not f.symptom_of)


def test_the_web_pages_tell_the_episode(app: RunningApp) -> None:
    """The stored run through the real app (SQLite and PostgreSQL): the portfolio row and the
    service page carry the story; the symptom says whose symptom it is and has no action."""
    with signed_in(app, "leader") as http:
        portfolio = unescape(http.get("/").text)
        page = unescape(http.get("/services/crm").text)
        api = http.get("/api/services/crm").json()
    story = api["episodes"][0]["story"]
    assert story.startswith(f"since release CHG1 on {RELEASE}")
    assert story in portfolio and story in page
    assert "symptom of change" in page
    training = page[page.index('id="cause-training"'):]
    training = training[:training.index("</details>")]
    assert "Recommended action" not in training


def test_without_a_change_record_the_earliest_driver_is_the_root(tmp_path: Path) -> None:
    result = check(tmp_path, bad_release(PackageBuilder(tmp_path / "pkg"), recorded=False))
    [v] = result.verdicts
    [ep] = v.episodes
    roots = [f for f in v.findings if f.status is Status.LEAK]
    assert [f.cause for f in roots] == [ep.root] and ep.change is None and ep.symptoms
    dated = [f for f in v.findings if f.cause in (ep.root, *ep.symptoms)]
    assert ep.since == min(f.since for f in dated if f.since)
    assert all(v.finding(s).symptom_of == ep.root for s in ep.symptoms)


def test_a_leak_without_a_start_stands_alone(tmp_path: Path) -> None:
    """A value stream slower than on its earlier map has no weekly series, so no date to tie it
    to the release."""
    b = bad_release(PackageBuilder(tmp_path / "pkg")).set("value_streams", [{
        "id": "onboard", "name": "Onboarding", "runs_per_month": 10, "steps": [
            {"name": "Request", "process_minutes": 10, "wait_minutes": 5000,
             "complete_accurate": 0.9, "services": ["crm"],
             "baseline": {"process_minutes": 10, "wait_minutes": 500}}]}])
    [v] = check(tmp_path, b).verdicts
    assert v.finding("flow").status is Status.LEAK and v.finding("flow").symptom_of is None
    assert sorted(e.root for e in v.episodes) == ["change", "flow"]
    assert next(e for e in v.episodes if e.root == "flow").since is None


# -- the rule, case by case --------------------------------------------------------------------

def shifted(cause: str, since: date | None, money: float = 100.0, score: float = 70.0,
            status: Status = Status.LEAK, shift: float = 0.5) -> Finding:
    """A finding as the check hands it over: leaking, dated by the shift in its evidence."""
    series = CAUSE_SERIES.get(cause, (cause,))[0]    # the series its leak shows in
    ev = (Evidence(f"shift:crm/{series}", f"Shift in {cause} level", shift, "week", status, 0.0,
                   "", None, 2.0),) if since else ()
    return Finding("crm", cause, status, score, f"{cause} leaks", ev,
                   LeakEstimate(money, money / 50, f"{cause} formula"), f"fix {cause}", since)


def watching(cause: str, about: str = "CHG9", measured: bool = True) -> Finding:
    """The change indicator at watch over one change: a failed one, with (``measured``) an
    incident ratio past its watch line, p 0.01 but not sure (q 0.2)."""
    ev = (Evidence(f"failed:{about}", f"Failed release {about}", "failed", "day", Status.WATCH,
                   30.0, "", None, None),) + ((
        Evidence(f"incident_ratio:{about}", "Incidents", 1.4, "day", Status.WATCH, 30.0, "",
                 None, 1.0, p=0.01, q=0.2),) if measured else ())
    return Finding("crm", cause, Status.WATCH, 40.0, f"{cause} watch", ev, action=f"fix {cause}")


def shift_noted(cause: str, about: str = "CHG9") -> Finding:
    """The change indicator at watch only because a shift followed the change."""
    ev = (Evidence("shift:crm/incidents_per_user", "Shift in incidents per user", 0.5,
                   "week", Status.WATCH, 0.0, "", None, 1.0, note=f"5 days after {about}"),)
    return Finding("crm", cause, Status.WATCH, 30.0, f"{cause} watch", ev, action=f"fix {cause}")


def change_leak(day: date | None = None, about: str = "CHG9",
                signs: tuple[str, ...] = ("incident_ratio", "question_ratio"),
                moved: tuple[str, ...] = ()) -> Finding:
    """The change indicator's own leak, dated by the change (two sure signs of it), and signs
    at watch that are not noise (``moved``: p 0.003, q 0.08)."""
    ev = tuple(Evidence(f"{m}:{about}", m, 2.0, "day", Status.LEAK, 60.0, "", None, 1.0,
                        p=0.001, q=0.002) for m in signs) + tuple(
        Evidence(f"{m}:{about}", m, 1.0, "day", Status.WATCH, 40.0, "", None, 1.0, p=0.003,
                 q=0.08) for m in moved)
    return Finding("crm", "change", Status.LEAK, 60.0, "change leaks", ev,
                   LeakEstimate(100.0, 2.0, "change formula"), "fix change", day or D)


def leaking_on(cause: str, since: date, *metrics: str) -> Finding:
    """A leak dated by a shift, leaking on the named measures as well."""
    f = shifted(cause, since)
    more = tuple(Evidence(m, m, 2.0, "13 weeks", Status.LEAK, 60.0, "", None, 1.0, p=0.001,
                          q=0.002) for m in metrics)
    return Finding(f.service, f.cause, f.status, f.score, f.summary, (*f.evidence, *more),
                   f.leak, f.action, f.since)


def doubted(about: str = "CHG9") -> Finding:
    """The change indicator at watch over one change: a lone satisfaction drop, not noise
    (p 0.009) but held at watch (one sign only)."""
    ev = (Evidence(f"satisfaction_drop:{about}", "Satisfaction drop", 1.0, "day", Status.WATCH,
                   HELD, "", None, 1.0, p=0.009, q=0.2),)
    return Finding("crm", "change", Status.WATCH, 40.0, "change watch", ev, action="fix change")


def undated(cause: str, metric: str) -> Finding:
    """A leak no shift dates, on one measure."""
    ev = (Evidence(metric, metric, 2.0, "13 weeks", Status.LEAK, 60.0, "", None, 1.0, p=0.001,
                   q=0.01),)
    return Finding("crm", cause, Status.LEAK, 60.0, f"{cause} leaks", ev,
                   LeakEstimate(50.0, 1.0, f"{cause} formula"), f"fix {cause}")


def ok(cause: str) -> Finding:
    return Finding("crm", cause, Status.OK, 0.0, "fine")


D = date(2026, 6, 1)
CHG = ChangeRecord("CHG9", D, "release")


def roots(found: tuple[Finding, ...]) -> dict[str, str | None]:
    return {f.cause: f.symptom_of for f in found if f.status is Status.LEAK or f.symptom_of}


@pytest.mark.parametrize(("case", "findings", "changes", "expected"), [
    ("two leaks months apart are two episodes",
     [shifted("training", D), shifted("retirement", D + timedelta(days=120)), ok("change")], [],
     {"training": None, "retirement": None}),
    ("shifts a week apart are one event, the earliest the root",
     [shifted("training", D + timedelta(days=7)), shifted("employee_experience", D),
      ok("change")], [],
     {"employee_experience": None, "training": "employee_experience"}),
    ("a change at watch with symptoms after it is the root",
     [shifted("training", D + timedelta(days=7)), shifted("retirement", D + timedelta(days=14)),
      watching("change")], [CHG],
     {"change": None, "training": "change", "retirement": "change"}),
    ("two leaks after a change the indicator saw nothing of still blame it",
     [shifted("training", D + timedelta(days=7)), shifted("retirement", D + timedelta(days=14)),
      ok("change")], [CHG],
     {"change": None, "training": "change", "retirement": "change"}),
    ("one leak after a routine change is not blamed on it",
     [shifted("training", D + timedelta(days=7)), ok("change")], [CHG], {"training": None}),
    ("nor when the change indicator's doubt is about another change",
     [shifted("training", D + timedelta(days=7)), watching("change", about="CHG8")], [CHG],
     {"training": None}),
    ("one leak after a change the indicator doubts is the change's",
     [shifted("training", D + timedelta(days=7)), watching("change")], [CHG],
     {"change": None, "training": "change"}),
    ("but not after a failed change that moved nothing measured",
     [shifted("training", D + timedelta(days=7)), watching("change", measured=False)], [CHG],
     {"training": None}),
    ("a change long before the shift explains nothing",
     [shifted("training", D + timedelta(days=90)), shifted("retirement", D + timedelta(days=91)),
      watching("change", measured=False)], [CHG],
     {"training": None, "retirement": "training"}),
    ("an undated leak stands alone",
     [shifted("training", D), shifted("flow", None), shifted("retirement", D), ok("change")],
     [], {"training": None, "retirement": "training", "flow": None}),
    ("a leak without a shift behind its date stands alone",
     [shifted("training", D), Finding("crm", "retirement", Status.LEAK, 60.0, "end of life",
                                     since=D)], [], {"training": None, "retirement": None}),
    # issue 13, session 5
    ("a shift soon after a routine change is no finding about it",
     [shifted("training", D + timedelta(days=7)), shift_noted("change")], [CHG],
     {"training": None}),
    ("a confirmed change leak claims a symptom dated up to four weeks before it",
     [shifted("training", D - timedelta(days=23)), change_leak()], [CHG],
     {"change": None, "training": "change"}),
    ("but not one dated long before it",
     [shifted("retirement", D - timedelta(days=60)), change_leak()], [CHG],
     {"change": None, "retirement": None}),
    # session 6: which signals each leak moves
    ("unless it moves only what the change was seen to move: the change's own before/after "
     "comparison dates it, whatever a sparse weekly series says",
     [shifted("training", D - timedelta(days=60)), change_leak()], [CHG],
     {"change": None, "training": "change"}),
    ("or what its signs at watch say moved at the change, not surely but not by chance",
     [shifted("employee_experience", D - timedelta(days=36)),
      change_leak(signs=("usage_change", "incident_ratio"), moved=("satisfaction_drop",))],
     [CHG], {"change": None, "employee_experience": "change"}),
    ("a confirmed change leak claims a later leak on a signal a change moves",
     [shifted("employee_experience", D + timedelta(days=70)), change_leak()], [CHG],
     {"change": None, "employee_experience": "change"}),
    ("but not a later one on a signal no change moves",
     [leaking_on("employee_experience", D + timedelta(days=70), "reopen_share"),
      change_leak()], [CHG], {"change": None, "employee_experience": None}),
    ("a change leak inside an experience leak already under way is its symptom",
     [leaking_on("employee_experience", D - timedelta(days=10), "reopen_share",
                 "resolution_growth"), change_leak(signs=("satisfaction_drop",))], [CHG],
     {"employee_experience": None, "change": "employee_experience"}),
    # session 7
    ("or one begun after the change, which it explains whole: the change was seen to move "
     "only satisfaction, the experience leak moves it and what no change moves",
     [leaking_on("employee_experience", D + timedelta(days=11), "reopen_share",
                 "resolution_growth"), change_leak(signs=("satisfaction_drop",))], [CHG],
     {"employee_experience": None, "change": "employee_experience"}),
    ("but not one begun long after it",
     [leaking_on("employee_experience", D + timedelta(days=70), "reopen_share",
                 "resolution_growth"), change_leak(signs=("satisfaction_drop",))], [CHG],
     {"change": None, "employee_experience": None}),
    ("signs that agree leak on the signals of each: a change claims lost time and "
     "satisfaction together, not slower resolution",
     [replace(undated("employee_experience", "signs_agreeing:lost_time_growth+satisfaction"),
              since=D + timedelta(days=70)), change_leak()], [CHG],
     {"change": None, "employee_experience": "change"}),
    ("and not resolution and reopens",
     [replace(undated("employee_experience", "signs_agreeing:resolution_growth+reopen_share"),
              since=D + timedelta(days=70)), change_leak()], [CHG],
     {"change": None, "employee_experience": None}),
    ("and a use drop after a decline long under way",
     [shifted("retirement", D - timedelta(days=40)), change_leak(signs=("usage_change",))],
     [CHG], {"retirement": None, "change": "retirement"}),
    ("or one begun three weeks before: a change cannot cause what was under way",
     [shifted("retirement", D - timedelta(days=20)), change_leak(signs=("usage_change",))],
     [CHG], {"retirement": None, "change": "retirement"}),
    ("but a weekly shift dated up to two weeks early may be the change's",
     [shifted("retirement", D - timedelta(days=10)), change_leak(signs=("usage_change",))],
     [CHG], {"change": None, "retirement": "change"}),
    ("but a change moving more than the earlier leak shows is the root of both",
     [shifted("retirement", D - timedelta(days=40)),
      change_leak(signs=("usage_change", "incident_ratio"))], [CHG],
     {"change": None, "retirement": "change"}),
    ("several of a bad change's signs at once, after a change the indicator doubts, are its",
     [undated("training", "questions_growth"), undated("employee_experience", "satisfaction"),
      doubted()], [CHG],
     {"change": None, "training": "change", "employee_experience": "change"}),
    ("but one alone is not",
     [undated("training", "questions_growth"), doubted()], [CHG], {"training": None}),
    ("a KPI drift after a change the indicator doubts is not blamed on it",
     [shifted("alignment", D + timedelta(days=7)), watching("change")], [CHG],
     {"alignment": None}),
    ("an undated perception leak on a service a change leaks on is the change's symptom",
     [shifted("perception", None), change_leak()], [CHG],
     {"change": None, "perception": "change"}),
    ("an undated flow leak is not: a bad release does not slow a value stream",
     [shifted("flow", None), change_leak()], [CHG], {"change": None, "flow": None}),
])
def test_the_rule(case: str, findings: list[Finding], changes: list[ChangeRecord],
                  expected: dict[str, str | None]) -> None:
    found, episodes = group(findings, changes)
    assert roots(found) == expected, case
    assert sorted(e.root for e in episodes) == sorted(c for c, r in expected.items() if r is None)
    for f in found:
        if f.symptom_of:
            assert f.status is Status.WATCH and f.leak.money == 0 and not f.action


def test_a_root_is_priced_once_at_its_largest_member() -> None:
    found, [ep] = group([shifted("change", D, money=300.0, score=80.0),
                         shifted("training", D + timedelta(days=3), money=900.0)], [CHG])
    change = next(f for f in found if f.cause == "change")
    assert change.leak.money == 900.0 and "training" in change.leak.formula
    assert sum(f.leak.money for f in found) == 900.0
    assert ep.change == "CHG9" and ep.since == D


def test_change_roots_one_episode_only() -> None:
    """Two bursts after two changes: ``change`` roots the first; the later burst, with the
    cause already taken, gets its earliest driver as root."""
    late = ChangeRecord("CHG10", D + timedelta(days=150), "release")
    found, episodes = group(
        [watching("change", measured=False), shifted("training", D + timedelta(days=3)),
         shifted("customer_experience", D + timedelta(days=5)),
         shifted("retirement", D + timedelta(days=150)),
         shifted("employee_experience", D + timedelta(days=160))], [CHG, late])
    assert [(e.root, e.change, e.symptoms) for e in episodes] == [
        ("change", "CHG9", ("training", "customer_experience")),
        ("retirement", None, ("employee_experience",))]
    assert roots(found)["employee_experience"] == "retirement"


def test_the_story_says_what_moved() -> None:
    _, [ep] = group([shifted("training", D, shift=2.0),
                     shifted("employee_experience", D, shift=-0.25)], [], Rule())
    assert ep.story == (f"training since {D}: training level ×3.0, "
                        "employee_experience level −25 %")


def _noticed_pairwise(f: Finding, changes: list[ChangeRecord]) -> ChangeRecord | None:
    """``episodes._noticed`` as it was: every (change, evidence) pair in turn."""
    from dipstick.episodes import MOVED

    best: tuple[float, ChangeRecord] | None = None
    for c in changes:
        for e in f.evidence:
            if (e.metric.split(":")[0] in MOVED and e.metric.endswith(f":{c.id}")
                    and e.status in (Status.WATCH, Status.LEAK) and e.p is not None
                    and e.p <= 0.05 and (best is None or e.p < best[0])):
                best = (e.p, c)
    return best[1] if best else None


@pytest.mark.parametrize("seed", range(40))
def test_the_noticed_change_is_the_pairwise_one(seed: int) -> None:
    """The change a change finding saw move something: signs filtered first, then matched to
    changes, gives what the pairwise loop gave — ties on p (the first change wins), ids that
    end alike ("1" and "CHG:1"), p at 0.05, statuses and metrics that are no sign."""
    import random

    from dipstick.episodes import _noticed

    rng = random.Random(seed)
    ids = ["1", "CHG:1", "C2", "C3", "X:C2"]
    changes = [ChangeRecord(i, date(2026, 1, 1) + timedelta(days=k))
               for k, i in enumerate(rng.sample(ids, rng.randint(0, len(ids))))]
    metrics = ["incident_ratio", "question_ratio", "satisfaction_drop", "usage_change",
               "failed", "shift", "changes"]
    evidence = [Evidence(f"{rng.choice(metrics)}:{rng.choice(ids)}", "x", 1.0, "p",
                         rng.choice(list(Status)),
                         p=rng.choice([None, 0.01, 0.01, 0.03, 0.05, 0.2]))
                for _ in range(rng.randint(0, 12))]
    f = Finding("svc", "change", Status.WATCH, 30.0, "s", tuple(evidence),
                LeakEstimate.none(), "a")
    assert _noticed(f, changes) == _noticed_pairwise(f, changes)
