"""The day-one self-assessment: the questionnaire as data, the scoring rule, the package's file
(validated with file, row, field and value), and the check, JSON, terminal and report of an
organisation with no signal tables but answers — and measured data replacing them."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from dipstick.check import run_check
from dipstick.findings import MEASURED, SELF_ASSESSED, Status
from dipstick.indicators.registry import CAUSES
from dipstick.package import load_package
from dipstick.report import render_report
from dipstick.selfassess import QUESTIONNAIRE, SCALE, Answer, assess, grade, latest

from builder import AS_OF, PackageBuilder
from clirun import dipstick

DOCS = Path(__file__).resolve().parent.parent / "docs"

CSV_HEAD = "service,cause,question,answer,answered_by,date\n"
# crm: training answered low (leak), perception high (ok); hr: nothing
ANSWERS = CSV_HEAD + (
    "crm,training,trained,2,crm@example.org,2026-10-01\n"
    "crm,training,how_to,2,crm@example.org,2026-10-01\n"
    "crm,training,adoption,3,crm@example.org,2026-10-01\n"
    "crm,perception,value_seen,4,crm@example.org,2026-10-01\n"
    "crm,perception,opinion_trend,5,crm@example.org,2026-10-01\n"
)


def day_one(tmp_path: Path, answers: str = ANSWERS, name: str = "self_assessment.csv") -> Path:
    """Two services, no signal table at all, and the owners' answers."""
    b = PackageBuilder(tmp_path / "pkg").service("crm").service("hr", owner="hr@example.org")
    del b.model["organisation"]["as_of"]     # the as-of date follows the newest answer
    root = b.write()
    (root / name).write_text(answers, encoding="utf-8")
    return root


# -- the questionnaire and the rule ---------------------------------------------------------

def test_every_cause_has_at_most_three_questions_with_five_meanings_each() -> None:
    assert set(QUESTIONNAIRE) == set(CAUSES)
    for cause, questions in QUESTIONNAIRE.items():
        assert 1 <= len(questions) <= 3, cause
        assert len({q.id for q in questions}) == len(questions), cause
        for q in questions:
            assert len(q.answers) == len(SCALE) and all(a.strip() for a in q.answers), q.id
            assert len(set(q.answers)) == len(SCALE), f"{cause}.{q.id}: two answers alike"


def test_every_question_is_documented() -> None:
    doc = (DOCS / "self-assessment.md").read_text(encoding="utf-8")
    for cause, questions in QUESTIONNAIRE.items():
        for q in questions:
            assert f"`{q.id}`" in doc and q.text in doc, f"{cause}.{q.id} not in the docs"


@pytest.mark.parametrize(("mean", "status", "score"), [
    (5.0, Status.OK, 0.0), (4.0, Status.OK, 0.0), (3.9, Status.WATCH, 27.5),
    (3.0, Status.WATCH, 50.0), (2.9, Status.LEAK, 52.5), (1.0, Status.LEAK, 100.0),
])
def test_the_scoring_rule(mean: float, status: Status, score: float) -> None:
    assert grade(mean) == (status, score)


def test_a_finding_from_answers_lists_each_question_with_its_meaning() -> None:
    given = {a.question: a for a in (Answer("crm", "flow", "waiting", 1, "ann", AS_OF),
                                     Answer("crm", "flow", "rework", 4, "ann", AS_OF))}
    f = assess("crm", "flow", given, "Map the stream")
    assert f is not None and f.basis == SELF_ASSESSED and f.self_assessed
    assert (f.status, f.score) == (Status.LEAK, 62.5)     # mean 2.5
    assert f.leak.money == 0 and "no money estimate" in f.leak.formula
    by_metric = {e.metric: e for e in f.evidence}
    assert by_metric["self:waiting"].value == 1
    assert QUESTIONNAIRE["flow"][0].answers[0] in by_metric["self:waiting"].note
    assert by_metric["self:mapped"].status is Status.UNKNOWN       # not answered
    assert assess("crm", "flow", {}, "") is None


def test_the_newest_answer_counts_and_none_after_the_as_of_date() -> None:
    old = Answer("crm", "flow", "waiting", 1, date=date(2026, 1, 1))
    new = Answer("crm", "flow", "waiting", 5, date=date(2026, 6, 1))
    later = Answer("crm", "flow", "waiting", 3, date=date(2027, 1, 1))
    assert latest([new, old, later], AS_OF)[("crm", "flow")]["waiting"] is new
    assert latest([old], date(2025, 1, 1)) == {}


# -- the file --------------------------------------------------------------------------------

BAD = CSV_HEAD + (
    "crm,training,trained,2,,\n"            # row 1: fine
    "nope,training,trained,2,,\n"           # row 2: unknown service
    "crm,luck,trained,2,,\n"                # row 3: unknown cause
    "crm,training,mood,2,,\n"               # row 4: no such question
    "crm,training,how_to,7,,\n"             # row 5: answer out of range
    "crm,training,adoption,3,,last week\n"  # row 6: bad date
    "crm,training,trained,4,,\n"            # row 7: row 1 again, same (no) date
)


def test_every_problem_in_the_file_names_file_row_field_and_value(tmp_path: Path) -> None:
    root = day_one(tmp_path, BAD)
    ran = dipstick("validate", root, "--format", "json")
    assert ran.returncode == 2, ran.stdout
    found = {(p["file"], p["row"], p["field"], p["value"])
             for p in json.loads(ran.stdout)["problems"]}
    assert found == {
        ("self_assessment.csv", 2, "service", "nope"),
        ("self_assessment.csv", 3, "cause", "luck"),
        ("self_assessment.csv", 4, "question", "mood"),
        ("self_assessment.csv", 5, "answer", "7"),
        ("self_assessment.csv", 6, "date", "last week"),
        ("self_assessment.csv", 7, "question", "trained"),
    }
    assert dipstick("check", root, "--no-store").returncode == 2


def test_a_missing_column_and_a_yaml_file_are_checked_alike(tmp_path: Path) -> None:
    root = day_one(tmp_path, "service,cause,answer\ncrm,training,2\n")
    ran = dipstick("validate", root, "--format", "json")
    assert ran.returncode == 2
    assert [(p["file"], p["field"]) for p in json.loads(ran.stdout)["problems"]] == [
        ("self_assessment.csv", "question")]
    yaml_root = day_one(tmp_path / "y", "- service: crm\n  cause: flow\n"
                        "  answers: {waiting: 0, rework: 2}\n", "self_assessment.yaml")
    ran = dipstick("validate", yaml_root, "--format", "json")
    assert ran.returncode == 2
    assert [(p["file"], p["row"], p["field"], p["value"])
            for p in json.loads(ran.stdout)["problems"]] == [
        ("self_assessment.yaml", 1, "answer", "0")]


def test_a_yaml_file_gives_the_same_answers(tmp_path: Path) -> None:
    root = day_one(tmp_path, "- service: crm\n  cause: training\n  answered_by: crm@example.org\n"
                   "  date: 2026-10-01\n  answers: {trained: 2, how_to: 2, adoption: 3}\n",
                   "self_assessment.yaml")
    package = load_package(root)
    try:
        result = run_check(package)
    finally:
        package.close()
    f = next(v for v in result.verdicts if v.service.id == "crm").finding("training")
    assert (f.status, f.basis, f.score) == (Status.LEAK, SELF_ASSESSED, 66.7)


# -- the check, its JSON, the terminal and the report ---------------------------------------

def test_no_data_but_answers_gives_self_assessed_lights_everywhere(tmp_path: Path) -> None:
    root = day_one(tmp_path)
    ran = dipstick("check", root, "--no-store", "--format", "json")
    assert ran.returncode == 1, ran.stderr      # a self-assessed leak is a leak light
    doc = json.loads(ran.stdout)
    crm = next(s for s in doc["services"] if s["id"] == "crm")
    hr = next(s for s in doc["services"] if s["id"] == "hr")
    training, perception = crm["causes"]["training"], crm["causes"]["perception"]
    assert (training["status"], training["basis"]) == ("leak", "self-assessed")
    assert training["leak_per_month"]["money"] == 0
    assert [e["metric"] for e in training["evidence"][:3]] == [
        "self:trained", "self:how_to", "self:adoption"]
    assert (perception["status"], perception["basis"]) == ("ok", "self-assessed")
    assert crm["status"] == "leak"
    # what no answer covers stays as measured: unknown where no data, judged where data is
    assert (crm["causes"]["change"]["status"], crm["causes"]["change"]["basis"]) == (
        "unknown", "measured")
    assert {c["basis"] for c in hr["causes"].values()} == {"measured"}

    table = dipstick("check", root, "--no-store")
    assert "S self-assessed" in table.stdout

    package = load_package(root)
    try:
        page = render_report(run_check(package))
    finally:
        package.close()
    assert 'id="legend-self-assessed"' in page
    assert page.count('<b class="self-mark" title="self-assessed') == 2   # crm's two causes
    assert "(self-assessed)" in page                                      # the heatmap's hover


def test_measured_evidence_replaces_a_self_assessed_light(tmp_path: Path) -> None:
    """Once tickets arrive, employee experience is judged on them; the answers stay unused."""
    answers = CSV_HEAD + "".join(f"crm,employee_experience,{q.id},1,,\n"
                                 for q in QUESTIONNAIRE["employee_experience"])
    b = PackageBuilder(tmp_path / "pkg").service("crm").tickets("crm")
    root = b.write()
    (root / "self_assessment.csv").write_text(answers, encoding="utf-8")
    package = load_package(root)
    try:
        f = run_check(package, causes=["employee_experience"]).verdicts[0].findings[0]
    finally:
        package.close()
    assert f.basis == MEASURED and f.status is not Status.UNKNOWN
    assert not any(e.metric.startswith("self:") for e in f.evidence)


def test_the_cli_check_counts_answers_given_on_the_web(tmp_path: Path) -> None:
    """`dipstick check` merges the app database's answers with the file's, as the web does."""
    from datetime import UTC, datetime

    from dipstick.store import Store
    from dipstick.store.selfassess import save_answers

    root = day_one(tmp_path)
    database = f"sqlite:///{tmp_path / 'app.db'}"
    with Store.open(database) as store:
        store.migrate()
        save_answers(store, "Test Org", "hr", "change", {"last_change": 1, "communicated": 2},
                     "hr@example.org", datetime(2026, 10, 15, tzinfo=UTC))
    ran = dipstick("check", root, "--database", database, "--format", "json")
    assert ran.returncode == 1, ran.stderr
    doc = json.loads(ran.stdout)
    assert doc["as_of"] == "2026-10-15"         # the newest answer dates the check
    change = next(s for s in doc["services"] if s["id"] == "hr")["causes"]["change"]
    assert (change["status"], change["basis"], change["score"]) == ("leak", "self-assessed", 87.5)
    assert "hr@example.org" in change["summary"]
