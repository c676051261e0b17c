"""Bounded driver (issue 18): the check on Spark ``local[2]`` with the driver JVM's heap capped
at 512 MB completes on a partitioned Parquet package whose ticket ids alone are larger than
that heap, and answers as DuckDB does (bounded by its memory limit, spilling to disk).

What it proves: no table passes through the driver. The old path (every table loaded by
DuckDB, handed to Spark through Arrow) would hold the whole tickets table in the driver's
heap; here Spark reads the files in its tasks and only aggregates come back. In local mode
the executors share the driver's JVM, so the 512 MB is every task's memory too: Spark's own
spilling keeps the key check (a shuffle of every id) within it. The size is what runs in
about two minutes on two shared cores, not a lake's tens of millions of rows; those are
measured by ``benchmarks/engines.py`` (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from dipstick.engine.spark import differences
from sparkenv import need_spark

from builder import AS_OF, PackageBuilder

pytestmark = [pytest.mark.spark, pytest.mark.slow]

HEAP_MB = 512
ID_CHARS = 1000
TICKETS = 600_000       # × 1,000 bytes of id = 600 MB of ids alone, above the 512 MB heap


def _package(root: Path) -> Path:
    b = PackageBuilder(root)
    for sid in ("crm", "erp"):
        b.service(sid).usage(sid)
    b.write()
    model = yaml.safe_load((root / "dipstick.yaml").read_text())
    model["tables"] = {"tickets": "lake/tickets"}
    (root / "dipstick.yaml").write_text(yaml.safe_dump(model, sort_keys=False))
    (root / "lake").mkdir()
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    con.execute(
        f"COPY (SELECT 't' || lpad(CAST(i AS VARCHAR), {ID_CHARS - 1}, '0') AS id, "
        "CASE WHEN i % 2 = 0 THEN 'crm' ELSE 'erp' END AS service, "
        f"TIMESTAMP '{AS_OF}' - (i % 500) * INTERVAL 1 DAY - (i % 1440) * INTERVAL 1 MINUTE "
        "AS opened_at, "
        f"TIMESTAMP '{AS_OF}' - (i % 500) * INTERVAL 1 DAY + (i % 300) * INTERVAL 1 MINUTE "
        "AS resolved_at, "
        "['incident', 'request', 'question'][i % 3 + 1] AS type, "
        "CASE WHEN i % 7 = 0 THEN CAST(i % 11 AS DOUBLE) END AS satisfaction, "
        "CAST(i % 4 AS DOUBLE) AS reassignments, i % 8 AS part "
        f"FROM range({TICKETS}) t(i)) TO '{root / 'lake' / 'tickets'}' "
        "(FORMAT parquet, PARTITION_BY (part), ROW_GROUP_SIZE 16384)")   # 16 MB of ids
    con.close()
    return root


def _check(root: Path, engine: str, env: dict[str, str]) -> dict[str, Any]:
    r = subprocess.run([sys.executable, "-m", "dipstick", "check", str(root), "--format",
                        "json", "--no-store", "--as-of", AS_OF.isoformat(), "--engine", engine],
                       env={**os.environ, **env}, capture_output=True, text=True, timeout=1800)
    assert r.returncode in (0, 1) and r.stdout.startswith("{"), r.stderr[-3000:]
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


def test_the_check_on_a_capped_spark_driver_equals_duckdb(tmp_path: Path) -> None:
    need_spark()
    root = _package(tmp_path / "pkg")
    ids = duckdb.sql(f"SELECT sum(strlen(id)) FROM read_parquet('{root}/lake/tickets/**/*"
                     ".parquet')").fetchall()[0][0]
    assert ids > HEAP_MB * 2**20          # the ids alone would not fit the driver's heap
    on_spark = _check(root, "spark", {
        "PYSPARK_SUBMIT_ARGS": f"--driver-memory {HEAP_MB}m pyspark-shell",
        "DIPSTICK_SPARK_MASTER": "local[2]"})
    on_duckdb = _check(root, "duckdb", {"DIPSTICK_MEMORY_LIMIT": "256MB",
                                        "DIPSTICK_TEMP_DIRECTORY": str(tmp_path / "spill")})
    tickets = next(c for c in on_spark["coverage"] if c["table"] == "tickets")
    assert tickets["window"]["rows"] + tickets["baseline"]["rows"] > TICKETS // 2  # all read
    assert not differences(on_duckdb, on_spark)
