"""Upgrades lose nothing (issue 17, item 6): for every schema revision this dipstick ships, on
SQLite and PostgreSQL, the app database is built at that revision (``Store.migrate(revision)``),
filled with a row in every table that exists there — written with plain SQL against that
revision's own tables (reflected from the database, never the current models) — upgraded to
head, and read back: each old column keeps its value, each new one gets its default, and the
current Store API (runs, sign-in, tokens, sessions, alerts, check-ins, self-assessment,
actions, audit) reads the rows with the same values.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Connection, MetaData, insert, select

from dipstick.store import Store
from dipstick.store.alerts import AlertLog
from dipstick.store.backup import known_revisions
from dipstick.store.pulse import answers, campaigns
from dipstick.store.selfassess import stored_answers
from dipstick.store.users import authenticate, session_account, token_account, users

REVISIONS = sorted(known_revisions())
T0 = datetime(2026, 10, 1, 8, 30, tzinfo=UTC)
PASSWORD = "an-old-users-password"
TOKEN = "dst_an-old-token"
HASH = PasswordHasher().hash(PASSWORD)
ORG = "Acme Ltd"
EXPECTED = {"money": 1234.57, "hours": 20.6, "low": 1000.0, "high": 1500.0,
            "formula": "0.33 tickets x 600 users x 0.1 h x 60 EUR", "since": "2026-07-01",
            "as_of": "2026-09-30", "drivers": []}

# one row per table, with every column any revision had; written in this (foreign key) order
ROWS: dict[str, list[dict[str, Any]]] = {
    "runs": [{
        "id": 7, "started_at": T0, "finished_at": T0 + timedelta(seconds=3),
        "command": "check /data/acme", "json_schema": "dipstick.check/1", "organisation": ORG,
        "package": "/data/acme", "currency": "EUR", "hourly_rate": 62.5,
        "as_of": date(2026, 9, 30), "window_days": 91, "baseline_days": 364,
        "causes": ["training", "retirement"], "services_count": 1, "ok_count": 0,
        "watch_count": 0, "leak_count": 1, "unknown_count": 0, "leak_money": 1234.5678,
        "leak_hours": 20.5749, "as_of_reason": "the latest signal", "coverage": [
            {"table": "tickets", "rows": 12}]}],
    "service_results": [{
        "id": 3, "run_id": 7, "position": 0, "service_id": "crm", "name": "CRM",
        "owner": "sales@acme.example", "lifecycle": "retiring", "status": "leak", "score": 81.25,
        "leak_money": 1234.5678, "leak_hours": 20.5749, "leak_cause": "training",
        "leak_formula": "0.33 tickets x 600 users x 0.1 h x 60 EUR", "leak_low": 1000.0,
        "leak_high": 1500.0, "episodes": [{"cause": "training", "since": "2026-07-01"}]}],
    "findings": [
        {"id": 11, "service_result_id": 3, "position": 0, "cause": "training", "status": "leak",
         "score": 81.25, "summary": "how-to tickets up", "leak_money": 1234.5678,
         "leak_hours": 20.5749, "leak_formula": "0.33 tickets x 600 users x 0.1 h x 60 EUR",
         "action": "train the sales team",
         "evidence": [{"id": "howto_per_user", "value": 0.4321, "baseline": 0.0712}],
         "since": date(2026, 7, 1), "leak_low": 1000.0, "leak_high": 1500.0,
         "symptom_of": None, "episode": "training#1", "coverage": [{"table": "tickets"}],
         "basis": "self-assessed"},
        {"id": 12, "service_result_id": 3, "position": 1, "cause": "retirement",
         "status": "ok", "score": 0.0, "summary": "no sign of a leak", "leak_money": 0.0,
         "leak_hours": 0.0, "leak_formula": "", "action": "retire or consolidate",
         "evidence": [], "since": None, "leak_low": None, "leak_high": None,
         "symptom_of": "training", "episode": "", "coverage": [], "basis": "measured"}],
    "alert_events": [{
        "id": 5, "run_id": 7, "created_at": T0, "organisation": ORG, "service_id": "crm",
        "cause": "training", "episode": 1, "kind": "leak", "details": {"money": 1234.57}}],
    "alert_deliveries": [{
        "id": 6, "event_id": 5, "target": "ops", "target_type": "webhook", "status": "sent",
        "attempts": 2, "last_error": "timeout once", "created_at": T0,
        "last_attempt_at": T0 + timedelta(minutes=1), "sent_at": T0 + timedelta(minutes=1)}],
    "users": [{
        "id": 4, "email": "ann@example.org", "name": "Ann", "role": "leader",
        "password_hash": HASH, "created_at": T0, "active": True, "oidc_subject": None}],
    "web_sessions": [{"id": "sid-of-ann", "user_id": 4, "created_at": T0, "ended_at": None}],
    "api_tokens": [{
        "id": 8, "user_id": 4, "name": "ci", "token_hash": hashlib.sha256(
            TOKEN.encode()).hexdigest(), "created_at": T0, "last_used_at": None,
        "expires_at": None, "revoked_at": None}],
    "pulse_schedules": [{
        "id": 2, "organisation": ORG, "service_id": "crm", "groups": ["staff"],
        "every_days": 90, "open_days": 14, "next_on": date(2026, 12, 30), "package": None,
        "created_at": T0, "created_by": "ann@example.org", "active": True}],
    "pulse_campaigns": [{
        "id": 9, "organisation": ORG, "service_id": "crm", "service_name": "CRM",
        "groups": ["staff"], "questions": {"staff": {"name": "Staff", "dimensions": []}},
        "source": "pulse", "package": "/data/acme", "created_at": T0,
        "created_by": "ann@example.org", "closes_on": date(2026, 10, 15),
        "open_token_hash": "a" * 64, "open_group": "staff", "schedule_id": 2}],
    "pulse_invitations": [{
        "id": 10, "campaign_id": 9, "token_hash": "b" * 64, "email": "bob@example.org",
        "group_id": "staff", "created_at": T0, "answered": True, "sent_at": T0,
        "reminded_at": None}],
    "pulse_answers": [{
        "id": 13, "campaign_id": 9, "group_id": "staff", "answered_on": date(2026, 10, 2),
        "scores": {"ease": 4.0}, "recommend": 9, "comment": "fine, mostly"}],
    "pulse_open_uses": [{"id": 14, "campaign_id": 9, "browser_hash": "c" * 64}],
    "self_assessment_answers": [{
        "id": 15, "organisation": ORG, "service_id": "crm", "cause": "training",
        "question": "q1", "answer": 4, "answered_by": "ann@example.org", "answered_at": T0}],
    "actions": [{
        "id": 16, "organisation": ORG, "service_id": "crm", "cause": "training", "run_id": 7,
        "owner": "sales@acme.example", "due": date(2026, 11, 30), "status": "in progress",
        "reason": None, "note": "booked the course", "done_on": None, "dismissed_on": None,
        "expected": EXPECTED, "created_at": T0, "created_by": "ann@example.org",
        "updated_at": T0 + timedelta(days=1)}],
    "action_changes": [{
        "id": 17, "action_id": 16, "at": T0, "by": "ann@example.org",
        "changes": {"status": [None, "proposed"]}, "note": "created"}],
    "run_extras": [{"run_id": 7, "format": 999, "dipstick": "0.0.1", "body": b"\x00old\xff"}],
    "audit_log": [{
        "id": 18, "at": T0, "actor": "ann@example.org", "source": "192.0.2.1",
        "action": "sign-in", "target": "ann@example.org", "detail": {}}],
}



def reflected(conn: Connection) -> MetaData:
    meta = MetaData()
    meta.reflect(conn)
    return meta


def plain(value: Any) -> Any:
    """A value as both drivers agree on it (UTC timestamps, whatever the session's zone)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value


def write_at_revision(conn: Connection) -> dict[str, set[str]]:
    """A row in every table of the revision, through its own reflected tables: the columns
    it has, nothing else. Which columns each table had."""
    meta = reflected(conn)
    had: dict[str, set[str]] = {}
    for name, rows in ROWS.items():
        table = meta.tables.get(name)
        if table is None:
            continue
        had[name] = set(table.c.keys())
        missing = {c.name for c in table.c if not c.nullable and c.server_default is None
                   and c.name not in rows[0]}
        assert not missing, f"{name}: the test writes no value for {missing}"
        values = [{k: v for k, v in r.items() if k in had[name]} for r in rows]
        if conn.dialect.name == "sqlite":   # stored as naive UTC, as UTCDateTime does
            values = [{k: v.replace(tzinfo=None) if isinstance(v, datetime) else v
                       for k, v in r.items()} for r in values]
        conn.execute(insert(table), values)
    return had


@pytest.mark.parametrize("revision", REVISIONS)
def test_an_app_database_at_every_revision_upgrades_to_head_with_nothing_lost(
        url: str, revision: str) -> None:
    with Store.open(url) as store:
        store.migrate(revision)
        assert store.revision() == revision
        with store.engine.begin() as conn:
            had = write_at_revision(conn)
        store.migrate()
        assert store.revision() == max(REVISIONS)
        if store.engine.dialect.name == "sqlite":   # off while migrating, on again after
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1

        with store.engine.connect() as conn:   # every old value kept, byte for byte
            meta = reflected(conn)
            for name, columns in had.items():
                table = meta.tables[name]
                got = [dict(r._mapping) for r in conn.execute(
                    select(table).order_by(*table.primary_key.columns))]
                assert [{k: plain(r[k]) for k in columns} for r in got] == [
                    {k: plain(r[k]) for k in columns} for r in ROWS[name]], name

        read_through_the_api(store, had)


def read_through_the_api(store: Store, had: dict[str, set[str]]) -> None:
    """The rows as the app sees them: old values, and the new columns' defaults."""
    def value(table: str, column: str, default: Any, row: int = 0) -> Any:
        return ROWS[table][row][column] if column in had[table] else default

    [run] = store.runs()
    assert (run.id, run.started_at, run.organisation, run.as_of, run.counts["leak"],
            run.leak_money) == (7, T0, ORG, date(2026, 9, 30), 1, 1234.5678)
    doc = store.load_run(7)
    assert doc["as_of_reason"] == value("runs", "as_of_reason", "")
    assert doc["coverage"] == value("runs", "coverage", [])
    [crm] = doc["services"]
    assert (crm["id"], crm["owner"], crm["status"], crm["score"]) == (
        "crm", "sales@acme.example", "leak", 81.25)
    assert crm["leak_per_month"]["low"] == value("service_results", "leak_low", None)
    assert crm["episodes"] == value("service_results", "episodes", [])
    training, retirement = crm["causes"]["training"], crm["causes"]["retirement"]
    assert training["evidence"] == ROWS["findings"][0]["evidence"]
    since = value("findings", "since", None)
    assert training["since"] == (since.isoformat() if since else None)
    assert training["leak_per_month"]["high"] == value("findings", "leak_high", None)
    assert training["episode"] == value("findings", "episode", "")
    assert training["coverage"] == value("findings", "coverage", [])
    assert training["basis"] == value("findings", "basis", "measured")
    assert retirement["symptom_of"] == value("findings", "symptom_of", None, row=1)

    if "alert_events" in had:
        [sent] = AlertLog(store).deliveries()
        assert (sent.run_id, sent.kind, sent.target, sent.status, sent.attempts,
                sent.last_error, sent.sent_at, sent.details) == (
            7, "leak", "ops", "sent", 2, "timeout once", T0 + timedelta(minutes=1),
            {"money": 1234.57})
    if "users" in had:
        ann = authenticate(store, "ann@example.org", PASSWORD)
        assert ann is not None and (ann.id, ann.name, ann.role) == (4, "Ann", "leader")
        [listed] = users(store)
        assert (listed.id, listed.email, listed.role, listed.state, listed.password,
                listed.oidc) == (4, "ann@example.org", "leader", "active", True, False)
        assert session_account(store, "sid-of-ann") == ann
        assert token_account(store, TOKEN) == ann
    if "pulse_campaigns" in had:
        [c] = campaigns(store)
        assert (c.id, c.service_id, c.groups, c.closes_on, c.open_group, c.schedule_id,
                c.created_at) == (9, "crm", ("staff",), date(2026, 10, 15), "staff", 2, T0)
        [a] = answers(store)
        assert (a.campaign_id, a.group, a.answered_on, a.scores, a.recommend, a.comment) == (
            9, "staff", date(2026, 10, 2), {"ease": 4.0}, 9, "fine, mostly")
    if "self_assessment_answers" in had:
        [s] = stored_answers(store, ORG)
        assert (s.service, s.cause, s.question, s.answer, s.answered_by) == (
            "crm", "training", "q1", 4, "ann@example.org")
    if "actions" in had:
        from dipstick.store.actions import get_action

        action = get_action(store, 16)
        assert (action["status"], action["owner"], action["due"], action["note"],
                action["expected"], action["updated_at"]) == (
            "in progress", "sales@acme.example", "2026-11-30", "booked the course", EXPECTED,
            (T0 + timedelta(days=1)).isoformat())
        assert action["history"] == [{"at": T0.isoformat(), "by": "ann@example.org",
                                      "changes": {"status": [None, "proposed"]},
                                      "note": "created"}]
    if "run_extras" in had:   # written by an unknown format: kept, and read as "none"
        assert store.load_extras(7) is None
    if "audit_log" in had:
        from dipstick.store.audit_log import Query, entries

        [entry] = entries(store, Query())[0]
        assert (entry.at, entry.actor, entry.action) == (T0, "ann@example.org", "sign-in")
