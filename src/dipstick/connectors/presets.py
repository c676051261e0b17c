"""Presets: how ServiceNow and Jira name things, as data.

A preset says which export column feeds each dipstick field (the first candidate the file has),
which values are constants, how source values become dipstick's (issue types, operational
status), which extra date forms the export uses, and whether the export is an audit trail to
collapse to one row per record. An explicit ``--map`` always wins over a preset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dipstick.errors import UsageError


@dataclass(frozen=True)
class Collapse:
    """An audit trail (one row per update): keep one row per ``key`` field, the last by
    ``order`` (a source column, then file order). ``maximum`` fields take the largest value
    over all updates; ``last_known`` fields the last non-missing value."""

    order: str
    maximum: tuple[str, ...] = ()
    last_known: tuple[str, ...] = ()


@dataclass(frozen=True)
class Preset:
    name: str
    kind: str
    columns: Mapping[str, tuple[str, ...]]            # field -> candidate source columns
    constants: Mapping[str, str] = field(default_factory=dict)   # field -> value if unmapped
    # field -> lower(source value) -> dipstick value
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    default_value: Mapping[str, str] = field(default_factory=dict)   # field -> value otherwise
    service_from: tuple[str, ...] = ()                 # candidate service columns, in order
    dayfirst: bool = False
    date_formats: tuple[str, ...] = ()                 # strptime forms beyond ISO 8601
    collapse: Collapse | None = None
    missing: tuple[str, ...] = ("", "?")


_JIRA_TYPES = {t: "incident" for t in ("bug", "incident", "problem", "outage", "defect")} | {
    t: "question" for t in ("question", "how-to", "how to", "support", "get it help",
                            "it help", "faq", "ask a question")}
_OPERATIONAL = {
    "operational": "live", "1": "live", "repair in progress": "live", "3": "live",
    "dr standby": "live", "4": "live", "live": "live", "in production": "live",
    "non-operational": "retired", "2": "retired", "retired": "retired", "6": "retired",
    "ready": "pipeline", "5": "pipeline", "pipeline": "pipeline", "planned": "pipeline",
    "in development": "pipeline", "retiring": "retiring",
}

PRESETS: dict[tuple[str, str], Preset] = {
    ("tickets", "servicenow"): Preset(
        "servicenow", "tickets",
        columns={"id": ("number",), "opened_at": ("opened_at", "sys_created_on"),
                 "resolved_at": ("resolved_at",), "reopened": ("reopen_count",),
                 "reassignments": ("reassignment_count",), "state": ("incident_state", "state"),
                 "satisfaction": ("u_satisfaction",)},
        constants={"type": "incident"},
        service_from=("business_service", "cmdb_ci", "assignment_group"),
        dayfirst=True,
        collapse=Collapse("sys_mod_count", maximum=("reopened", "reassignments"),
                          last_known=("service",)),
    ),
    ("tickets", "jira"): Preset(
        "jira", "tickets",
        columns={"id": ("Issue key", "Key"), "type": ("Issue Type", "Issue type"),
                 "opened_at": ("Created",), "resolved_at": ("Resolved", "Resolution date"),
                 "state": ("Status",)},
        values={"type": _JIRA_TYPES},
        default_value={"type": "request"},
        service_from=("Component/s", "Components", "Labels"),
        date_formats=("%d/%b/%y %I:%M %p", "%d/%b/%Y %I:%M %p", "%d/%b/%y %H:%M",
                      "%d/%b/%Y %H:%M", "%d/%b/%y", "%Y/%m/%d %H:%M"),
    ),
    ("services", "servicenow"): Preset(
        "servicenow", "services",
        columns={"id": ("u_dipstick_id",), "name": ("name",),
                 "owner": ("owned_by", "managed_by", "owner"),
                 "lifecycle": ("operational_status", "install_status", "life_cycle_stage"),
                 "capability": ("service_classification", "category"),
                 "monthly_cost": ("cost",), "end_of_life": ("end_of_life", "u_end_of_life"),
                 "launched": ("start_date", "install_date")},
        values={"lifecycle": _OPERATIONAL},
        dayfirst=True,
    ),
}


def preset(kind: str, name: str | None) -> Preset | None:
    if name is None:
        return None
    found = PRESETS.get((kind, name.lower()))
    if found is None:
        names = sorted(f"{p} (for {k})" for k, p in PRESETS)
        raise UsageError(f"there is no preset {name!r} for {kind}: presets are "
                         f"{', '.join(names)}")
    return found
