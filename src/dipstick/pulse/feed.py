"""Stored pulse answers as ``surveys`` rows, for the ``perception`` indicator.

``dipstick check`` (and the web app's checks) call :func:`feed_stored_answers` right after
loading a package: the answers of the organisation's check-ins become rows of the package's
``surveys`` table — date, service, group, dimension, score, comment; no respondent — so the
next check judges them with everything else. Answers about a service, group or dimension the
package no longer has are left out (the package is the truth about what exists).
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from dipstick.engine import Signals
from dipstick.errors import StoreError
from dipstick.model import ValueModel
from dipstick.package import Package
from dipstick.store import Store, sqlite_file_missing
from dipstick.store.pulse_reads import answers, campaigns  # Core: no ORM in a stored check

SCHEMA = pa.schema([("date", pa.timestamp("us")), ("service", pa.string()),
                    ("group", pa.string()), ("dimension", pa.string()),
                    ("score", pa.float64()), ("comment", pa.string())])


def answers_as_surveys(store: Store, organisation: str, model: ValueModel) -> pa.Table:
    """Every stored answer of the organisation's check-ins, one row per dimension (the comment
    on the answer's first dimension only, so it is counted once)."""
    mine = {c.id: c for c in campaigns(store, organisation=organisation)}
    services = {s.id for s in model.services}
    dims = {g.id: {d.id for d in g.value_dimensions} for g in model.stakeholder_groups}
    cols: dict[str, list[object]] = {f.name: [] for f in SCHEMA}
    for a in answers(store, list(mine)) if mine else []:
        sid = mine[a.campaign_id].service_id
        if sid not in services or a.group not in dims:
            continue
        first = True
        for dim, score in a.scores.items():
            if dim not in dims[a.group]:
                continue
            cols["date"].append(datetime.combine(a.answered_on, datetime.min.time()))
            cols["service"].append(sid)
            cols["group"].append(a.group)
            cols["dimension"].append(dim)
            cols["score"].append(float(score))
            cols["comment"].append(a.comment if first else None)
            first = False
    return pa.table(cols, schema=SCHEMA)


def merge_surveys(package: Package, rows: pa.Table) -> int:
    """Append the rows to the package's ``surveys`` table (creating it when the package has
    none) and move the package's latest date up to the newest answer."""
    if rows.num_rows == 0:
        return 0
    con = package.signals.connection
    con.register("_pulse_rows", rows)
    try:
        if package.signals.has("surveys"):
            con.execute("INSERT INTO surveys BY NAME SELECT * FROM _pulse_rows")
        else:
            con.execute('CREATE TABLE surveys AS SELECT date, service, "group", dimension, '
                        "score, CAST(NULL AS VARCHAR) AS respondent, comment FROM _pulse_rows")
            package.signals = Signals(con, {**{n: n for n in package.signals.names},
                                            "surveys": "surveys"})
    finally:
        con.unregister("_pulse_rows")
    newest = max(rows.column("date").to_pylist()).date()
    if package.latest is None or newest > package.latest:
        package.latest = newest
    return int(rows.num_rows)


def feed_stored_answers(package: Package, database: str | None) -> int:
    """The stored answers merged into the loaded package; 0 when the app database cannot be
    reached or holds no check-ins (a check never fails for want of pulse answers)."""
    if sqlite_file_missing(database):
        return 0    # no app database here (e.g. --no-store on a fresh machine): none created
    try:
        with Store.open(database) as store:
            rows = answers_as_surveys(store, package.model.organisation.name, package.model)
    except StoreError:     # unreachable, or not migrated to the pulse tables yet
        return 0
    return merge_surveys(package, rows)
