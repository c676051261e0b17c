"""`dipstick serve --workers N`: the web app in N uvicorn worker processes.

Several processes answer in parallel on a multi-core machine (issue 16: pulse answers by the
thousand). What one process kept in memory is then per worker, so this module makes it
correct or narrows what the web does (docs/pulse.md, "Several workers"):

* the signing key (sessions, form nonces) must be one for all: the parent passes its key
  (``DIPSTICK_SECRET_KEY`` or one random key for this run) to every worker;
* the database is migrated once, by the parent, before any worker opens it;
* the web's own checks (uploads, ``--package``) keep their progress in one process, so the
  caller refuses them with several workers;
* failure throttles (sign-in, pulse links) count per worker: with N workers a client gets at
  most N times the limits before a 429.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI

from dipstick.settings import secret_key
from dipstick.store import Store
from dipstick.web.app import create_app
from dipstick.web.templating import WebConfig

ENV = "DIPSTICK_WEB_WORKER_CONFIG"


def proxy_options(forwarded_allow_ips: str | None) -> dict[str, Any]:
    """uvicorn's proxy settings: ``X-Forwarded-For``/``-Proto`` are believed only from the
    addresses named (``dipstick serve --forwarded-allow-ips``). uvicorn's own default believes
    them from 127.0.0.1, so any local client — or a proxy passing the header through — could
    pick its address and walk past the throttles; dipstick's default believes no one."""
    ips = (forwarded_allow_ips or "").strip()
    return {"proxy_headers": bool(ips), "forwarded_allow_ips": ips or None}


def serve(config: WebConfig, host: str, port: int, workers: int,
          forwarded_allow_ips: str | None = None) -> None:
    """Migrate, then run ``workers`` processes on one listening socket (blocks)."""
    import uvicorn

    if config.package is not None or config.packages_dir is not None:
        raise ValueError("several workers serve no checks of their own")
    with Store.open(config.database) as store:
        store.migrate()
    shared = asdict(config) | {"secret_key": config.secret_key or secret_key()}
    os.environ[ENV] = json.dumps(shared)       # inherited by the spawned workers
    uvicorn.run(f"{__name__}:worker_app", factory=True, host=host, port=port,
                workers=workers, log_level="warning", backlog=4096,
                **proxy_options(forwarded_allow_ips))


def worker_app() -> FastAPI:
    """One worker's app, from the configuration its parent left in the environment."""
    return create_app(WebConfig(**json.loads(os.environ[ENV])))
