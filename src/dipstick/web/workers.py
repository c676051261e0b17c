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

from fastapi import FastAPI

from dipstick.settings import secret_key
from dipstick.store import Store
from dipstick.web.app import create_app
from dipstick.web.templating import WebConfig

ENV = "DIPSTICK_WEB_WORKER_CONFIG"


def serve(config: WebConfig, host: str, port: int, workers: int) -> None:
    """Migrate, then run ``workers`` processes on one listening socket (blocks)."""
    import uvicorn

    if config.package is not None or config.packages_dir is not None:
        raise ValueError("several workers serve no checks of their own")
    with Store.open(config.database) as store:
        store.migrate()
    shared = asdict(config) | {"secret_key": config.secret_key or secret_key()}
    os.environ[ENV] = json.dumps(shared)       # inherited by the spawned workers
    uvicorn.run(f"{__name__}:worker_app", factory=True, host=host, port=port,
                workers=workers, log_level="warning", backlog=4096)


def worker_app() -> FastAPI:
    """One worker's app, from the configuration its parent left in the environment."""
    return create_app(WebConfig(**json.loads(os.environ[ENV])))
