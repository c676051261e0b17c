"""Running checks from the web: load or replace a data package (a zip upload, kept as a new
version; or a folder the admin named when starting the server), run the check with progress,
and keep the run in the same history as ``dipstick check`` (one database).

Checks run one at a time on a worker thread (a check of a large organisation takes seconds
and all of a core; two at once would only each take twice as long). Jobs — queued, running,
done or failed — are kept in memory for this server's life; what lasts is the stored run.

Who may: every signed-in role reads the run history; only admins load packages and run checks
(pages, and the API with a token or with the session's ``X-CSRF-Token`` header).
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from dipstick.bounds import DATE_RANGE, EARLIEST, LATEST
from dipstick.errors import DipstickError, PackageError
from dipstick.package.archive import check_name, current, store_zip
from dipstick.runs import STEPS, check_and_store
from dipstick.store import Store
from dipstick.store.audit import Actor
from dipstick.store.audit_log import record_alone
from dipstick.store.users import Account
from dipstick.web import views
from dipstick.web.api import Offset
from dipstick.web.audit import actor_of, client
from dipstick.web.auth import (
    ApiUser,
    CsrfAhead,
    CsrfForm,
    PageUser,
    allow,
    csrf_ahead,
    store_of,
)
from dipstick.web.context import remember
from dipstick.web.limits import read_form
from dipstick.web.templating import WebConfig, render

router = APIRouter()
log = logging.getLogger("dipstick.web")
KEEP_JOBS = 50
HISTORY_PAGE = 50
JOB_ID = re.compile(r"^[0-9a-f]{16}$")
admin_only = allow("admin")


# --- the packages the web may check -----------------------------------------------------------

def packages(config: WebConfig) -> list[dict[str, str]]:
    """What an admin may check: the folder named at start-up (``dipstick serve --package``) and
    every uploaded package at its current version. Chosen by ``key``, never by a path typed in
    a form: the web cannot make the server read a folder nobody configured."""
    found = []
    if config.package is not None:
        found.append({"key": "configured", "name": config.package.name,
                      "path": str(config.package.resolve()), "source": "configured",
                      "version": ""})
    if config.packages_dir is not None:
        found += [{"key": f"upload:{p.name}", "name": p.name, "path": str(p.path.resolve()),
                   "source": "uploaded", "version": p.version}
                  for p in current(config.packages_dir)]
    return found


def chosen(config: WebConfig, key: str) -> tuple[Path, str]:
    """The path and name of the package an admin chose by key (404 for any other key)."""
    for p in packages(config):
        if p["key"] == key:
            return Path(p["path"]), p["name"]
    raise HTTPException(404, f"no data package {key!r}: choose one of those listed at "
                             "/api/packages")


# --- jobs -------------------------------------------------------------------------------------

@dataclass
class Job:
    """One check asked for from the web, as it goes."""

    id: str
    package: str
    label: str
    who: str
    as_of: date | None
    source: str = ""                 # the client's address, for the audit trail
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    state: str = "queued"            # queued → running → done | failed
    step: int = 0
    total: int = STEPS
    doing: str = "waiting for the check before it"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    run_id: int | None = None
    summary: dict[str, Any] | None = None
    currency: str | None = None
    error: str | None = None
    problems: list[dict[str, object]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")

    def to_json(self) -> dict[str, Any]:
        def iso(t: datetime | None) -> str | None:
            return t.isoformat() if t else None

        return {"id": self.id, "package": self.label, "path": self.package, "who": self.who,
                "as_of": self.as_of.isoformat() if self.as_of else None, "state": self.state,
                "progress": {"step": min(self.step, self.total), "total": self.total,
                             "doing": self.doing},
                "created_at": iso(self.created_at), "started_at": iso(self.started_at),
                "finished_at": iso(self.finished_at), "run_id": self.run_id,
                "summary": self.summary, "currency": self.currency, "error": self.error,
                "problems": self.problems}


class Jobs:
    """The web's checks: one worker, the latest jobs remembered."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dipstick-check")

    def submit(self, store: Store, path: Path, label: str, who: Account,
               as_of: date | None, source: str = "") -> Job:
        job = Job(secrets.token_hex(8), str(path), label, who.email, as_of, source)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP_JOBS:
                oldest = next(iter(self._jobs.values()))
                if not oldest.finished:
                    break
                self._jobs.popitem(last=False)
        self._worker.submit(self._run, store, job)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def recent(self) -> list[Job]:
        with self._lock:
            return list(reversed(self._jobs.values()))

    def shutdown(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def _run(store: Store, job: Job) -> None:
        job.state, job.started_at, job.doing = "running", datetime.now(UTC), "starting"

        def step(what: str) -> None:
            job.step += 1
            job.doing = what

        try:
            checked = check_and_store(Path(job.package), store, f"web check {job.label} "
                                      f"(by {job.who})", job.as_of, step,
                                      actor=Actor(job.who, job.source))
        except PackageError as e:
            job.error = f"the data package is not valid: {len(e.problems)} problem(s)"
            job.problems = [p.as_dict() for p in e.problems]
        except DipstickError as e:
            job.error = str(e)
        except Exception:   # the page must say it failed, not spin for ever
            log.exception("web check %s of %s failed", job.id, job.package)
            job.error = "the check failed unexpectedly (the server log says why)"
        else:
            result = checked.result
            if checked.context is not None:
                remember(job.package, result.as_of, checked.context)
            views.forget_model(job.package)
            job.run_id = checked.run_id
            job.summary = result.to_json()["summary"]
            job.currency = result.currency
            job.step, job.doing = job.total, "done"
        job.finished_at = datetime.now(UTC)
        job.state = "failed" if job.error else "done"


def jobs_of(request: Request) -> Jobs:
    jobs: Jobs = request.app.state.jobs
    return jobs


def config_of(request: Request) -> WebConfig:
    config: WebConfig = request.app.state.config
    return config


def find_job(request: Request, job_id: str) -> Job:
    job = jobs_of(request).get(job_id) if JOB_ID.match(job_id) else None
    if job is None:
        raise HTTPException(404, f"no check {job_id!r} on this server (jobs last while it runs; "
                                 "stored runs are at /api/runs)")
    return job


# --- callers who may change things ------------------------------------------------------------

def page_admin(who: PageUser) -> Account:
    """An admin's session (checked before the form is read: others get 403, not 422)."""
    admin_only(who)
    return who


PageAdmin = Annotated[Account, Depends(page_admin)]

def api_admin(request: Request, who: ApiUser) -> Account:
    """An admin by token, or by session with the page's form token in ``X-CSRF-Token`` (a
    session cookie alone could be a forged cross-site request)."""
    admin_only(who)
    csrf_ahead(request)
    return who


ApiAdmin = Annotated[Account, Depends(api_admin)]


def _uploads_dir(request: Request) -> Path:
    """Where uploads go (409 when they are off), asked before the body is read."""
    folder = config_of(request).packages_dir
    if folder is None:
        raise HTTPException(409, "uploads are off: start the server with --packages-dir")
    return folder


async def _uploaded(request: Request) -> tuple[UploadFile, str | None, bool]:
    """The upload's fields — read only now, after the caller and the form token were checked
    (dipstick.web.limits bounds the body while it streams in)."""
    form = await read_form(request, max_files=1, max_fields=10)
    file, name, check = form.get("file"), form.get("name"), form.get("check")
    if not isinstance(file, UploadFile):
        raise HTTPException(422, "file: choose a zip file to upload")
    if name is not None and (not isinstance(name, str) or len(name) > 63):
        raise HTTPException(422, "name: at most 63 characters")
    return file, name or None, check in ("true", "on", "1")


def _upload(request: Request, file: UploadFile, name: str | None) -> dict[str, Any]:
    folder = _uploads_dir(request)
    filename = Path(file.filename or "upload.zip").name
    chosen = (name or "").strip().lower() or _name_from(filename)
    try:
        stored = store_zip(file.file, folder, check_name(chosen), filename)
    except PackageError as e:
        raise HTTPException(422, {"message": "the data package was not loaded: nothing was "
                                             "replaced", "problems": [p.as_dict()
                                                                      for p in e.problems]}
                            ) from None
    return {"key": f"upload:{stored.name}", **stored.to_json()}


def _audit_upload(request: Request, who: Account, stored: dict[str, Any]) -> None:
    """A package stored on disk (not a database change: audited on its own)."""
    record_alone(store_of(request), actor_of(request, who), "package.upload", stored["name"],
                 {"version": stored["version"]})


def _name_from(filename: str) -> str:
    stem = re.sub(r"[^a-z0-9_-]+", "-", Path(filename).stem.lower()).strip("-_")
    return stem[:63] or "package"


def _as_of(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"as_of: {value!r} is not a date (YYYY-MM-DD)") from None


# --- pages ------------------------------------------------------------------------------------

@router.get("/runs", response_class=HTMLResponse, include_in_schema=False)
def runs_page(request: Request, who: PageUser,
              offset: Offset = 0) -> HTMLResponse:
    return _runs_page(request, who, offset)


def _runs_page(request: Request, who: Account, offset: int,
               problems: list[dict[str, object]] | None = None, status: int = 200
               ) -> HTMLResponse:
    """The history for everyone; for admins also the packages, the forms and the jobs."""
    admin = who.role == "admin"
    history = views.runs(store_of(request), HISTORY_PAGE, offset)
    return render(request, "runs.html.j2", who, status=status, history=history,
                  packages=packages(config_of(request)) if admin else [],
                  uploads=config_of(request).packages_dir is not None,
                  jobs=[j.to_json() for j in jobs_of(request).recent()] if admin else [],
                  admin=admin, problems=problems)


@router.post("/runs", include_in_schema=False, response_model=None)
def start_page(request: Request, who: PageAdmin, _: CsrfForm,
               package: Annotated[str, Form(max_length=100)],
               as_of: Annotated[str | None, Form(max_length=10)] = None) -> Response:
    path, name = chosen(config_of(request), package)
    job = jobs_of(request).submit(store_of(request), path, name, who, _as_of(as_of),
                                  client(request))
    return RedirectResponse(f"/runs/jobs/{job.id}", status_code=303)


@router.post("/runs/upload", include_in_schema=False, response_model=None)
async def upload_page(request: Request, who: PageAdmin, _: CsrfAhead) -> Response:
    """The page's upload: the form token rides in the action's query (``csrf_token``), so it
    is checked — and the caller's role — before the zip is read."""
    _uploads_dir(request)
    file, name, check = await _uploaded(request)
    try:
        stored = await run_in_threadpool(_upload, request, file, name)
    except HTTPException as e:
        if e.status_code != 422 or not isinstance(e.detail, dict):
            raise
        return await run_in_threadpool(_runs_page, request, who, 0, e.detail["problems"], 422)
    finally:
        await file.close()
    await run_in_threadpool(_audit_upload, request, who, stored)
    if not check:
        return RedirectResponse("/runs", status_code=303)
    job = jobs_of(request).submit(store_of(request), Path(stored["path"]), stored["name"], who,
                                  None, client(request))
    return RedirectResponse(f"/runs/jobs/{job.id}", status_code=303)


@router.get("/runs/jobs/{job_id}", response_class=HTMLResponse, include_in_schema=False)
def job_page(request: Request, job_id: str, who: PageAdmin) -> HTMLResponse:
    job = find_job(request, job_id)
    partial = bool(request.headers.get("hx-request"))
    return render(request, "_job.html.j2" if partial else "job.html.j2", who, job=job.to_json())


# --- the API ----------------------------------------------------------------------------------

class CheckRequest(BaseModel):
    package: str = Field(max_length=100, description="a key from /api/packages")
    as_of: date | None = Field(None, ge=EARLIEST, le=LATEST, description=(
        f"check as of this date, {DATE_RANGE} (default: the package's as_of or its latest "
        "signal)"))


@router.get("/api/runs/{run_id}", tags=["api"])
def run_api(request: Request, run_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
            who: ApiUser) -> dict[str, Any]:
    """One stored check as ``dipstick check --format json`` printed it (docs/check-json.md)."""
    try:
        return store_of(request).load_run(run_id) | {"run_id": run_id}
    except DipstickError:
        raise HTTPException(404, f"no stored run {run_id}") from None


@router.get("/api/packages", tags=["api"])
def packages_api(request: Request, who: ApiUser) -> dict[str, Any]:
    """The data packages admins may check from the web (admins only: they name server paths)."""
    admin_only(who)
    return {"packages": packages(config_of(request))}


UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {
    "schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "the package's zip"},
        "name": {"type": "string", "maxLength": 63,
                 "description": "the package's name (default: the file's)"}}}}}}}


@router.post("/api/packages", tags=["api"], status_code=201, openapi_extra=UPLOAD_BODY)
async def upload_api(request: Request, who: ApiAdmin) -> dict[str, Any]:
    """Load a data package from a zip (dipstick.yaml at its root or in one top folder) as a
    new version of ``name`` (default: the file's name). It is validated first: on any
    problem, 422 lists them (file, row, field, value) and nothing is replaced. The caller
    (and a session's ``X-CSRF-Token``) is checked before the zip is read."""
    _uploads_dir(request)
    file, name, _ = await _uploaded(request)
    try:
        stored = await run_in_threadpool(_upload, request, file, name)
    finally:
        await file.close()
    await run_in_threadpool(_audit_upload, request, who, stored)
    return stored


@router.post("/api/runs", tags=["api"], status_code=202)
def start_api(request: Request, who: ApiAdmin, body: CheckRequest) -> dict[str, Any]:
    """Start a check of a package (admins); follow it at ``/api/runs/jobs/{id}``. When it is
    done, ``run_id`` is the stored run."""
    path, name = chosen(config_of(request), body.package)
    return jobs_of(request).submit(store_of(request), path, name, who, body.as_of,
                                   client(request)).to_json()


@router.get("/api/runs/jobs/{job_id}", tags=["api"])
def job_api(request: Request, job_id: str, who: ApiUser) -> JSONResponse:
    """A web check's state and progress (admins)."""
    admin_only(who)
    return JSONResponse(find_job(request, job_id).to_json())

