"""The value map: where the run cost of IT goes, as a Sankey — services → the live outcomes they
support → the stakeholder groups that consume those services — coloured by each service's light.

A link's width is the service's run cost a month — the figure the check's formulas priced it
with (:data:`~dipstick.indicators.common.RUN_COST_BASIS`), so the map and a leak's formula never
disagree — split over the outcomes it supports in proportion to each value link's contribution
(money, so a leader reads "how much of our spend reaches this outcome"; a service without a
cost counts as 1 so it still shows). An
outcome passes its inflow on to the consuming groups of the services that fed it, in equal
shares. Value links to outcomes that are over, and services with no value link at all, flow into
one red node, "no live outcome": spend that no longer connects to a result.

Readable at 2,000 services: up to :data:`INDIVIDUAL_LIMIT` services every service has its own
node; beyond, the :data:`WORST_LIMIT` worst leak/watch services keep theirs and every other
service is grouped per capability (at most :data:`CAPABILITY_LIMIT` capability nodes; the
smallest merge into "other capabilities"). The page may also group by capability or owner
and draw only some services (:class:`MapOptions`).

Readable labels: every node gets at least :data:`NODE_PAD` pixels of gap to the next one in its
column (more than a label's height, so no two labels overlap), the figure grows with its
fullest column, and long names are cut (the hover shows them in full).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import plotly.graph_objects as go

from dipstick.check import CheckResult, ServiceVerdict
from dipstick.figures._common import (
    LAYOUT,
    STATUS_COLOURS,
    money,
    plotly_text,
    short_label,
    worst_first,
)
from dipstick.findings import Status
from dipstick.indicators.alignment import AlignmentSpec, kpi_shortfall
from dipstick.indicators.common import RUN_COST_BASIS
from dipstick.indicators.registry import split_settings
from dipstick.model import Service, ValueModel

INDIVIDUAL_LIMIT = 80
WORST_LIMIT = 60
CAPABILITY_LIMIT = 30
NO_LIVE = "no live outcome"
GROUP_COLOUR = "#57606a"
OTHER_CAPABILITIES = "other capabilities"
NODE_PAD = 18          # px between nodes of a column: a 12 px label is 14 px tall
NODE_ROOM = 8          # px of node height per node on average, on top of the gaps
MARGIN = {"l": 10, "r": 10, "t": 20, "b": 20}

Grouping = Literal["none", "capability", "owner"]
Show = Literal["all", "attention", "leak"]
GROUPINGS: tuple[Grouping, ...] = ("none", "capability", "owner")
#: Which lights each ``show`` keeps (None: every light).
SHOWS: dict[str, frozenset[Status] | None] = {
    "all": None, "attention": frozenset({Status.LEAK, Status.WATCH}),
    "leak": frozenset({Status.LEAK})}
GROUP_NOUNS = {"capability": "capabilities", "owner": "owners"}
GROUP_HOVER = 12       # member services named in a group node's hover


@dataclass(frozen=True)
class MapOptions:
    """What the page's form asks for: how services are grouped and which are drawn."""

    group: Grouping = "none"
    show: Show = "all"
    text: str = ""


@dataclass(frozen=True)
class OutcomeKpi:
    """An outcome's KPI against its target, as the alignment indicator measured it."""

    actual: float | None       # the latest actual in the current window (None: none there)
    gap: float | None          # relative shortfall in the KPI's bad direction (0: on target)
    status: Status             # the gap graded by the alignment indicator's ``kpi_gap``
    period: str | None


def live_outcomes(model: ValueModel) -> set[str]:
    return {o.id for o in model.outcomes if o.status == "active"}


def no_live_outcome(model: ValueModel) -> list[Service]:
    """Services still running (not retired) with no value link to an active outcome."""
    live = live_outcomes(model)
    return [s for s in model.services if s.lifecycle != "retired"
            and not any(v.outcome in live for v in s.supports)]


def outcome_kpis(model: ValueModel, result: CheckResult) -> dict[str, OutcomeKpi]:
    """Each outcome's KPI status, read from the alignment evidence ``kpi:<outcome>`` of the
    services that support it (the same actual for every supporter), not re-measured: the map
    shows what the check saw. An outcome no service supports, or one that is over, has no such
    evidence and is ``unknown``."""
    actuals: dict[str, tuple[float | None, str]] = {}
    for v in result.verdicts:
        for f in v.findings:
            if f.cause != "alignment":
                continue
            for e in f.evidence:
                if e.metric.startswith("kpi:") and e.metric[4:] not in actuals:
                    value = float(e.value) if isinstance(e.value, int | float) else None
                    actuals[e.metric[4:]] = (value, e.period)
    threshold = split_settings(model.settings, AlignmentSpec).kpi_gap
    out: dict[str, OutcomeKpi] = {}
    for o in model.outcomes:
        actual, period = actuals.get(o.id, (None, None))
        if o.kpi is None or actual is None:
            out[o.id] = OutcomeKpi(actual, None, Status.UNKNOWN, period)
            continue
        gap = kpi_shortfall(o.kpi.target, actual, o.kpi.direction)
        out[o.id] = OutcomeKpi(actual, gap, threshold.grade(gap)[0], period)
    return out


def selected(verdicts: list[ServiceVerdict], options: MapOptions) -> list[ServiceVerdict]:
    """The running services the map draws: not retired, with a light ``options.show`` keeps,
    whose name, id, owner or capability contains ``options.text`` (any case)."""
    keep = SHOWS[options.show]
    text = options.text.strip().casefold()
    return [v for v in verdicts if v.service.lifecycle != "retired"
            and (keep is None or v.status in keep)
            and (not text or any(text in (x or "").casefold() for x in (
                v.service.name, v.service.id, v.service.owner, v.service.capability)))]


def _key(s: Service, group: Grouping) -> str:
    if group == "owner":
        return s.owner or "no owner"
    return s.capability or "no capability"


def service_nodes(verdicts: list[ServiceVerdict], group: Grouping = "none") -> dict[str, str]:
    """Service id → its source node: ``s:<id>`` for a service drawn on its own, ``c:<name>``
    for a group of services. ``group`` ``capability`` or ``owner``: one node per group of two
    or more (a group of one is its service); past :data:`INDIVIDUAL_LIMIT` nodes the smallest
    groups merge into "other …". ``none``: see the module's docstring."""
    ordered = worst_first(verdicts)
    if group != "none":
        sizes: dict[str, int] = defaultdict(int)
        for v in ordered:
            sizes[_key(v.service, group)] += 1
        kept = set(sorted(sizes, key=lambda k: (-sizes[k], k))[:INDIVIDUAL_LIMIT - 1])
        other = f"other {GROUP_NOUNS[group]}"
        return {v.service.id: (f"s:{v.service.id}" if sizes[k] == 1 and k in kept else
                               f"c:{k if k in kept else other}")
                for v in ordered for k in [_key(v.service, group)]}
    if len(ordered) <= INDIVIDUAL_LIMIT:
        return {v.service.id: f"s:{v.service.id}" for v in ordered}
    alone = [v for v in ordered if v.status in (Status.LEAK, Status.WATCH)][:WORST_LIMIT]
    out = {v.service.id: f"s:{v.service.id}" for v in alone}
    rest = [v for v in ordered if v.service.id not in out]
    caps: dict[str, int] = defaultdict(int)
    for v in rest:
        caps[_key(v.service, "capability")] += 1
    top = set(sorted(caps, key=lambda c: (-caps[c], c))[:CAPABILITY_LIMIT])
    for v in rest:
        cap = _key(v.service, "capability")
        out[v.service.id] = f"c:{cap if cap in top else OTHER_CAPABILITIES}"
    return out


def _rgba(status: Status, alpha: float = 0.45) -> str:
    h = STATUS_COLOURS[status].lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def weighting_note(currency: str) -> str:
    return (f"Link width: each service's {RUN_COST_BASIS} ({currency}), split over the outcomes "
            "it supports by contribution; an outcome passes it on to the groups consuming those "
            "services in equal shares. Colour: the service's light.")


def run_cost(s: Service, costs: Mapping[str, float] | None) -> float:
    """The service's run cost a month as the check read it (``costs``), else the catalog's."""
    return costs.get(s.id, s.monthly_cost) if costs is not None else s.monthly_cost


def figure_height(columns: int) -> int:
    """Tall enough that a column of ``columns`` nodes keeps :data:`NODE_PAD` between nodes."""
    return max(480, MARGIN["t"] + MARGIN["b"] + columns * (NODE_PAD + NODE_ROOM))


def _source_nodes(members: Mapping[str, list[ServiceVerdict]], costs: Mapping[str, float] | None,
                  cur: str) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    labels: dict[str, str] = {}
    hovers: dict[str, str] = {}
    colours: dict[str, str] = {}
    for key, vs in members.items():
        worst = max((v.status for v in vs), key=lambda s: s.rank)
        colours[key] = STATUS_COLOURS[worst]
        if key.startswith("s:"):
            v = vs[0]
            labels[key] = short_label(v.service.name)
            hovers[key] = (f"<b>{plotly_text(v.service.name, 60)}</b><br>light {v.status.value}"
                           f"<br>{money(run_cost(v.service, costs), cur)} run cost a month")
            continue
        name = key[2:]
        labels[key] = f"{short_label(name, 24)} · {len(vs)} services"
        counts = {s: sum(1 for v in vs if v.status is s) for s in Status}
        names = "<br>".join(f"{plotly_text(v.service.name, 40)} ({v.status.value})"
                            for v in vs[:GROUP_HOVER])
        more = f"<br>and {len(vs) - GROUP_HOVER} more" if len(vs) > GROUP_HOVER else ""
        hovers[key] = (f"<b>{plotly_text(name, 60)}</b>: {len(vs)} services grouped<br>"
                       + ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
                       + f"<br>{names}{more}")
    return labels, hovers, colours


def value_map_figure(model: ValueModel, result: CheckResult, service_links: bool = True,
                     costs: Mapping[str, float] | None = None,
                     options: MapOptions = MapOptions()) -> go.Figure:
    """The Sankey of the value map. ``costs``: each service's run cost as the check read it
    (:func:`dipstick.indicators.common.monthly_costs`; without it, the catalog's). ``layout.meta``:
    ``links`` (node label → service page, for click-through), ``individual`` and ``grouped``
    service counts, ``groups`` (group nodes), ``services`` (services drawn) and ``caption``."""
    live = live_outcomes(model)
    kpis = outcome_kpis(model, result)
    verdicts = selected(list(result.verdicts), options)
    source = service_nodes(verdicts, options.group)
    cur = result.currency

    members: dict[str, list[ServiceVerdict]] = defaultdict(list)
    for v in worst_first(verdicts):
        members[source[v.service.id]].append(v)
    labels, hovers, colours = _source_nodes(members, costs, cur)
    for o in model.outcomes:
        if o.id not in live:
            continue
        k, key = kpis[o.id], f"o:{o.id}"
        labels[key] = short_label(o.name)
        colours[key] = STATUS_COLOURS[k.status]
        kpi = ("no KPI" if o.kpi is None else
               f"KPI {plotly_text(o.kpi.name, 60)}: "
               f"{'no actual' if k.actual is None else f'{k.actual:g}'} against target "
               f"{o.kpi.target:g} ({o.kpi.direction})"
               + ("" if k.gap is None else f", gap {k.gap:.0%}"))
        hovers[key] = f"<b>{plotly_text(o.name, 60)}</b><br>{kpi}<br>KPI {k.status.value}"
    for g in model.stakeholder_groups:
        key = f"g:{g.id}"
        labels[key] = short_label(g.name)
        colours[key] = GROUP_COLOUR
        hovers[key] = (f"<b>{plotly_text(g.name, 60)}</b><br>{plotly_text(g.kind)} "
                       "stakeholder group")
    labels["x"] = NO_LIVE
    colours["x"] = STATUS_COLOURS[Status.LEAK]
    hovers["x"] = ("<b>no live outcome</b><br>spend on value links to outcomes that are over, "
                   "or on services with no value link")

    flows: dict[tuple[str, str, Status], float] = defaultdict(float)
    for v in verdicts:
        s, src = v.service, source[v.service.id]
        cost = run_cost(s, costs) or 1.0
        total = sum(link.contribution for link in s.supports)
        if not s.supports:
            flows[(src, "x", v.status)] += cost
        for link in s.supports:
            w = cost * link.contribution / total
            if link.outcome not in live:
                flows[(src, "x", v.status)] += w
                continue
            flows[(src, f"o:{link.outcome}", v.status)] += w
            groups = [gid for gid in s.consumers if model.group(gid) is not None]
            for gid in groups:
                flows[(f"o:{link.outcome}", f"g:{gid}", v.status)] += w / len(groups)

    ends = {k for a, b, _ in flows for k in (a, b)}
    used = [k for k in labels if k in ends]
    index = {k: i for i, k in enumerate(used)}
    sources, targets, values, link_colours, link_hover = [], [], [], [], []
    for (a, b, status), value in flows.items():
        sources.append(index[a])
        targets.append(index[b])
        values.append(round(value, 2))
        link_colours.append(_rgba(status))
        link_hover.append(f"{labels[a]} → {labels[b]}<br>{money(value, cur)} a month · "
                          f"services {status.value}")
    # the fullest column sets the height; sinks (groups, "no live outcome", an outcome no
    # group consumes through) are drawn in the last column
    starts = {a for a, _, _ in flows}
    sinks = sum(1 for k in used if k not in starts)
    columns = max(sum(1 for k in used if k[0] in "sc"), len(used) - sinks - sum(
        1 for k in used if k[0] in "sc"), sinks, 1)
    fig = go.Figure(go.Sankey(
        arrangement="snap", valueformat=",.0f", valuesuffix=f" {plotly_text(cur)}",
        node={"label": [labels[k] for k in used], "color": [colours[k] for k in used],
              "customdata": [hovers[k] for k in used], "pad": NODE_PAD, "thickness": 14,
              "line": {"color": "#ffffff", "width": 0.5},
              "hovertemplate": "%{customdata}<extra></extra>"},
        link={"source": sources, "target": targets, "value": values, "color": link_colours,
              "customdata": link_hover, "hovertemplate": "%{customdata}<extra></extra>"}))
    individual = sum(1 for k in source.values() if k.startswith("s:"))
    links = {labels[k]: f"/services/{k[2:]}" for k in used if k.startswith("s:")}
    fig.update_layout(
        height=figure_height(columns), margin=MARGIN, **LAYOUT,
        meta={"links": links if service_links else {}, "individual": individual,
              "grouped": len(verdicts) - individual, "services": len(verdicts),
              "groups": sum(1 for k in used if k.startswith("c:")),
              "caption": weighting_note(cur)})
    return fig
