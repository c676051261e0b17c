"""A pull from start to end: credentials, where to start, the pages into a staging CSV, the
import into the package, then the watermark.

The order is the safety: nothing touches the package until every page has arrived (a failed
pull leaves it byte for byte as it was), the import itself is all-or-nothing, and the watermark
moves only after the import succeeded — so a pull that failed anywhere is simply run again.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dipstick.connectors.imports import ImportOptions, ImportSummary, import_file
from dipstick.connectors.presets import PRESETS
from dipstick.connectors.pull import jira, servicenow
from dipstick.connectors.pull.http import Credentials, Fetcher, RetryPolicy, auth_from_env
from dipstick.connectors.pull.passes import Source, pull_passes
from dipstick.connectors.pull.watermark import read_state, source_key, start_from, write_state
from dipstick.errors import PackageError, Problem, UsageError

Progress = Callable[[int, int | None], None]
DEFAULT_OVERLAP = timedelta(minutes=5)


@dataclass(frozen=True)
class PullSummary:
    """What a pull did; feeds the terminal summary and ``--format json``."""

    source: str                       # the watermark key: kind, URL, table or JQL
    started_from: str | None          # the update time asked for (None: everything)
    resumed: bool                     # started from the stored watermark
    records: int
    requests: int
    retries: int
    watermark: str | None             # stored for the next pull
    state_file: Path | None
    imported: ImportSummary | None    # None when nothing new was found
    notes: tuple[str, ...] = ()       # e.g. a second pass over records that moved

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source, "started_from": self.started_from, "resumed": self.resumed,
            "records": self.records, "requests": self.requests, "retries": self.retries,
            "watermark": self.watermark,
            "state_file": None if self.state_file is None else str(self.state_file),
            "import": None if self.imported is None else self.imported.to_json(),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class _Pulled:
    records: int
    requests: int
    retries: int
    watermark: str | None
    state_file: Path | None
    imported: ImportSummary | None
    notes: tuple[str, ...]


def _run(key: str, base: str, credentials: Credentials, policy: RetryPolicy, source: Source,
         start: datetime | None, into: Path, options: ImportOptions,
         import_progress: Callable[[int], None] | None) -> _Pulled:
    tmp = Path(tempfile.mkdtemp(prefix="dipstick-pull-"))
    keep = False
    try:
        staging = tmp / f"{key.split(' ', 1)[0]}-pulled.csv"
        with Fetcher(base, credentials, policy) as fetcher:
            records, watermark, notes = pull_passes(fetcher, source, start, staging)
        if records == 0:
            return _Pulled(0, fetcher.requests, fetcher.retries, None, None, None, notes)
        try:
            imported = import_file("tickets", staging, into, options, progress=import_progress)
        except PackageError as e:
            keep = True     # the problems name rows of this file: leave it to be read
            raise PackageError([*e.problems, Problem(
                str(staging), f"the {records} pulled records are kept in this file for "
                "inspection; the package and its watermark were not changed")]) from None
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    state = write_state(into, key, watermark, records, order=source.newest)
    return _Pulled(records, fetcher.requests, fetcher.retries, watermark, state, imported,
                   notes)


def pull_servicenow(instance: str, table: str, since: datetime | None, into: Path,
                    options: ImportOptions = ImportOptions(), *, fields: Iterable[str] = (),
                    all_fields: bool = False, page_size: int = 1000,
                    overlap: timedelta = DEFAULT_OVERLAP, full: bool = False,
                    policy: RetryPolicy = RetryPolicy(), env: Mapping[str, str] | None = None,
                    progress: Progress | None = None,
                    import_progress: Callable[[int], None] | None = None) -> PullSummary:
    """Pull the records of ``table`` updated since the watermark (or ``since``) into the
    package's tickets. Only the fields the import reads are asked for, plus ``fields``
    (``all_fields``: every field of the table). ``full`` ignores the watermark."""
    credentials = auth_from_env(os.environ if env is None else env, "SERVICENOW_TOKEN",
                                "SERVICENOW_USER", "SERVICENOW_PASSWORD")
    key = source_key("servicenow", instance, table)
    entry = None if full else read_state(into, key)
    mark = _servicenow_time(entry.get("watermark") if entry else None)
    start = start_from(since, mark, overlap)
    if start is None:
        raise UsageError(f"--since is needed: no earlier pull of {table} from {instance} is "
                         f"recorded in {into}")
    wanted = () if all_fields else import_fields(options, fields)
    query = servicenow.TableQuery(instance, table, start, wanted, page_size)
    source = Source(
        lambda f, at, sink: servicenow.fetch(f, replace(query, start=at or start), sink,
                                             progress),
        (),             # the header is what the instance returned (unknown fields drop)
        servicenow.KEY, servicenow.UPDATED, str)
    done = _run(key, instance, credentials, policy, source, start, into,
                replace(options, preset="servicenow"), import_progress)
    return PullSummary(key, f"{start:%Y-%m-%d %H:%M:%S}", mark is not None, done.records,
                       done.requests, done.retries, done.watermark, done.state_file,
                       done.imported, done.notes)


def pull_jira(url: str, jql: str, since: datetime | None, into: Path,
              options: ImportOptions = ImportOptions(), *, page_size: int = 100,
              overlap: timedelta = DEFAULT_OVERLAP, full: bool = False,
              policy: RetryPolicy = RetryPolicy(), env: Mapping[str, str] | None = None,
              progress: Progress | None = None,
              import_progress: Callable[[int], None] | None = None) -> PullSummary:
    """Pull the issues of ``jql`` updated since the watermark (or ``since``; neither: all of
    them) into the package's tickets. ``full`` ignores the watermark."""
    credentials = auth_from_env(os.environ if env is None else env, "JIRA_BEARER", "JIRA_USER",
                                "JIRA_TOKEN")
    key = source_key("jira", url, jql.strip())
    entry = None if full else read_state(into, key)
    raw = jira.parse_time(entry.get("watermark") if entry else None)
    mark = raw.replace(tzinfo=None) if raw is not None else None   # Jira's wall clock
    start = start_from(since, mark, overlap)
    query = jira.SearchQuery(url, jql, start, page_size)
    source = Source(
        lambda f, at, sink: jira.fetch(f, replace(query, start=at or start), sink, progress),
        jira.COLUMNS, "Issue key", "Updated", _jira_instant)
    done = _run(key, url, credentials, policy, source, start, into,
                replace(options, preset="jira"), import_progress)
    return PullSummary(key, None if start is None else f"{start:%Y-%m-%d %H:%M}",
                       mark is not None, done.records, done.requests, done.retries,
                       done.watermark, done.state_file, done.imported, done.notes)


def _jira_instant(raw: str) -> datetime:
    return jira.parse_time(raw) or datetime.min.replace(tzinfo=UTC)


def import_fields(options: ImportOptions, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The ServiceNow fields the import will read (``sysparm_fields``): the preset's candidate
    columns, the service column(s), the audit order, the mapped columns, ``sys_updated_on`` for
    the watermark, and any ``extra``. An incident has ~100 fields; pages stay small."""
    spec = PRESETS[("tickets", "servicenow")]
    wanted = [*extra, *(c for candidates in spec.columns.values() for c in candidates)]
    wanted += [options.service_from] if options.service_from else list(spec.service_from)
    wanted += [spec.collapse.order] if spec.collapse else []
    wanted += [*options.mapping.values(), servicenow.UPDATED]
    return tuple(dict.fromkeys(wanted))


def _servicenow_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
