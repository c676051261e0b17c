"""The pulse core as tables of cases: answer validation, nonces, results and the anonymity
threshold, the overdue rule and its alert episodes, invitee lists, the surveys feed, and one
answer per link under a race (real SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dipstick.alerts.events import LatestEvent
from dipstick.errors import PackageError, UsageError
from dipstick.model import ValueModel
from dipstick.package import load_package
from dipstick.pulse import campaigns as repo
from dipstick.pulse.feed import answers_as_surveys, feed_stored_answers
from dipstick.pulse.form import Answer, AnswerError, parse_answer, questions_for
from dipstick.pulse.invitees import parse_invitees
from dipstick.pulse.overdue import Pair, checkins, overdue, overdue_events
from dipstick.pulse.results import MIN_GROUP, campaign_results, export_csv
from dipstick.pulse.tokens import digest, make_nonce, new_token, nonce_ok
from dipstick.store import Store

from builder import PackageBuilder
from db import postgres_schema
from shared import session_day

pytestmark = pytest.mark.clock      # campaigns open, close and are dated by today's date
TODAY = session_day()
MODEL = ValueModel.model_validate({
    "organisation": {"name": "Acme"},
    "stakeholder_groups": [
        {"id": "sales", "name": "Sales", "kind": "internal", "value_dimensions": [
            {"id": "time", "name": "Time saved", "weight": 2},
            {"id": "rel", "name": "Reliability", "weight": 1}]},
        {"id": "buyers", "name": "Buyers", "kind": "customer", "value_dimensions": [
            {"id": "ease", "name": "Ease"}]},
        {"id": "mute", "name": "No dimensions", "kind": "partner"}],
    "services": [
        {"id": "crm", "name": "CRM", "owner": "a@acme.example", "consumers": ["sales", "buyers"]},
        {"id": "old", "name": "Old", "lifecycle": "retired", "consumers": ["sales"]},
        {"id": "fax", "name": "Fax", "consumers": ["sales"]}],
})


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        with Store.open(f"sqlite:///{tmp_path / 'app.db'}") as s:
            s.migrate()
            yield s
    else:
        with postgres_schema() as url, Store.open(url) as s:
            s.migrate()
            yield s


Q = questions_for(MODEL, "crm", None)[1]


@pytest.mark.parametrize(("form", "problems"), [
    ({"dim:time": "10", "dim:rel": "0"}, []),
    ({"dim:time": " 7 ", "dim:rel": "3", "recommend": "", "comment": "  "}, []),
    ({"dim:time": "11", "dim:rel": "3"}, ["dim:time"]),
    ({"dim:time": "-1", "dim:rel": "3"}, ["dim:time"]),
    ({"dim:time": "7.5", "dim:rel": "3"}, ["dim:time"]),
    ({"dim:rel": "3"}, ["dim:time"]),
    ({}, ["dim:time", "dim:rel"]),
    ({"dim:time": "1", "dim:rel": "1", "recommend": "eleven"}, ["recommend"]),
    ({"dim:time": "1", "dim:rel": "1", "comment": "x" * 2001}, ["comment"]),
])
def test_answer_validation(form: dict[str, str], problems: list[str]) -> None:
    if not problems:
        a = parse_answer(Q, "sales", form)
        assert set(a.scores) == {"time", "rel"} and a.comment is None and a.recommend is None
        return
    with pytest.raises(AnswerError) as e:
        parse_answer(Q, "sales", form)
    assert [f for f, _ in e.value.problems] == problems


def test_a_comment_of_exactly_2000_characters_is_kept() -> None:
    a = parse_answer(Q, "sales", {"dim:time": "1", "dim:rel": "2", "comment": "é" * 2000,
                                  "recommend": "9"})
    assert a.comment == "é" * 2000 and a.recommend == 9


@pytest.mark.parametrize(("service", "groups", "message"), [
    ("nope", None, "unknown service"), ("crm", ["martians"], "unknown stakeholder group"),
    ("crm", ["mute"], "no value dimensions"),
])
def test_questions_refuse_unknown_ids(service: str, groups: list[str] | None,
                                      message: str) -> None:
    with pytest.raises(UsageError, match=message):
        questions_for(MODEL, service, groups)


def test_tokens_and_nonces() -> None:
    t = new_token()
    assert len(t) >= 43 and t != new_token() and len(digest(t)) == 64
    key = b"k" * 32
    n = make_nonce(key, digest(t), now=1000)
    assert nonce_ok(key, n, digest(t), now=1000 + 60)
    assert not nonce_ok(key, n, digest(t), now=1000 + 3 * 3600)        # expired
    assert not nonce_ok(key, n, digest(new_token()), now=1001)          # another link
    assert not nonce_ok(b"x" * 32, n, digest(t), now=1001)              # another server
    assert not nonce_ok(key, n, digest(t), "a browser", now=1001)       # bound parts differ
    assert not nonce_ok(key, None, digest(t)) and not nonce_ok(key, "garbage", digest(t))


def _campaign(groups: tuple[str, ...] = ("sales",)) -> repo.Campaign:
    return repo.Campaign(1, "Acme", "crm", "CRM", groups, Q, "pulse", None,
                         datetime.now(UTC), "t", None, None, None)


def _rows(n: int, score: float = 8, recommend: int | None = 9, group: str = "sales"
          ) -> list[repo.AnswerRow]:
    return [repo.AnswerRow(1, group, TODAY, {"time": score, "rel": score / 2}, recommend,
                           f"c{i}") for i in range(n)]


def test_results_hide_groups_under_five_and_compute_scores() -> None:
    small = campaign_results(_campaign(), _rows(MIN_GROUP - 1), {}, comments=True, today=TODAY)
    g = small["groups"][0]
    assert not g["shown"] and "comments" not in g and "score" not in g and g["answers"] == 4
    rows = _rows(3, 10, 10) + _rows(1, 10, 7) + _rows(2, 4, 0) + _rows(1, 4, None)
    doc = campaign_results(_campaign(), rows, {"sales": (10, 7)}, comments=True, today=TODAY)
    g = doc["groups"][0]
    assert g["shown"] and doc["response_rate"] == 0.7 and g["response_rate"] == 0.7
    means = {d["id"]: d["mean"] for d in g["dimensions"]}
    assert means == {"time": round((4 * 10 + 3 * 4) / 7, 2), "rel": round((4 * 5 + 3 * 2) / 7, 2)}
    assert g["score"] == round((2 * means["time"] + means["rel"]) / 3, 2)
    # recommend 10, 10, 10, 7, 0, 0 (one skipped): 3 promoters − 2 detractors of 6
    assert g["recommend_answers"] == 6 and g["promoters_minus_detractors"] == round(100 / 6, 1)
    assert len(g["comments"]) == 7
    hidden = campaign_results(_campaign(), rows, {}, comments=False, today=TODAY)
    assert "comments" not in hidden["groups"][0] and hidden["response_rate"] is None


def test_export_leaves_small_groups_out_and_defuses_formulas() -> None:
    rows = _rows(5) + _rows(2, group="buyers")
    rows[0] = repo.AnswerRow(1, "sales", TODAY, {"time": 3, "rel": 4}, None, "=HYPERLINK(1)")
    text = export_csv(_campaign(("sales", "buyers")), rows)
    lines = text.splitlines()
    assert lines[0] == "date,service,group,dimension,score,comment,recommend"
    assert len(lines) == 1 + 5 * 2 and "buyers" not in text
    assert "'=HYPERLINK(1)" in text
    assert "c1" not in export_csv(_campaign(), _rows(5), comments=False)


def test_the_overdue_rule() -> None:
    surveyed = {("crm", "sales"): TODAY - timedelta(days=91),
                ("crm", "buyers"): TODAY - timedelta(days=90)}
    started = {("fax", "sales"): TODAY - timedelta(days=5)}
    pairs = checkins(MODEL, surveyed, started, TODAY)
    assert {(p.service_id, p.group) for p in pairs} == {("crm", "sales"), ("crm", "buyers"),
                                                         ("fax", "sales")}   # not the retired
    late = overdue(pairs, 90)
    assert [(p.service_id, p.group, p.days) for p in late] == [("crm", "sales", 91)]
    # a check-in started counts as asking, the later of the two dates wins
    later = checkins(MODEL, surveyed, started | {("crm", "sales"): TODAY}, TODAY)
    assert overdue(later, 90) == []
    never = overdue(checkins(MODEL, {}, {}, TODAY), 90)
    assert never[0].last_asked is None and len(never) == 3


def test_overdue_alerts_once_per_episode() -> None:
    p = Pair("crm", "CRM", "a@acme.example", "sales", "Sales", TODAY - timedelta(days=100), 100)
    first = overdue_events("Acme", [p], {}, 90, TODAY)
    assert [(e.cause, e.episode, e.kind) for e in first] == [("checkin:sales", 1, "overdue")]
    logged = {("crm", "checkin:sales"): LatestEvent("overdue", 1, first[0].details)}
    assert overdue_events("Acme", [p], logged, 90, TODAY) == []          # already announced
    asked_again = Pair("crm", "CRM", None, "sales", "Sales", TODAY - timedelta(days=95), 95)
    again = overdue_events("Acme", [asked_again], logged, 90, TODAY)
    assert [(e.episode, e.details["last_asked"]) for e in again] == [
        (2, (TODAY - timedelta(days=95)).isoformat())]


@pytest.mark.parametrize(("text", "problems"), [
    ("email,group\na@x.org,sales\n", []),
    ("\ufeffEmail,Group\na@x.org,sales\n", []),
    ("mail,group\na@x.org,sales\n", [(None, "email")]),
    ("email,group\nnot-mail,sales\n", [(1, "email")]),
    ("email,group\na@x.org,sales\nA@x.org,sales\n", [(2, "email")]),
    ("email,group\na@x.org,nope\n", [(1, "group")]),
    ("email,group\n", [(None, None)]),
])
def test_invitee_lists(text: str, problems: list[tuple[Any, Any]]) -> None:
    if not problems:
        assert parse_invitees(text, ("sales",), "p.csv") == [("a@x.org", "sales")]
        return
    with pytest.raises(PackageError) as e:
        parse_invitees(text, ("sales",), "p.csv")
    assert [(p.row, p.field) for p in e.value.problems] == problems
    assert all(p.file == "p.csv" for p in e.value.problems)


def test_one_answer_per_link_under_a_race(store: Store) -> None:
    c = repo.start_campaign(store, MODEL, "crm", ["sales"], created_by="t")
    link = repo.add_invitations(store, c, [(None, "sales")])[0]
    target = repo.lookup(store, link.token, TODAY)
    assert target is not None
    outcomes: list[str] = []
    go = threading.Barrier(8)

    def submit() -> None:
        go.wait()
        outcomes.append(repo.submit(store, target, Answer("sales", {"time": 5, "rel": 5}, None,
                                                          None), TODAY))

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["stored"] + ["used"] * 7
    assert len(repo.answers(store, [c.id])) == 1
    assert repo.invitation_counts(store, c.id) == {"sales": (1, 1)}


def test_closed_check_ins_open_no_link(store: Store) -> None:
    c = repo.start_campaign(store, MODEL, "crm", created_by="t", closes_on=TODAY)
    link = repo.add_invitations(store, c, [(None, "buyers")])[0]
    assert repo.lookup(store, link.token, TODAY) is not None
    assert repo.lookup(store, link.token, TODAY + timedelta(days=1)) is None
    assert repo.lookup(store, new_token(), TODAY) is None
    with pytest.raises(UsageError, match="in the past"):
        repo.start_campaign(store, MODEL, "crm", created_by="t",
                            closes_on=TODAY - timedelta(days=1))


def test_answers_become_surveys_rows_without_respondents(store: Store) -> None:
    c = repo.start_campaign(store, MODEL, "crm", created_by="t")
    links = repo.add_invitations(store, c, [(None, "sales"), (None, "buyers")])
    for link, scores in zip(links, [{"time": 9, "rel": 3}, {"ease": 6}], strict=True):
        target = repo.lookup(store, link.token, TODAY)
        assert target is not None
        group = target.group
        repo.submit(store, target, Answer(group, scores, 10, "more please"), TODAY)
    other = MODEL.model_copy(update={"organisation": MODEL.organisation.model_copy(
        update={"name": "Someone else"})})
    assert answers_as_surveys(store, "Someone else", other).num_rows == 0
    table = answers_as_surveys(store, "Acme", MODEL)
    rows = sorted(table.to_pylist(), key=lambda r: (r["group"], r["dimension"]))
    assert table.column_names == ["date", "service", "group", "dimension", "score", "comment"]
    assert [(r["group"], r["dimension"], r["score"]) for r in rows] == [
        ("buyers", "ease", 6.0), ("sales", "rel", 3.0), ("sales", "time", 9.0)]
    assert sum(1 for r in rows if r["comment"]) == 2          # once per answer
    assert all(r["date"] == datetime.combine(TODAY, datetime.min.time()) for r in rows)
    # a dimension the model no longer has is left out
    fewer = MODEL.model_copy(update={"stakeholder_groups": (
        MODEL.stakeholder_groups[0].model_copy(update={"value_dimensions": (
            MODEL.stakeholder_groups[0].value_dimensions[0],)}),)})
    assert {r["dimension"] for r in answers_as_surveys(store, "Acme", fewer).to_pylist()} == {
        "time"}


def test_last_asked_is_the_latest_check_in_per_pair(store: Store) -> None:
    repo.start_campaign(store, MODEL, "crm", created_by="t")
    repo.start_campaign(store, MODEL, "fax", ["sales"], created_by="t")
    assert repo.last_asked(store, "Acme") == {("crm", "sales"): TODAY, ("crm", "buyers"): TODAY,
                                              ("fax", "sales"): TODAY}
    assert repo.last_asked(store, "Other") == {}


def test_the_feed_needs_no_database_and_creates_none(tmp_path: Path) -> None:
    pkg = PackageBuilder(tmp_path / "pkg").service("crm", consumers=["staff"]).usage().write()
    loaded = load_package(pkg)
    try:
        missing = tmp_path / "nothing.db"
        assert feed_stored_answers(loaded, f"sqlite:///{missing}") == 0
        assert not missing.exists()                       # --no-store on a fresh machine
        with Store.open(f"sqlite:///{tmp_path / 'old.db'}"):   # a database not migrated yet
            pass
        assert feed_stored_answers(loaded, f"sqlite:///{tmp_path / 'old.db'}") == 0
        assert not loaded.signals.has("surveys")
    finally:
        loaded.close()


def test_answers_make_the_surveys_table_of_a_package_without_one(tmp_path: Path) -> None:
    pkg = PackageBuilder(tmp_path / "pkg").service("crm", consumers=["staff"]).usage().write()
    url = f"sqlite:///{tmp_path / 'app.db'}"
    loaded = load_package(pkg)
    try:
        with Store.open(url) as store:
            store.migrate()
            c = repo.start_campaign(store, loaded.model, "crm", created_by="t")
            target = repo.lookup(store, repo.add_invitations(store, c, [(None, "staff")])[0]
                                 .token, TODAY)
            assert target is not None
            repo.submit(store, target, Answer("staff", {"time_saved": 2, "ease": 3}, None,
                                              None), TODAY)
        latest = loaded.latest
        assert feed_stored_answers(loaded, url) == 2
        assert loaded.signals.has("surveys")
        rows = loaded.signals.connection.execute(
            'SELECT service, "group", dimension, score, respondent FROM surveys '
            "ORDER BY dimension").fetchall()
        assert rows == [("crm", "staff", "ease", 3.0, None),
                        ("crm", "staff", "time_saved", 2.0, None)]
        assert loaded.latest == max(TODAY, latest or TODAY)
    finally:
        loaded.close()
