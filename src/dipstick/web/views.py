"""The data behind each page, built once and rendered as HTML or as JSON (the API returns the
same dictionaries the templates read), so a page and its API can never disagree."""

from __future__ import annotations

from typing import Any

from dipstick.store import Store

STATUS_ORDER = {"leak": 0, "watch": 1, "unknown": 2, "ok": 3}


def latest_run(store: Store) -> dict[str, Any] | None:
    """The newest stored check (by as-of date, then start), as the CLI stored it."""
    runs = store.runs(limit=1)
    return store.load_run(runs[0].id) | {"run_id": runs[0].id} if runs else None


def portfolio(store: Store) -> dict[str, Any]:
    """The lights of every service in the latest run, worst first, with the totals."""
    run = latest_run(store)
    if run is None:
        return {"run": None, "services": [], "causes": [], "summary": None}
    services = sorted(run["services"], key=lambda s: (
        STATUS_ORDER.get(s["status"], 9), -s["leak_per_month"]["money"], -s["score"], s["id"]))
    return {
        "run": {k: run[k] for k in ("run_id", "organisation", "currency", "as_of", "window",
                                    "package")},
        "causes": run["causes"],
        "summary": run["summary"],
        "services": [{
            "id": s["id"], "name": s["name"], "owner": s["owner"], "lifecycle": s["lifecycle"],
            "status": s["status"], "score": s["score"], "since": s["since"],
            "leak_per_month": s["leak_per_month"],
            "lights": {c: s["causes"][c]["status"] for c in run["causes"] if c in s["causes"]},
        } for s in services],
    }
