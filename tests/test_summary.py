"""The one page for the executive: built once from the demo's check and its stored history,
rendered as HTML and PDF (read back), written by `dipstick report --summary`."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from pypdf import PdfReader

from dipstick.check import CheckResult
from dipstick.findings import Window
from dipstick.report import PLOTLY_MARKER
from dipstick.store import Store
from dipstick.summary import FORMULAS, TOP_LEAKS, Summary, build_summary
from dipstick.summary.html import render_html
from dipstick.summary.pdf import render_pdf
from dipstick.summary.text import NO_ACTION

from clirun import dipstick

TODAY = date(2026, 12, 7)


@dataclass(frozen=True)
class Run:
    """A stored run as the history reads it (the fields of store.RunSummary it uses)."""

    as_of: date
    leak_money: float
    organisation: str
    started_at: datetime


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def history_of(result: CheckResult) -> list[Run]:
    """Eight weekly checks before this one, rising towards it; a re-check of one week (the
    later run counts) and another organisation's run (left out)."""
    day, org = result.as_of, result.organisation
    runs = [Run(day - timedelta(weeks=k), 100_000.0 + 1_000 * (8 - k), org,
                at(day - timedelta(weeks=k))) for k in range(1, 9)]
    runs.append(Run(day - timedelta(weeks=1), 150_000.0, org, at(day - timedelta(weeks=1), 9)))
    runs.append(Run(day - timedelta(weeks=2), 9e9, "Another org", at(day)))
    return runs


def expected_top(doc: dict[str, Any]) -> list[dict[str, Any]]:
    leaking = [s for s in doc["services"]
               if s["status"] == "leak" and s["leak_per_month"]["money"] > 0]
    return sorted(leaking, key=lambda s: (-s["leak_per_month"]["money"], s["name"]))[:TOP_LEAKS]


def text_of(pdf: bytes) -> str:
    return " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).split())


@pytest.fixture(scope="module")
def summary(demo_result: CheckResult) -> Summary:
    return build_summary(demo_result, history_of(demo_result), today=TODAY)


@pytest.fixture(scope="module")
def page(summary: Summary) -> str:
    return render_html(summary)


@pytest.fixture(scope="module")
def pdf(summary: Summary) -> bytes:
    return render_pdf(summary)


def test_the_summary_holds_the_ten_largest_leaks_the_history_and_the_total(
        demo_result: CheckResult, summary: Summary) -> None:
    doc = demo_result.to_json()
    top = expected_top(doc)
    assert len(top) == TOP_LEAKS
    assert [t.service_id for t in summary.top] == [s["id"] for s in top]
    first = summary.top[0]
    assert (first.money, first.cause) == (top[0]["leak_per_month"]["money"],
                                          top[0]["leak_per_month"]["cause"])
    assert summary.leak_money == pytest.approx(demo_result.leak_money, abs=0.01)
    assert summary.leak_low <= summary.leak_money <= summary.leak_high
    # the week re-checked counts once (its later run), the other organisation not at all
    assert len(summary.history) == 9
    assert summary.history[-1].money == summary.leak_money
    assert summary.history[-2].money == 107_000.0
    assert summary.change == pytest.approx(summary.leak_money - 107_000.0)
    # no actions from the actions work yet: said so, nothing recovered is invented
    assert all(t.action is None for t in summary.top)
    assert summary.recovered.money is None
    assert summary.recovered.formula == FORMULAS["recovered_none"]
    assert [c.table for c in summary.coverage] == [c.table for c in demo_result.coverage]


def test_actions_and_the_ledger_fill_status_owner_and_value_recovered(
        demo_result: CheckResult) -> None:
    doc = demo_result.to_json()
    top = expected_top(doc)
    key = (top[0]["id"], top[0]["leak_per_month"]["cause"])
    key2 = (top[1]["id"], top[1]["leak_per_month"]["cause"])
    actions = {key: {"status": "in_progress", "owner": "Zoë Ångström", "due": "2026-12-01"},
               key2: {"status": "done", "owner": "Bo", "due": date(2026, 11, 1),
                      "recovered_money": 1_000.0, "recovered_low": 600.0}}
    s = build_summary(doc, (), actions, today=TODAY)
    assert s.top[0].who == "Zoë Ångström" and s.top[0].action is not None
    assert s.top[0].action.overdue          # due before today, not done
    assert s.top[1].action is not None and not s.top[1].action.overdue   # done: not overdue
    assert s.top[2].action is None and s.top[2].who == top[2]["owner"]
    assert (s.recovered.money, s.recovered.low, s.recovered.high) == (1_000.0, 600.0, 1_000.0)
    assert (s.recovered.actions, s.recovered.done) == (2, 1)
    with_ledger = build_summary(doc, (), actions, {"money": 2_500.0}, today=TODAY)
    assert with_ledger.recovered.money == 2_500.0
    assert with_ledger.recovered.formula == FORMULAS["recovered_ledger"]
    page = render_html(s)
    assert "Zoë Ångström" in page and "overdue" in page and "1,000 EUR" in page
    assert page.count(NO_ACTION) == TOP_LEAKS - 2


def test_the_html_page_is_small_holds_the_leaks_the_chart_and_coverage_with_formulas(
        demo_result: CheckResult, summary: Summary, page: str) -> None:
    assert len(page.encode()) < 200_000
    assert PLOTLY_MARKER not in page and "<script" not in page   # no plotly.js, no script
    assert "@page { size: A4" in page
    for t in summary.top:
        assert f"<b>{t.service}</b>" in page.replace("&amp;", "&")
        assert f"{t.money:,.0f} EUR" in page
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert f"{summary.leak_money:,.0f} EUR" in svg           # the last point, labelled
    for c in demo_result.coverage:
        assert f"<td>{c.table}</td>" in page
    assert demo_result.as_of_reason in page
    for key in ("total", "range", "change", "history", "top", "coverage", "judged",
                "recovered_none"):
        assert FORMULAS[key].replace("'", "&#39;") in page, key


def test_user_text_is_escaped(demo_result: CheckResult) -> None:
    doc = demo_result.to_json()
    doc["organisation"] = "<script>alert(1)</script>"
    doc["services"][0]["name"] = "<img src=x onerror=alert(1)>"
    page = render_html(build_summary(doc, today=TODAY))
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_pdf_is_one_valid_page_naming_the_organisation_total_and_top_leak(
        summary: Summary, pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    text = text_of(pdf)
    top = summary.top[0]
    assert summary.organisation in text
    assert f"{summary.leak_money:,.0f} EUR" in text
    assert top.service in text and f"{top.money:,.0f} EUR" in text
    assert "no action yet" in text and "What the check could judge" in text
    assert len(pdf) < 300_000


def test_a_first_check_has_one_point_and_no_change(demo_result: CheckResult) -> None:
    s = build_summary(demo_result, today=TODAY)
    assert len(s.history) == 1 and s.previous is None and s.change is None
    assert "first stored check" in render_html(s)
    assert "first stored check" in text_of(render_pdf(s))


# -- the command ---------------------------------------------------------------------------

def test_report_summary_writes_html_and_pdf_with_the_stored_history(
        demo_org: Path, demo_result: CheckResult, demo_db: str, tmp_path: Path) -> None:
    earlier = replace(demo_result, window=Window(demo_result.as_of - timedelta(weeks=1)))
    with Store.open(demo_db) as store:
        store.save_run(earlier, started_at=at(earlier.as_of), finished_at=at(earlier.as_of),
                       command="check")
    with time_machine.travel(at(TODAY), tick=False):
        r = dipstick("report", demo_org, "--summary", "-o", tmp_path / "s.html",
                     "--database", demo_db)
    assert r.returncode == 1, r.stderr          # the demo leaks: exit codes as `check`
    assert "Summary written to" in r.stdout
    page = (tmp_path / "s.html").read_text()
    assert len(page.encode()) < 200_000 and PLOTLY_MARKER not in page
    assert f"generated {TODAY.isoformat()}" in page
    assert "first stored check" not in page      # the earlier run is its history
    assert re.search(r"since the check as of " + str(earlier.as_of), page)

    r = dipstick("report", demo_org, "--summary", "--format", "pdf", "--no-store",
                 "-o", tmp_path / "s.pdf", "--database", demo_db)
    assert r.returncode == 1, r.stderr
    text = text_of((tmp_path / "s.pdf").read_bytes())
    assert demo_result.organisation in text and f"{demo_result.leak_money:,.0f} EUR" in text


def test_pdf_needs_summary_and_formats_are_checked(demo_org: Path, tmp_path: Path) -> None:
    r = dipstick("report", demo_org, "--format", "pdf", "-o", tmp_path / "r.pdf")
    assert r.returncode == 2 and "pdf with --summary" in r.stderr
    r = dipstick("report", demo_org, "--summary", "--format", "docx")
    assert r.returncode == 2
    assert not list(tmp_path.iterdir())
