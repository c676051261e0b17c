"""The data behind each page, built once and rendered as HTML or as JSON (the API returns the
same dictionaries the templates read), so a page and its API can never disagree.

Speed with 2,000+ services: a stored run never changes, so its dictionary (and the portfolio
rows derived from it) is read from the database once and kept in memory, keyed by run id and
start time; a request then costs two small queries (which run is the latest, and the one before)
plus filtering a few thousand dictionaries in Python. The value model (capabilities, consuming
groups) comes from :func:`dipstick.web.context.run_context`: stored with the run, read in a
fraction of a second; for a run stored before migration 0011 it re-checks the package — seconds
for a large organisation — so it is loaded in the background and the page says so meanwhile.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar
from urllib.parse import quote

from markupsafe import Markup

from dipstick.figures import HEATMAP_LIMIT, json_island, status_heatmap
from dipstick.store import Store
from dipstick.store.actions import latest_by_leak
from dipstick.store.runs import latest_two, run_page
from dipstick.web.context import Missing, RunContext, run_context, settle

STATUS_ORDER = {"leak": 0, "watch": 1, "unknown": 2, "ok": 3, "n/a": 4}
STATUSES = ("leak", "watch", "unknown", "ok")   # a service's overall light is never n/a
LIFECYCLES = ("pipeline", "live", "retiring", "retired")
DEFAULT_LIMIT = 200
MAX_LIMIT = 1000
KEEP_RUNS = 4            # run dictionaries kept in memory (the latest and its previous, per DB)
MODEL_WAIT_S = 5.0       # how long a request waits for the value model before answering without
PAGE_MODEL_WAIT_S = 30.0  # … on pages that are mostly the model (a service's story, value map)
TOP_LEAKS = 10           # the largest leaks the portfolio opens on (what to act on first)
CHANGES_LIMIT = 100      # new / ended leaks listed on the page (the counts are always complete)

log = logging.getLogger("dipstick.web")
K = TypeVar("K")
V = TypeVar("V")


class _Lru(OrderedDict[K, V]):
    """A small thread-safe memo: the few latest runs and figures, not a growing heap."""

    def __init__(self, keep: int) -> None:
        super().__init__()
        self.keep = keep
        self.lock = threading.Lock()
        self.building: dict[K, threading.Lock] = {}

    def get_or(self, key: K, build: Callable[[], V]) -> V:
        """The kept value, else built once: concurrent askers of one key wait for the one
        build (20 clients arriving after a start must not load the same run 20 times)."""
        with self.lock:
            if key in self:
                self.move_to_end(key)
                return self[key]
            pending = self.building.setdefault(key, threading.Lock())
        with pending:   # outside the lock: a slow load must not block other keys' readers
            with self.lock:
                if key in self:
                    return self[key]
            try:
                value = build()
                with self.lock:
                    self[key] = value
                    while len(self) > self.keep:
                        self.popitem(last=False)
            finally:
                with self.lock:
                    self.building.pop(key, None)
        return value


@dataclass(frozen=True)
class _Loaded:
    """A stored run read once: its dictionary and its portfolio rows, worst first."""

    doc: dict[str, Any]
    rows: list[dict[str, Any]]
    leaks: frozenset[tuple[str, str]]     # (service id, cause) in leak


_runs: _Lru[tuple[str, int, str], _Loaded] = _Lru(KEEP_RUNS)
_figures: _Lru[tuple[Any, ...], Markup] = _Lru(8)
_views: _Lru[tuple[Any, ...], dict[str, Any]] = _Lru(32)   # portfolio views (without actions)
_drawn: _Lru[Hashable, Markup] = _Lru(16)                  # their rendered tables
_models: dict[tuple[str, str, int | None], Future[RunContext | Missing]] = {}
_models_lock = threading.Lock()
_loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dipstick-model")


@dataclass(frozen=True)
class Filters:
    """What the portfolio shows: the page's form fields and the API's query parameters alike.
    Empty values mean "any"; ``q`` searches id, name, owner and capability."""

    owner: str | None = None
    group: str | None = None
    lifecycle: str | None = None
    capability: str | None = None
    cause: str | None = None
    status: str | None = None
    q: str | None = None

    @classmethod
    def of(cls, **values: str | None) -> Filters:
        return cls(**{k: (v.strip() or None) if v else None for k, v in values.items()})

    def active(self) -> dict[str, str]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v}


MODEL_FILTERS = ("group", "capability")


# --- the runs ---------------------------------------------------------------------------------

def _run_key(store: Store, run_id: int, started_at: datetime) -> tuple[str, int, str]:
    # the start time too: SQLite may reuse the id of a deleted newest run
    return (store.url, run_id, started_at.isoformat())


def _load(store: Store, run_id: int, started_at: datetime) -> _Loaded:
    def build() -> _Loaded:
        # no evidence or coverage: the lists need none, and decoding them is most of a large
        # run's load (a service page reads its own: ``service.find``)
        doc = store.load_run(run_id, details=False) | {"run_id": run_id}
        rows = sorted((_row(s, doc["causes"]) for s in doc["services"]), key=lambda r: (
            STATUS_ORDER.get(r["status"], 9), -r["leak_per_month"]["money"], -r["score"],
            r["id"]))
        # measured leaks only: a self-assessed one is an opinion, not a change seen in data
        # (alerts skip it alike)
        leaks = frozenset((s["id"], c) for s in doc["services"]
                          for c, f in s["causes"].items()
                          if f["status"] == "leak" and f.get("basis") != "self-assessed")
        loaded = _Loaded(doc, rows, leaks)
        # long-lived: out of the collector's way (see context.settle); a full cache is about
        # to drop a run, which the collection then frees
        settle(collect=len(_runs) >= _runs.keep)
        return loaded

    return _runs.get_or(_run_key(store, run_id, started_at), build)


def _row(s: dict[str, Any], causes: list[str]) -> dict[str, Any]:
    return {
        "id": s["id"], "name": s["name"], "owner": s["owner"], "lifecycle": s["lifecycle"],
        "url": f"/services/{quote(s['id'], safe='')}",
        "status": s["status"], "score": s["score"], "since": s["since"],
        # low/high: the money's range (runs stored before ranges have none)
        "leak_per_month": {k: s["leak_per_month"].get(k) for k in ("money", "hours", "cause",
                                                                   "low", "high")},
        # the remedy of the cause behind the leak, what the largest-leaks table recommends
        "recommended": (s["causes"].get(s["leak_per_month"]["cause"] or "") or {}).get(
            "action") or "",
        "lights": {c: s["causes"][c]["status"] for c in causes if c in s["causes"]},
        # the causes lit by the owner's self-assessment, not by data (runs stored before
        # self-assessments have none)
        "self_assessed": [c for c in causes if c in s["causes"]
                          and s["causes"][c].get("basis") == "self-assessed"],
        # the episode behind each leak in one line (runs stored before episodes have none)
        "episodes": [e["story"] for e in s.get("episodes") or []],
    }


def latest_run(store: Store) -> dict[str, Any] | None:
    """The newest stored check (the one started last), as the CLI stored it, plus ``run_id``,
    without its details (each cause's ``evidence`` and ``coverage`` are ``None``). Shared,
    cached: do not modify it."""
    latest, _ = latest_two(store)
    return _load(store, latest.id, latest.started_at).doc if latest else None


def runs(store: Store, limit: int = 20, offset: int = 0) -> dict[str, Any]:
    """The stored runs, newest first, one page of them with the total."""
    total, rows = run_page(store, limit, offset)
    return {"total": total, "limit": limit, "offset": offset, "runs": [{
        "id": r.id, "started_at": _iso(r.started_at), "finished_at": _iso(r.finished_at),
        "command": r.command, "as_of": r.as_of.isoformat(), "organisation": r.organisation,
        "package": r.package, "currency": r.currency, "services": r.services_count,
        "counts": {"leak": r.leak_count, "watch": r.watch_count, "unknown": r.unknown_count,
                   "ok": r.ok_count},
        "leak_per_month": {"money": round(r.leak_money, 2), "hours": round(r.leak_hours, 1)},
    } for r in rows]}


def _iso(t: datetime) -> str:
    return t.isoformat()


# --- the value model, loaded in the background ------------------------------------------------

def model_context(package: str, as_of: date, wait: float = MODEL_WAIT_S,
                  store: Store | None = None, run_id: int | None = None
                  ) -> RunContext | Missing:
    """The run's context (stored with it, else a re-check), waiting at most ``wait`` seconds:
    a re-check of a large organisation takes longer than a page may, so the page answers
    without it (saying why) and the next request finds it ready."""
    key = (package, as_of.isoformat(), run_id)
    with _models_lock:
        future = _models.get(key)
        if future is None:
            future = _loader.submit(run_context, package, as_of, store, run_id)
            _models[key] = future
            while len(_models) > KEEP_RUNS:
                _models.pop(next(iter(_models)))
    try:
        return future.result(timeout=wait)
    except FutureTimeout:
        return Missing("the value model of this run is still loading (a re-check of its data "
                       "package); reload in a moment")
    except Exception:   # a bug in the loader must not take the portfolio down with it
        log.exception("loading the value model of %s as of %s failed", package, as_of)
        with _models_lock:
            _models.pop(key, None)
        return Missing("the value model could not be loaded (the server log says why)")


def latest_context(store: Store, wait: float = PAGE_MODEL_WAIT_S
                   ) -> tuple[dict[str, Any], RunContext | None]:
    """The latest run's header (``run``; None before any check) and ``missing`` (why its
    package cannot be read back, else None), with the run's context when there is one — the
    one loader of the pages that are mostly the value model (value map, streams, journeys)."""
    run = latest_run(store)
    if run is None:
        return {"run": None, "missing": None}, None
    head = {k: run[k] for k in ("run_id", "organisation", "currency", "as_of", "package")}
    found = model_context(run["package"], date.fromisoformat(run["as_of"]), wait, store,
                          run["run_id"])
    if isinstance(found, Missing):
        return {"run": head, "missing": found.reason}, None
    return {"run": head, "missing": None}, found


def page_of(items: list[Any], limit: int, offset: int) -> tuple[list[Any], dict[str, int]]:
    """One page of a list the API returns whole in the page, and how to ask for the next."""
    return items[offset:offset + limit], {"total": len(items), "limit": limit, "offset": offset}


def forget_model(package: str) -> None:
    """Drop the loaded models of a package that was just checked again (its content may have
    changed under the same path and date)."""
    with _models_lock:
        for key in [k for k in _models if k[0] == package]:
            _models.pop(key)


# --- the portfolio ----------------------------------------------------------------------------

def _matches(row: dict[str, Any], f: Filters, model_ok: bool, with_cause: bool = True) -> bool:
    if f.owner and row["owner"] != f.owner:
        return False
    if f.lifecycle and row["lifecycle"] != f.lifecycle:
        return False
    if f.status and row["status"] != f.status:
        return False
    if with_cause and f.cause and row["lights"].get(f.cause) not in ("leak", "watch"):
        return False
    if model_ok:
        if f.capability and row.get("capability") != f.capability:
            return False
        if f.group and f.group not in row.get("consumers", ()):
            return False
    if f.q:
        needle = f.q.casefold()
        return any(needle in (row.get(k) or "").casefold()
                   for k in ("id", "name", "owner", "capability"))
    return True


def _totals(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    counts = dict.fromkeys(STATUSES, 0)
    money = hours = 0.0
    n = 0
    for r in rows:
        n += 1
        counts[r["status"]] = counts.get(r["status"], 0) + 1
        money += r["leak_per_month"]["money"]
        hours += r["leak_per_month"]["hours"]
    return {"services": n, **counts,
            "leak_per_month": {"money": round(money, 2), "hours": round(hours, 1)}}


def _with_model(rows: list[dict[str, Any]], ctx: RunContext | Missing) -> list[dict[str, Any]]:
    """The rows with each service's capability and consuming groups from the value model."""
    if isinstance(ctx, Missing):
        return [r | {"capability": None, "consumers": []} for r in rows]
    facts = {s.id: (s.capability, list(s.consumers)) for s in ctx.model.services}
    return [r | {"capability": facts.get(r["id"], (None, []))[0],
                 "consumers": facts.get(r["id"], (None, []))[1]} for r in rows]


def _changes(now: _Loaded, before: _Loaded | None, rows_now: list[dict[str, Any]],
             f: Filters, model_ok: bool, ctx: RunContext | Missing) -> dict[str, Any] | None:
    """Leaks (service × cause) in this run and not the previous (new), and the reverse
    (ended), limited to the services the filters select."""
    if before is None:
        return None
    by_id = {r["id"]: r for r in rows_now}
    checked_now = set(by_id)
    gone = _with_model([r for r in before.rows if r["id"] not in by_id], ctx)
    by_id.update({r["id"]: r for r in gone})
    shown = {i for i, r in by_id.items() if _matches(r, f, model_ok, with_cause=False)}

    def listed(pairs: frozenset[tuple[str, str]], run: _Loaded) -> list[dict[str, Any]]:
        services = {s["id"]: s for s in run.doc["services"]}
        out = []
        for sid, cause in pairs:
            if sid not in shown or (f.cause and cause != f.cause):
                continue
            finding = services[sid]["causes"][cause]
            out.append({"service": sid, "name": services[sid]["name"],
                        "url": by_id[sid]["url"], "cause": cause,
                        "since": finding.get("since"), "summary": finding["summary"],
                        "leak_per_month": {"money": finding["leak_per_month"]["money"],
                                           "hours": finding["leak_per_month"]["hours"]},
                        "checked_now": sid in checked_now})
        return sorted(out, key=lambda c: (-c["leak_per_month"]["money"], c["name"], c["cause"]))

    new = listed(now.leaks - before.leaks, now)
    ended = listed(before.leaks - now.leaks, before)
    return {
        "previous": {"run_id": before.doc["run_id"], "as_of": before.doc["as_of"]},
        "new": new, "ended": ended,
        "new_leak_per_month": _sum_leaks(new), "ended_leak_per_month": _sum_leaks(ended),
    }


def _sum_leaks(items: list[dict[str, Any]]) -> dict[str, float]:
    return {"money": round(sum(c["leak_per_month"]["money"] for c in items), 2),
            "hours": round(sum(c["leak_per_month"]["hours"] for c in items), 1)}


def empty_portfolio() -> dict[str, Any]:
    return {"run": None, "services": [], "causes": [], "summary": None, "total": 0,
            "limit": DEFAULT_LIMIT, "offset": 0, "filters": {}, "ignored": [], "facets": {},
            "model": {"available": False, "reason": "no check stored yet"}, "matched": None,
            "changes": None, "top": []}


def portfolio(store: Store, filters: Filters | None = None, limit: int = DEFAULT_LIMIT,
              offset: int = 0, model_wait: float = MODEL_WAIT_S,
              figure: bool = False) -> dict[str, Any]:
    """The latest run's services, worst first, filtered and one page of them; the whole
    portfolio's totals and the selection's; what changed since the previous run of the same
    organisation; the values the filters can take. ``figure``: also the heatmap (pages only;
    a figure is a rendering of these numbers, not more data)."""
    return portfolio_keyed(store, filters, limit, offset, model_wait, figure)[1]


def portfolio_keyed(store: Store, filters: Filters | None = None, limit: int = DEFAULT_LIMIT,
                    offset: int = 0, model_wait: float = MODEL_WAIT_S, figure: bool = False
                    ) -> tuple[Hashable, dict[str, Any]]:
    """:func:`portfolio` and a key that changes whenever the view does (its runs, context,
    question and the actions it shows), for memos of what is drawn from it (``cached``)."""
    f = filters or Filters()
    limit = max(1, min(limit, MAX_LIMIT))
    offset = max(0, offset)
    latest, prev = latest_two(store)
    if latest is None:
        return None, empty_portfolio() | {"limit": limit, "offset": offset}
    now = _load(store, latest.id, latest.started_at)
    before = _load(store, prev.id, prev.started_at) if prev else None
    run = now.doc
    ctx = model_context(run["package"], latest.as_of, model_wait, store, latest.id)
    # a stored run never changes: the view of the same runs, context and question is built
    # once (a 2,040-service selection took ~30 ms a request); only the actions are read anew
    key = (_run_key(store, latest.id, latest.started_at),
           _run_key(store, prev.id, prev.started_at) if prev else None,
           id(ctx) if isinstance(ctx, RunContext) else ctx.reason, f, limit, offset, figure)
    view = _views.get_or(key, lambda: _portfolio(now, before, ctx, f, limit, offset, figure))
    acts = latest_by_leak(store, run["organisation"])
    # the page opens on these: worst first is leak first, then by money; each with the newest
    # action on its leak (rows are shared: copied, not changed)
    top = [{**r, "action": acts.get((r["id"], r["leak_per_month"]["cause"]))}
           for r in view["top"]]
    shown = tuple(tuple(sorted(t["action"].items())) if t["action"] else None for t in top)
    return (key, shown), view | {"top": top}


def cached(key: Hashable, draw: Callable[[], Markup]) -> Markup:
    """A piece of page drawn from a view, drawn once per ``portfolio_keyed`` key (``None``:
    not kept): the portfolio's 200 rows took ~40 ms to render, most of a request."""
    return draw() if key is None else _drawn.get_or(key, draw)


def _portfolio(now: _Loaded, before: _Loaded | None, ctx: RunContext | Missing, f: Filters,
               limit: int, offset: int, figure: bool) -> dict[str, Any]:
    run = now.doc
    model_ok = isinstance(ctx, RunContext)
    rows = _with_model(now.rows, ctx)
    matched = [r for r in rows if _matches(r, f, model_ok)]
    active = f.active()
    ignored = [] if model_ok else [k for k in MODEL_FILTERS if k in active]
    groups: list[dict[str, str]] = []
    capabilities: list[str] = []
    if isinstance(ctx, RunContext):
        groups = [{"id": g.id, "name": g.name, "kind": g.kind}
                  for g in ctx.model.stakeholder_groups]
        capabilities = sorted({r["capability"] for r in rows if r["capability"]})
    view = {
        "run": {**{k: run[k] for k in ("run_id", "organisation", "currency", "as_of", "window",
                                       "package")},
                "as_of_reason": run.get("as_of_reason", ""), "coverage": run.get("coverage", [])},
        "causes": run["causes"],
        "summary": run["summary"],
        "filters": {k: v for k, v in active.items() if k not in ignored},
        "ignored": ignored,
        "model": {"available": model_ok,
                  "reason": ctx.reason if isinstance(ctx, Missing) else None},
        "facets": {
            "owners": sorted({r["owner"] for r in rows if r["owner"]}),
            "lifecycles": [c for c in LIFECYCLES if any(r["lifecycle"] == c for r in rows)],
            "capabilities": capabilities, "groups": groups,
            "causes": run["causes"], "statuses": list(STATUSES),
        },
        # all of them: the run's own totals (sums of rounded rows would differ by a cent)
        "matched": run["summary"] if len(matched) == len(rows) else _totals(matched),
        "changes": _changes(now, before, rows, f, model_ok, ctx),
        "total": len(matched), "limit": limit, "offset": offset,
        "services": matched[offset:offset + limit],
        "top": [r for r in matched if r["status"] == "leak"][:TOP_LEAKS],   # actions: later
    }
    if figure:
        view["heatmap"] = (_heatmap(run, ctx, {r["id"] for r in matched})
                           if isinstance(ctx, RunContext) else None)
    return view


# --- the heatmap ------------------------------------------------------------------------------

def _heatmap(run: dict[str, Any], ctx: RunContext, wanted: set[str]) -> dict[str, Any]:
    """The lights heatmap of the selected services (all pages, the worst HEATMAP_LIMIT of
    them), drawn from the run's re-check, each row linking to its service page."""
    key = (run["run_id"], run["package"], run["as_of"], id(ctx), tuple(sorted(wanted)))

    def build() -> Markup:
        verdicts = tuple(v for v in ctx.result.verdicts if v.service.id in wanted)
        fig = status_heatmap(dataclasses.replace(ctx.result, verdicts=verdicts))
        ids = fig.layout.meta["service_ids"]
        fig.update_layout(meta=dict(fig.layout.meta) | {
            "links": [f"/services/{quote(i, safe='')}" for i in ids]})
        return json_island(fig)

    shown = sum(1 for v in ctx.result.verdicts if v.service.id in wanted)
    return {"json": _figures.get_or(key, build), "shown": min(shown, HEATMAP_LIMIT),
            "total": shown, "limit": HEATMAP_LIMIT}
