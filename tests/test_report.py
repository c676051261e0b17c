"""The HTML report: self-contained, escaped, and faithful to the check result it renders."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from plotly.offline import get_plotlyjs

from dipstick.check import CheckResult, ServiceVerdict
from dipstick.errors import UsageError
from dipstick.figures import HEATMAP_LIMIT, leak_bars, status_heatmap
from dipstick.findings import Evidence, Finding, LeakEstimate, Status, Window
from dipstick.indicators.registry import CAUSES
from dipstick.model import Service
from dipstick.report import TOTAL_RULE, render_report, write_report

PERIOD = "2026-08-28..2026-11-26"
EVIL = "<script>alert(1)</script>"


def finding(service: str, cause: str, status: Status = Status.OK, score: float = 0.0,
            money: float = 0.0, hours: float = 0.0, summary: str = "no sign of a leak",
            evidence: tuple[Evidence, ...] = ()) -> Finding:
    leak = (LeakEstimate(money, hours, f"{hours:g} h × 60 EUR/h") if money
            else LeakEstimate.none())
    return Finding(service, cause, status, score, summary, evidence, leak, "")


def verdict(sid: str, name: str, owner: str | None = "IT Ops",
            **by_cause: Finding) -> ServiceVerdict:
    """A service whose causes are ok unless given."""
    service = Service(id=sid, name=name, owner=owner)
    return ServiceVerdict(service, tuple(by_cause.get(c, finding(sid, c)) for c in CAUSES))


def howto(value: float, status: Status, score: float) -> Evidence:
    return Evidence("howto_per_user", "How-to tickets per active user", value, PERIOD, status,
                    score, " /user", "watch ≥ 0.5 · leak ≥ 1", 0.31, "40 active users")


def result_of(*verdicts: ServiceVerdict) -> CheckResult:
    return CheckResult("Acme & Sons", "EUR", 60.0, Window(date(2026, 11, 26)), "/data/acme",
                       verdicts)


@pytest.fixture(scope="module")
def result() -> CheckResult:
    return result_of(
        verdict("crm", "CRM", "Ana <Sales>",
                training=finding("crm", "training", Status.LEAK, 72.5, 12_000.0, 200.0,
                                  "How-to tickets per active user: 1.2 /user",
                                  (howto(1.2, Status.LEAK, 72.5),)),
                retirement=finding("crm", "retirement", Status.LEAK, 60.0, 5_000.0, 80.0,
                                   "licence utilisation 30%")),
        verdict("hr", "HR Portal",
                change=finding("hr", "change", Status.WATCH, 30.0,
                               summary="incidents up 20% after release 4.2",
                               evidence=(howto(0.6, Status.WATCH, 30.0),))),
        verdict("evil", EVIL,
                flow=finding("evil", "flow", Status.LEAK, 55.0, 3_456.7, 57.6, "waits of 3 days")),
        verdict("wiki", "Wiki", None),
        ServiceVerdict(Service(id="fax", name="Fax Gateway"),
                       tuple(Finding("fax", c, Status.UNKNOWN, 0.0, "no data",
                                     leak=LeakEstimate.none("not estimated: no data"))
                             for c in CAUSES)),
    )


@pytest.fixture(scope="module")
def page(result: CheckResult) -> str:
    return render_report(result)


def without_plotlyjs(page: str) -> str:
    bundle = get_plotlyjs()
    assert page.count(bundle) == 1
    return page.replace(bundle, "")


def island(page: str, figure: str) -> dict[str, object]:
    m = re.search(rf'<script type="application/json" id="{figure}">(.*?)</script>', page, re.S)
    assert m, figure
    data: dict[str, object] = json.loads(m.group(1))
    return data


def test_plotly_bundle_is_embedded_exactly_once(page: str) -> None:
    assert page.count(get_plotlyjs()) == 1
    assert page.count("* plotly.js v") == 1


def test_nothing_is_loaded_from_the_network(page: str) -> None:
    rest = without_plotlyjs(page)
    assert "<script src" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", rest, re.I)
    assert not re.search(r"<link\b", rest, re.I)
    assert "@import" not in rest and "url(" not in rest
    assert "http://" not in rest and "https://" not in rest


def test_every_service_name_appears(page: str, result: CheckResult) -> None:
    for v in result.verdicts:
        assert f'<span class="svc-name">{escape(v.service.name)}</span>' in page


def test_user_text_is_escaped(page: str) -> None:
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Ana &lt;Sales&gt;" in page and "Ana <Sales>" not in page
    assert "<h1>Acme &amp; Sons</h1>" in page


def test_totals_match_the_check_result(page: str, result: CheckResult) -> None:
    money = re.search(r'id="total-money">([^<]+)<', page)
    hours = re.search(r'id="total-hours">([^<]+)<', page)
    assert money and money.group(1) == f"{result.leak_money:,.0f} EUR" == "15,457 EUR"
    assert hours and hours.group(1) == f"{result.leak_hours:,.0f} h per month" == "258 h per month"
    assert TOTAL_RULE in page.replace("&#39;", "'")
    for status in (s for s in Status if s is not Status.NA):   # a service is never n/a
        shown = re.search(rf'id="count-{status.value}">([\d,]+)<', page)
        assert shown and int(shown.group(1).replace(",", "")) == result.count(status)
    assert (result.count(Status.LEAK), result.count(Status.WATCH), result.count(Status.OK),
            result.count(Status.UNKNOWN)) == (2, 1, 1, 1)


def test_heatmap_has_one_row_per_service_worst_first(page: str, result: CheckResult) -> None:
    fig = island(page, "fig-heatmap")
    trace = fig["data"][0]  # type: ignore[index]
    assert len(trace["z"]) == len(result.verdicts) == len(trace["customdata"])
    assert all(len(row) == len(CAUSES) for row in trace["z"])
    assert fig["layout"]["meta"]["service_ids"] == ["crm", "evil", "hr", "fax", "wiki"]  # type: ignore[index]
    ticks = fig["layout"]["yaxis"]["ticktext"]  # type: ignore[index]
    assert ticks[1] == "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_heatmap_shows_the_worst_150_of_many_and_says_so() -> None:
    many = [verdict(f"s{i:03d}", f"Service {i}",
                    perception=finding(f"s{i:03d}", "perception", Status.LEAK, 50.0 + i % 50,
                                       float(i), 1.0) if i % 3 == 0 else finding(
                                           f"s{i:03d}", "perception"))
            for i in range(200)]
    result = result_of(*many)
    fig = status_heatmap(result)
    assert len(fig.data[0].z) == HEATMAP_LIMIT == 150
    assert fig.layout.meta["total"] == 200
    page = render_report(result)
    assert "Showing the 150 worst of 200 services" in page
    assert all(f">Service {i}</span>" in page for i in range(200))


def test_leak_bars_show_leaking_services_largest_first(result: CheckResult) -> None:
    bars = leak_bars(result).data[0]
    assert list(bars.x) == [12_000.0, 3_456.7]
    assert bars.customdata[0][1] == "Training"
    assert "200 h × 60 EUR/h" in bars.customdata[0][4]


def test_service_details_carry_the_evidence(page: str) -> None:
    crm = page[page.index('id="svc-crm"'):page.index('id="svc-evil"')]
    for text in ("How-to tickets per active user", "1.2 /user", "watch ≥ 0.5 · leak ≥ 1",
                 '<td class="n">0.31</td>', PERIOD, "40 active users",
                 "12,000 EUR and 200 h per month", "200 h × 60 EUR/h", "Recommended action:"):
        assert text in crm, text
    healthy = page[page.index('id="healthy"'):]
    assert 'data-id="wiki"' in healthy and 'data-id="fax"' not in healthy


def test_write_report_is_atomic(result: CheckResult, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("previous")
    assert write_report(result, target) == target
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    with pytest.raises(UsageError, match="does not exist"):
        write_report(result, tmp_path / "missing" / "report.html")
    assert not (tmp_path / "missing").exists()


def test_an_empty_check_still_renders() -> None:
    page = render_report(result_of())
    assert "No services in this check." in page
    assert 'id="total-money">0 EUR<' in page


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_a_leak_with_a_shift_gets_its_trend_chart_with_the_shift_marked(tmp_path: Path) -> None:
    """From a real check: satisfaction falls in a step, the report draws that series."""
    from datetime import timedelta

    from dipstick.check import run_check
    from dipstick.package import load_package

    from builder import AS_OF, PackageBuilder

    step = AS_OF - timedelta(days=120)
    package = load_package(PackageBuilder(tmp_path / "pkg").service().usage().surveys().kpis()
                           .satisfaction_step(days_ago=120).write())
    try:
        result = run_check(package)
    finally:
        package.close()
    finding = result.verdicts[0].finding("employee_experience")
    assert finding.status is Status.LEAK and finding.since is not None
    assert abs((finding.since - step).days) <= 7
    html = render_report(result)
    assert 'class="trend"' in html and f"shift, week of {finding.since}" in html
