"""Actions on leaks (issue 15): the pure rules as tables, then the loop over a real app database
(SQLite and PostgreSQL) and through the in-process CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest

from dipstick.actions import DONE, IN_PROGRESS, Expected, validate_change
from dipstick.actions.dismissal import Dismissed, material_change
from dipstick.actions.ledger import LedgerAction, RunTotal, ledger_rows
from dipstick.actions.recovery import CAME_BACK, NOT_YET, RECOVERED, Observation, recovery
from dipstick.alerts.events import LEAK, diff
from dipstick.check import CheckResult, ServiceVerdict
from dipstick.errors import UsageError
from dipstick.findings import Finding, LeakEstimate, Status, Window
from dipstick.model import Service
from dipstick.store import Store
from dipstick.store import actions as store_actions

from clirun import dipstick
from db import BACKENDS, postgres_schema

E0 = Expected(1000.0, 10.0, 800.0, 1300.0, "f", date(2026, 3, 1), date(2026, 5, 1), ("m",))
D = date(2026, 6, 1)


def obs(as_of: date, status: str, money: float = 0.0, run: int = 1, **kw: Any) -> Observation:
    return Observation(run, as_of, 91, status, money, **kw)


# -- the pure core ---------------------------------------------------------------------------

@pytest.mark.parametrize(("checks", "state", "money", "low", "high"), [
    ([], NOT_YET, None, None, None),                                    # nothing after D
    ([obs(date(2026, 7, 1), "ok")], NOT_YET, None, None, None),         # window starts before D
    ([obs(date(2026, 9, 1), "ok")], RECOVERED, 1000.0, 800.0, 1300.0),  # E0 − 0, E0's range
    ([obs(date(2026, 9, 1), "watch")], NOT_YET, None, None, None),      # not yet sure
    ([obs(date(2026, 9, 1), "leak", 400.0)], NOT_YET, None, None, None),
    ([obs(date(2026, 9, 1), "ok", 0.0, 1, basis="self-assessed")], NOT_YET, None, None, None),
    ([obs(date(2026, 9, 1), "watch", 0.0, 1, symptom_of="change")], NOT_YET, None, None, None),
    ([obs(date(2026, 9, 1), "ok", 100.0, 1, low=50.0, high=400.0)],     # E1 with a range
     RECOVERED, 900.0, 400.0, 1250.0),
    ([obs(date(2026, 9, 1), "ok", run=1), obs(date(2026, 10, 1), "leak", 900, run=2)],
     CAME_BACK, None, None, None),
    ([obs(date(2026, 10, 1), "leak", 900, run=2), obs(date(2026, 9, 1), "ok", run=1)],
     CAME_BACK, None, None, None),                                      # any order
])
def test_recovery(checks: list[Observation], state: str, money: float | None,
                  low: float | None, high: float | None) -> None:
    r = recovery(E0, D, checks)
    assert (r.state, r.money, r.low, r.high) == (state, money, low, high)
    assert "E0 − E1" in r.formula


@pytest.mark.parametrize(("money", "since", "material"), [
    (1000.0, date(2026, 3, 1), False), (1490.0, date(2026, 3, 1), False),
    (1510.0, date(2026, 3, 1), True), (490.0, date(2026, 3, 1), True),
    (1000.0, date(2026, 4, 6), True), (1000.0, None, True)])
def test_a_dismissed_leak_is_quiet_until_its_evidence_moves(money: float, since: date | None,
                                                           material: bool) -> None:
    assert (material_change(Dismissed(1, 1000.0, date(2026, 3, 1)), money, since)
            is not None) is material


@pytest.mark.parametrize(("current", "status", "reason", "on", "error"), [
    ("proposed", "in progress", None, None, None),
    ("proposed", "done", None, date(2026, 6, 1), None),
    ("in progress", "dismissed", None, None, "needs a reason"),
    ("in progress", "dismissed", "too small", None, None),
    ("done", "dismissed", "x", None, "cannot become"),
    ("proposed", "finished", None, None, "must be one of"),
    ("proposed", "done", None, date(2026, 4, 1), "before the check"),
    ("proposed", "in progress", None, date(2026, 6, 1), "goes with"),
    ("dismissed", "proposed", None, None, None),
])
def test_status_moves(current: str, status: str, reason: str | None, on: date | None,
                      error: str | None) -> None:
    if error is None:
        validate_change(current, status, reason, on, date(2026, 5, 1))
    else:
        with pytest.raises(UsageError, match=error):
            validate_change(current, status, reason, on, date(2026, 5, 1))


def test_ledger_rows_sum_recovered_and_count_open_actions_per_run() -> None:
    runs = [RunTotal(1, date(2026, 5, 1), 5000.0, "EUR"), RunTotal(2, date(2026, 9, 1), 4000.0,
                                                                   "EUR")]
    done = LedgerAction(1, DONE, E0, D, None, [obs(date(2026, 9, 1), "ok", run=2)])
    open_ = LedgerAction(2, IN_PROGRESS, E0, None, None, [])
    later = LedgerAction(3, IN_PROGRESS, Expected(1, 0, None, None, "", None, date(2026, 9, 1),
                                                  ()), None, None, [])
    rows = ledger_rows(runs, [done, open_, later])
    assert [(r["as_of"], r["value_at_risk"], r["value_recovered"], r["open_actions"])
            for r in rows] == [
        ("2026-05-01", 5000.0, {"money": 0.0, "low": 0.0, "high": 0.0}, 2),
        ("2026-09-01", 4000.0, {"money": 1000.0, "low": 800.0, "high": 1300.0}, 2)]


def result(as_of: date, status: Status, money: float = 500.0,
           since: date | None = date(2026, 3, 2)) -> CheckResult:
    leak = LeakEstimate(money, 8.0, "80 idle licences x 10 EUR", money * 0.8, money * 1.2) \
        if status is Status.LEAK else LeakEstimate()
    finding = Finding("crm", "retirement", status, 60.0, "licences idle", (), leak,
                      "retire or consolidate", since if status is Status.LEAK else None)
    return CheckResult("Acme", "EUR", 50.0, Window(as_of), "/p", (
        ServiceVerdict(Service(id="crm", name="CRM", owner="owner@example.org"), (finding,)),))


def test_alerts_stay_quiet_on_a_dismissed_leak_until_it_changes_materially() -> None:
    quiet = {("crm", "retirement"): Dismissed(4, 500.0, date(2026, 3, 2))}
    assert diff(result(date(2026, 6, 1), Status.LEAK, 600.0), {}, quiet) == []
    moved = diff(result(date(2026, 6, 1), Status.LEAK, 900.0), {}, quiet)
    assert [(e.kind, e.details["dismissed_action"]) for e in moved] == [(LEAK, 4)]
    assert "more than 50%" in moved[0].details["changed"]
    assert [e.kind for e in diff(result(date(2026, 6, 1), Status.LEAK), {})] == [LEAK]


# -- the loop over a real app database -------------------------------------------------------

@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        with Store.open(f"sqlite:///{tmp_path / 'app.db'}") as s:
            s.migrate()
            yield s
    else:
        with postgres_schema() as url, Store.open(url) as s:
            s.migrate()
            yield s


def save(store: Store, r: CheckResult) -> int:
    at = datetime.combine(r.as_of, time(12), tzinfo=UTC)
    return store.save_run(r, started_at=at, finished_at=at, command="test")


def test_the_loop_leak_action_done_recovered_came_back(store: Store) -> None:
    assert store.revision() >= "0010"   # the actions migration, or one after it
    run1 = save(store, result(date(2026, 5, 1), Status.LEAK))
    with pytest.raises(UsageError, match="no finding"):
        store_actions.create_action(store, "crm", "training", "lead@x")   # no such cause
    a = store_actions.create_action(store, "crm", "retirement", "lead@x", due=date(2026, 6, 30))
    assert (a["owner"], a["status"], a["run_id"]) == ("owner@example.org", "proposed", run1)
    assert (a["expected"]["money"], a["expected"]["low"], a["expected"]["high"]) == \
        (500.0, 400.0, 600.0)
    with pytest.raises(UsageError, match="already has an open action"):
        store_actions.create_action(store, "crm", "retirement", "lead@x")
    store_actions.update_action(store, a["id"], "owner@example.org", status="in progress")
    done = store_actions.update_action(store, a["id"], "owner@example.org", status="done",
                                       on=D)
    assert done["recovery"]["state"] == NOT_YET and "too little data" in \
        done["recovery"]["reason"]
    save(store, result(date(2026, 7, 1), Status.OK))       # window starts before D
    assert store_actions.get_action(store, a["id"])["recovery"]["state"] == NOT_YET
    run3 = save(store, result(date(2026, 11, 1), Status.OK))
    with pytest.raises(UsageError, match="only a leak"):   # the latest check: ok
        store_actions.create_action(store, "crm", "retirement", "lead@x")
    got = store_actions.get_action(store, a["id"])
    assert got["recovery"]["state"] == RECOVERED
    assert (got["recovery"]["money"], got["recovery"]["low"], got["recovery"]["high"]) == \
        (500.0, 400.0, 600.0)
    assert [(h["by"], h["changes"].get("status")) for h in got["history"]] == [
        ("lead@x", [None, "proposed"]), ("owner@example.org", ["proposed", "in progress"]),
        ("owner@example.org", ["in progress", "done"])]
    ledger = store_actions.ledger(store)
    assert [(r["run_id"], r["value_recovered"]["money"], r["open_actions"])
            for r in ledger["rows"]] == [(run1, 0.0, 1), (run1 + 1, 0.0, 0), (run3, 500.0, 0)]
    assert [x["id"] for x in store_actions.actions_for_run(store, run3)] == [a["id"]]
    assert store_actions.settle(store) == []
    save(store, result(date(2026, 12, 1), Status.LEAK))    # it came back
    assert store_actions.settle(store) == [a["id"]]
    back = store_actions.get_action(store, a["id"])
    assert (back["status"], back["done_on"], back["history"][-1]["by"]) == \
        (IN_PROGRESS, None, "dipstick")
    assert "came back" in back["history"][-1]["note"]


def test_dismissed_needs_a_reason_and_is_read_by_the_alerts(store: Store) -> None:
    save(store, result(date(2026, 5, 1), Status.LEAK))
    a = store_actions.create_action(store, "crm", "retirement", "lead@x")
    with pytest.raises(UsageError, match="needs a reason"):
        store_actions.update_action(store, a["id"], "lead@x", status="dismissed")
    assert store_actions.get_action(store, a["id"])["status"] == "proposed"   # unchanged
    store_actions.update_action(store, a["id"], "lead@x", status="dismissed", reason="known")
    assert store_actions.dismissed(store, "Acme") == {
        ("crm", "retirement"): Dismissed(a["id"], 500.0, date(2026, 3, 2))}


# -- the CLI -----------------------------------------------------------------------------------

def test_cli_add_set_show_list_ledger_and_bad_input(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    with Store.open(url) as s:
        s.migrate()
        save(s, result(date(2026, 5, 1), Status.LEAK))
    db = ("--database", url, "--format", "json")
    added = dipstick("actions", "add", "crm", "retirement", "--due", "2026-06-30", "--by",
                     "lead@x", *db)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["status"] == "proposed"
    ok = dipstick("actions", "set", "1", "--status", "in-progress", *db)
    assert ok.returncode == 0 and json.loads(ok.stdout)["status"] == "in progress"
    for args, message in ((("set", "1", "--status", "dismissed"), "needs a reason"),
                          (("set", "9", "--status", "done"), "no action 9"),
                          (("add", "crm", "flow"), "no finding"),
                          (("set", "1", "--status", "finished"), "must be one of")):
        bad = dipstick("actions", *args, *db)
        assert bad.returncode == 2, (args, bad.stdout)
        assert message in json.loads(bad.stdout)["message"]
    assert dipstick("actions", "set", "1", "--on", "2026-13-01", *db).returncode == 2
    shown = json.loads(dipstick("actions", "show", "1", *db).stdout)
    assert len(shown["history"]) == 2
    listed = json.loads(dipstick("actions", "list", *db).stdout)
    assert [a["id"] for a in listed] == [1]
    ledger = json.loads(dipstick("actions", "ledger", *db).stdout)
    assert ledger["rows"][0]["open_actions"] == 1 and "value_recovered" in ledger["formulas"]
    table = dipstick("actions", "ledger", "--database", url)
    assert table.returncode == 0 and "Value at risk" in table.stdout


def test_cli_prints_what_people_typed_as_typed(tmp_path: Path) -> None:
    """A reason or note typed like Rich markup (``[/red]``; anyone who may act types it, on the
    web too) was a MarkupError traceback, exit 1, in ``actions set``, ``list`` and ``show``."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    with Store.open(url) as s:
        s.migrate()
        save(s, result(date(2026, 5, 1), Status.LEAK))
    db = ("--database", url)
    assert dipstick("actions", "add", "crm", "retirement", "--by", "[b]lead@x", "--note",
                    "[/red] a note", *db).returncode == 0
    reason = "[/red] not ours [link=https://evil.example]x[/link]"
    done = dipstick("actions", "set", "1", "--status", "dismissed", "--reason", reason, *db,
                    env={"COLUMNS": "400"})
    assert done.returncode == 0, done.stderr
    assert reason in done.stdout
    for command in (("list",), ("show", "1")):
        shown = dipstick("actions", *command, *db, env={"COLUMNS": "400"})
        assert shown.returncode == 0 and reason in shown.stdout, shown.stdout
