"""A database already at the newest migration is not handed to Alembic (issue 16: storing a
run ≤ 1 s more than the check; importing Alembic alone cost ~0.3 s of it), and a check's
reads and writes never configure the ORM (~0.15 s). What guards it: ``Store.HEAD`` is
Alembic's head, an older schema is still upgraded, and a check that stores into a migrated
database loads neither (in a fresh interpreter: what a process did is what is under test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from dipstick.store import HEAD, MIGRATIONS, Store

PROBE = """
import json, sys
from typer.testing import CliRunner
from dipstick.cli import app
from dipstick.store.tables import Run
code = CliRunner().invoke(app, json.loads(sys.argv[1])).exit_code
orm = any(m.configured for m in Run.__mapper__.registry.mappers)
print(json.dumps({"code": code, "alembic": "alembic" in sys.modules, "orm": orm}))
"""


def test_head_is_alembics_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD


def test_an_older_schema_is_still_upgraded(url: str) -> None:
    with Store.open(url) as store:
        store.migrate("0012")
        assert store.revision() == "0012"
        store.migrate()
        assert store.revision() == HEAD
        with store.engine.connect() as conn:   # 0013's table is there
            assert conn.execute(text("SELECT COUNT(*) FROM audit_log")).scalar_one() == 0
        store.migrate()   # at head: nothing to do, nothing breaks
        assert store.revision() == HEAD


def test_a_check_storing_into_a_migrated_database_loads_neither_alembic_nor_the_orm(
        demo_org: Path, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'app.db'}"
    args = ["check", str(demo_org), "--format", "json", "--database", database]
    answers = []
    for _ in range(2):   # the first run migrates the new file, the second finds it at head
        done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], cwd=tmp_path,
                              capture_output=True, text=True, check=True)
        answers.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert [a["code"] for a in answers] == [1, 1]   # the demo leaks: stored both times
    assert [a["alembic"] for a in answers] == [True, False]
    # its reads (check-ins, answers, self-assessments, done actions) and writes are Core:
    # configuring the ORM's mappers cost ~0.15 s; nothing to settle, no session needed
    assert [a["orm"] for a in answers] == [False, False]
    with Store.open(database) as store:
        assert len(store.runs()) == 2
