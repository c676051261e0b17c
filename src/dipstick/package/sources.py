"""Where a package's tables live: files in its folder, or anywhere ``tables:`` says.

Why a declaration: in a data lake the tables are partitioned Parquet folders on object
storage, not files next to ``dipstick.yaml``; naming them lets Spark (or DuckDB) read them
where they are. Undeclared tables are the files ``<table>.csv`` / ``<table>.parquet`` in the
package folder, as in contract v1 (docs/data-package.md, "Tables elsewhere").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dipstick.errors import Problem
from dipstick.package.tables import FORMATS, TABLES

MODEL_FILE = "dipstick.yaml"


@dataclass(frozen=True)
class Source:
    """One table's data: ``location`` a local path or a URL; ``folder`` a Parquet dataset
    (every ``*.parquet`` below it, Hive-style ``key=value`` folders as columns); ``display``
    how problems name it."""

    table: str
    location: Path | str
    folder: bool
    display: str

    @property
    def lake(self) -> bool:
        """Whether Spark reads it itself: Parquet (a file, a folder, a URL). A CSV file is
        loaded by DuckDB on the driver, rows numbered, then handed to Spark."""
        return not str(self.location).endswith(".csv")


def declared_tables(raw: object, declared: dict[str, str]) -> list[Problem]:
    """Check ``dipstick.yaml``'s ``tables:`` (table name → path or URL) into ``declared``;
    the problems of a wrong one."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [Problem(MODEL_FILE, "must map table names to paths or URLs (tickets: "
                        "lake/tickets)", field="tables")]
    problems = []
    for name, where in raw.items():
        if name not in TABLES:
            problems.append(Problem(MODEL_FILE, f"unknown table (one of {', '.join(TABLES)})",
                                    field=f"tables.{name}"))
        elif not isinstance(where, str) or not where.strip():
            problems.append(Problem(MODEL_FILE, "must be a path or URL of a Parquet file or "
                                    "folder, or a CSV file", field=f"tables.{name}",
                                    value=where if isinstance(where, (str, int, float)) else
                                    None))
        else:
            declared[str(name)] = where.strip()
    return problems


def is_url(where: str) -> bool:
    return "://" in where


def table_sources(root: Path, declared: dict[str, str],
                  problems: list[Problem]) -> Iterable[Source]:
    """Every table's source: a declared one (relative paths against the package folder), else
    the file in the folder; two of one table are a problem."""
    for table in TABLES:
        files = [root / f"{table}{ext}" for ext in FORMATS if (root / f"{table}{ext}").is_file()]
        if table in declared:
            source = _declared(root, table, declared[table], problems)
            if source is None:
                continue
            others = [f for f in files if f.resolve() != Path(str(source.location)).resolve()]
            if others and not is_url(declared[table]):
                problems.append(Problem(others[0].name, f"is in the folder and tables.{table} "
                                        f"in {MODEL_FILE} names {declared[table]}; keep one"))
                continue
            yield source
            continue
        if len(files) > 1:
            problems.append(Problem(files[0].name, f"both {files[0].name} and {files[1].name} "
                                    "exist; keep one"))
            continue
        if files:
            yield Source(table, files[0], False, files[0].name)


def _declared(root: Path, table: str, where: str, problems: list[Problem]) -> Source | None:
    name = where.rstrip("/").rsplit("/", 1)[-1] or table
    if is_url(where):   # read by the engine as it is: s3://, abfss://, gs://, https://, file://
        folder = not where.endswith((".parquet", ".csv"))
        return Source(table, where.rstrip("/") if folder else where, folder, name)
    path = (Path(where) if Path(where).is_absolute() else root / where).resolve()
    if path.is_dir():
        return Source(table, path, True, name)
    if path.is_file() and path.suffix in FORMATS:
        return Source(table, path, False, name)
    problems.append(Problem(MODEL_FILE, "is not a Parquet folder, nor a .parquet or .csv "
                            "file" if path.exists() else "does not exist",
                            field=f"tables.{table}", value=where))
    return None
