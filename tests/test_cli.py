"""The `dipstick` command as users run it: exit codes, JSON, filters, and nothing stored on bad
input. In-process (tests/clirun.py), except one real process per exit code 0/1/2/3 and the
entry point: what a shell sees."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from dipstick import __version__
from dipstick.check import JSON_SCHEMA
from dipstick.findings import Status
from dipstick.indicators.registry import CAUSES
from dipstick.store import Store

from builder import PackageBuilder
from clirun import Ran, dipstick, dipstick_process


def run(*args: str | Path, db: Path | None = None, process: bool = False
        ) -> Ran | subprocess.CompletedProcess[str]:
    """The command in-process, or as a real process when ``process`` (the exit-code tests)."""
    extra = ["--database", f"sqlite:///{db}"] if db else []
    cmd = [*map(str, args)]
    if args[0] in ("check", "report"):
        cmd += extra or ["--no-store"]
    elif extra:
        cmd += extra
    return dipstick_process(*cmd) if process else dipstick(*cmd)


@pytest.fixture
def healthy(tmp_path: Path) -> Path:
    return PackageBuilder(tmp_path / "healthy").healthy().write()


@pytest.fixture
def leaking(tmp_path: Path) -> Path:
    return (PackageBuilder(tmp_path / "leaking").healthy()
            .service("erp", supports=[]).usage("erp", users=20).surveys("erp").write())


def test_exit_0_when_nothing_leaks(healthy: Path) -> None:
    r = run("check", healthy, process=True)
    assert r.returncode == 0, r.stderr
    assert "CRM" in r.stdout and "Leak per month" in r.stdout


def test_exit_1_on_a_leak_and_json_output(leaking: Path) -> None:
    r = run("check", leaking, "--format", "json", process=True)
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)
    assert data["schema"] == JSON_SCHEMA and data["causes"] == list(CAUSES)
    erp = data["services"][0]  # worst first
    assert erp["id"] == "erp"
    assert erp["status"] == "leak" and set(erp["causes"]) == set(CAUSES)
    assert erp["causes"]["alignment"]["leak_per_month"]["formula"]
    assert data["summary"]["leak"] == 1
    lights = [s["status"] for s in data["services"]]   # the summary counts every light
    assert {s.value: data["summary"][s.value] for s in Status} == {
        s.value: lights.count(s.value) for s in Status}


def test_a_check_tunes_its_process_as_a_one_shot(leaking: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """`check` ends with its work, like `streams`: OpenBLAS's spinning threads off (and
    glibc's heap kept, skipped here by the variable that says the caller chose). A value
    the caller set wins."""
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", str(1 << 28))   # this process keeps glibc's
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    assert run("check", leaking, "--format", "json").returncode == 1
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    assert run("check", leaking, "--format", "json").returncode == 1
    assert os.environ["OPENBLAS_NUM_THREADS"] == "4"


def test_service_filter_and_as_of(leaking: Path) -> None:
    r = run("check", leaking, "--service", "crm", "--as-of", "2026-06-30", "-f", "json")
    data = json.loads(r.stdout)
    assert [s["id"] for s in data["services"]] == ["crm"]
    assert data["as_of"] == "2026-06-30" and r.returncode == 0


def test_unknown_service_is_bad_input(leaking: Path) -> None:
    r = run("check", leaking, "--service", "nope")
    assert r.returncode == 2 and "nope" in r.stderr


def test_bad_package_exits_2_names_the_row_and_stores_nothing(tmp_path: Path) -> None:
    b = PackageBuilder(tmp_path / "bad").healthy()
    b.tables["tickets"][6]["service"] = "ghost"
    pkg = b.write()
    db = tmp_path / "app.db"
    r = run("check", pkg, db=db, process=True)
    assert r.returncode == 2
    assert "tickets.csv" in r.stderr and "ghost" in r.stderr and "7" in r.stderr
    j = run("check", pkg, "--format", "json", db=db)
    problem = json.loads(j.stdout)["problems"][0]
    assert (problem["file"], problem["row"], problem["field"], problem["value"]) == (
        "tickets.csv", 7, "service", "ghost")
    with Store.open(f"sqlite:///{db}") as store:
        store.migrate()
        assert store.runs() == []


def test_validate(healthy: Path, tmp_path: Path) -> None:
    assert run("validate", healthy).returncode == 0
    bad = PackageBuilder(tmp_path / "bad").service(monthly_cost=-1).write()
    r = run("validate", bad)
    assert r.returncode == 2 and "monthly_cost" in r.stderr


def test_runs_are_stored_and_listed(leaking: Path, tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    assert run("check", leaking, db=db).returncode == 1
    assert run("check", leaking, "-s", "crm", db=db).returncode == 0
    r = run("runs", "--format", "json", db=db)
    runs = json.loads(r.stdout)
    assert [x["services"] for x in runs] == [1, 2]


def test_unreachable_database_is_a_failure_not_a_traceback(leaking: Path) -> None:
    r = dipstick_process("check", leaking, "--database",
                         "postgresql+psycopg://postgres@127.0.0.1:1/nope", timeout=120)
    assert r.returncode == 3 and "Traceback" not in r.stderr and "not stored" in r.stderr


def test_an_engine_failure_is_exit_3_not_the_leak_code(demo_org: Path, tmp_path: Path) -> None:
    """DuckDB out of memory (a bound far too small for the demo) is no bad input and no leak:
    Python's own exit 1 for an uncaught exception read as "a service leaks" to a scheduler
    (and to benchmarks/engines.py, which found it at 50 M tickets). 1 MB: less than the few
    256 KB blocks any query needs. 20 MB was enough since session 14 (the check spills and
    completes: exit 1), and had sometimes been enough before under load."""
    r = dipstick_process("check", demo_org, "--no-store", "--format", "json",
                         env={"DIPSTICK_MEMORY_LIMIT": "1MB",
                              "DIPSTICK_TEMP_DIRECTORY": str(tmp_path / "spill")},
                         timeout=300)
    assert r.returncode == 3, r.stderr[-2000:]
    assert "OutOfMemory" in r.stderr and "could not finish (exit 3)" in r.stderr
    assert r.stdout == ""


def test_help_everywhere() -> None:
    for cmd in ("check", "validate", "report", "demo", "runs", "indicators", "streams", "alerts"):
        r = dipstick(cmd, "--help")
        assert r.returncode == 0 and "Usage" in r.stdout


def test_report_writes_one_self_contained_file(leaking: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    r = run("report", leaking, "-o", out)
    assert r.returncode == 1, r.stderr
    html = out.read_text()
    assert "ERP" in html and 'src="http' not in html and html.count("plotly.js v") >= 1


def test_indicators_lists_every_cause_with_its_settings() -> None:
    r = dipstick("indicators", "--format", "json")
    rows = json.loads(r.stdout)
    assert [x["cause"] for x in rows] == list(CAUSES)
    assert all(x["action"] and x["settings"] for x in rows)


def test_demo_writes_package_truth_and_report(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    r = dipstick("demo", target, "--seed", "3", "--database", f"sqlite:///{tmp_path / 'app.db'}")
    assert r.returncode == 0, r.stderr
    assert (target / "ground_truth.json").exists() and (target / "report.html").exists()
    assert "Leak per month" in r.stdout


def test_the_demo_runs_again_on_the_same_database(tmp_path: Path) -> None:
    """Users run the demo twice: the second run seeded the first one's actions again (a
    UsageError traceback: a leak takes one open action), and done ones would count twice."""
    from dipstick.store.actions import list_actions

    url = f"sqlite:///{tmp_path / 'app.db'}"
    first = dipstick("demo", tmp_path / "demo", "--database", url)
    assert first.returncode == 0, first.stderr
    with Store.open(url) as store:
        before = [(a["service_id"], a["cause"], a["status"]) for a in list_actions(store)]
    assert before      # the demo seeds actions: the second run has something to repeat
    assert "Seeded" in " ".join(first.stdout.split())
    again = dipstick("demo", tmp_path / "demo", "--database", url)
    assert again.returncode == 0, again.stderr
    said = " ".join(again.stdout.split())
    assert f"Kept the {len(before)} action(s) already on the demo's leaks" in said
    assert "Seeded 0" not in said
    with Store.open(url) as store:
        assert [(a["service_id"], a["cause"], a["status"]) for a in list_actions(store)] == before


def test_version() -> None:
    r = dipstick("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"dipstick {__version__}"


def test_help_keeps_its_brackets() -> None:
    """Rich markup took "[spark]" for a style and printed "dipstick;" (issue 15)."""
    r = dipstick("check", "--help")
    assert "dipstick[spark]" in " ".join(r.stdout.split()).replace("│", "").replace(" ", "")


def test_indicators_prints_plain_numbers() -> None:
    r = dipstick("indicators")
    assert "Threshold(" not in r.stdout and "watch ≤ 7 · leak ≤ 6" in r.stdout
    rows = json.loads(dipstick("indicators", "--format", "json").stdout)
    perception = next(x for x in rows if x["cause"] == "perception")
    assert perception["settings"]["value_score"] == "watch ≤ 7 · leak ≤ 6"


def test_docs_link_only_inside_the_repository() -> None:
    """The data contract was linked at ../../shared, outside the repository (issue 15)."""
    root = Path(__file__).resolve().parent.parent
    outside = []
    for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)", doc.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            resolved = (doc.parent / target).resolve()
            if not resolved.is_relative_to(root) or not resolved.exists():
                outside.append(f"{doc.name}: {target}")
    assert not outside, outside
