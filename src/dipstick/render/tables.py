"""Terminal tables beside the lights: value streams, discovered processes, problems, runs and
the indicators' list.

Rich reads ``[...]`` in a string as markup, so every text from data (names, ids, values, file
names, commands) goes in through :func:`escape`: a step called ``[/red]`` is printed as typed,
not a ``MarkupError`` traceback (issue 17, found by tests/test_fuzz.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from dipstick.errors import Problem, where
from dipstick.spoken import duration

if TYPE_CHECKING:   # the streams and the lights are imported by those who render them
    from dipstick.streams import StreamMetrics
    from dipstick.streams.discover import Discovery


def stream_table(m: StreamMetrics) -> Table:
    """One value stream as a VSM ladder in text: per step its process time (█) against its
    wait (░), on one scale, so where the time goes is seen before it is read."""
    lead = m.lead_minutes or 1.0
    ratio = m.activity_ratio
    table = Table(title=escape(f"{m.name} ({m.id})"), header_style="bold", box=box.SIMPLE_HEAD,
                  caption=f"lead time {duration(m.lead_minutes)} · process time "
                          f"{duration(m.process_minutes)} · activity ratio "
                          f"{'–' if ratio is None else f'{ratio:.1%}'} · rolled %C&A "
                          f"{m.rolled_complete_accurate:.0%}"
                          + (f" · bottleneck: {escape(m.bottleneck.name)}" if m.bottleneck
                             else ""))
    for col, justify in (("Step", "left"), ("Process", "right"), ("Wait", "right"),
                         ("%C&A", "right"), ("Services", "left"), ("Where the time goes", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for s in m.steps:
        width = 40
        p = round(width * s.process_minutes / lead)
        w = round(width * s.wait_minutes / lead)
        bar = Text("█" * max(p, 1 if s.process_minutes else 0), style="green")
        bar.append("░" * w, style="red")
        table.add_row(escape(s.name), duration(s.process_minutes), duration(s.wait_minutes),
                      f"{s.complete_accurate:.0%}", escape(", ".join(s.services)), bar)
    return table


def discovery_tables(d: Discovery, top: int = 12) -> Group:
    """What the event log says about the process: lead time, where it waits, what is redone,
    the busiest directly-follows pairs and the commonest paths."""
    if not d.events:   # an empty log, or a --process the log does not have
        return Group(f"[yellow]No events to discover[/yellow] in "
                     f"{escape(d.process or 'this log')}: nothing to map.")
    t = d.throughput
    lines = [f"[bold]{escape(d.process or 'Process')}[/bold] discovered from {d.events:,} events, "
             f"{d.cases:,} cases, {d.first:%Y-%m-%d} … {d.last:%Y-%m-%d} "
             f"({'start/complete pairs' if d.lifecycle else 'state log'}"
             f"{', repeated states merged' if d.collapsed else ''})"]
    if t is not None:
        lines.append(f"lead time: median {duration(t.quantile(0.5) / 60)}, p90 "
                     f"{duration(t.quantile(0.9) / 60)}, mean {duration(t.mean / 60)} · "
                     f"wait {d.wait_hours_per_case:.1f} h and rework "
                     f"{d.rework_hours_per_case:.1f} h per case"
                     + (" · handovers not known (no resource in the log)"
                        if d.handovers_per_case is None else
                        f" · {d.handovers_per_case:.2f} handovers per case "
                        f"({d.cases_with_handover:,} cases with any)")
                     + ("" if d.cases_per_month is None else
                        f" · {d.cases_per_month:,.0f} cases a month"))
    if not d.lifecycle and not any(a.waiting for a in d.activities):
        lines.append("[yellow]no activity is a waiting state[/yellow] (none starts with, or "
                     f"has a part starting with: {escape(', '.join(d.waiting_prefixes))}), "
                     "so all "
                     "time counts as work and the activity ratio is 100 %: name the waiting "
                     "states with --waiting WORD")
    acts = Table(title="Activities (map order)", header_style="bold", box=box.SIMPLE_HEAD)
    for col in ("Activity", "Visits", "Cases", "Time to next (median)", "Work h", "Wait h",
                "Rework visits", "%C&A"):
        acts.add_column(col, justify="left" if col == "Activity" else "right")
    for a in d.activities:
        med = a.to_next_seconds_median
        acts.add_row(Text(a.name + (" (waiting)" if a.waiting else ""),
                          style="red" if a.waiting else ""),
                     f"{a.visits:,}", f"{a.cases:,}", "–" if med is None else duration(med / 60),
                     f"{a.work_seconds / 3600:,.0f}", f"{a.wait_seconds / 3600:,.0f}",
                     f"{a.rework_visits:,}", f"{a.complete_accurate:.0%}")
    edges = Table(title=f"Directly-follows pairs (top {min(top, len(d.edges))} of "
                        f"{len(d.edges)})", header_style="bold", box=box.SIMPLE_HEAD)
    for col in ("From", "To", "Count", "Mean", "Median"):
        edges.add_column(col, justify="right" if col in ("Count", "Mean", "Median") else "left")
    for e in d.edges[:top]:
        edges.add_row(escape(e.source), escape(e.target), f"{e.count:,}",
                      duration(e.mean_seconds / 60), duration(e.median_seconds / 60))
    variants = Table(title=f"Variants (top {len(d.variants)} of {d.variant_count:,})",
                     header_style="bold", box=box.SIMPLE_HEAD)
    for col in ("Share", "Cases", "Mean lead", "Path"):
        variants.add_column(col, justify="left" if col == "Path" else "right")
    for v in d.variants:
        path = (" → ".join(v.activities) if len(v.activities) <= 12 else
                " → ".join(v.activities[:11]) + f" … ({len(v.activities)} steps)")
        variants.add_row(f"{v.share:.1%}", f"{v.cases:,}",
                         duration(v.mean_throughput_seconds / 60), escape(path))
    return Group(*lines, acts, edges, variants)


def problems_table(problems: Sequence[Problem]) -> Table:
    table = Table(title=escape(f"{len(problems)} problem(s) in {where(list(problems))}"),
                  title_style="bold red",
                  header_style="bold")
    for col in ("File", "Row", "Line", "Field", "Value", "Problem"):
        table.add_column(col, overflow="fold")
    for p in problems:
        table.add_row(escape(p.file), "" if p.row is None else str(p.row),
                      "" if p.line is None else str(p.line), escape(p.field or ""),
                      "" if p.value is None else escape(repr(p.value)), escape(p.message))
    return table


def runs_table(rows: Sequence[dict[str, Any]]) -> Table:
    from dipstick.findings import Status
    from dipstick.render.lights import light

    table = Table(title="Stored check runs (newest first)", header_style="bold",
                  box=box.SIMPLE_HEAD)
    if not rows:
        table.add_column("No runs stored yet: run `dipstick check PATH`.")
        return table
    for col in ("Run", "Started (UTC)", "As of", "Organisation", "Services", "Lights",
                "Leak/month", "Command"):
        table.add_column(col, overflow="fold")
    for r in rows:
        counts = r["counts"]
        lights = Text.assemble(*[t for s in (Status.LEAK, Status.WATCH, Status.OK,
                                             Status.UNKNOWN)
                                 for t in (light(s, str(counts.get(s.value, 0))), Text(" "))])
        table.add_row(str(r["id"]), f"{r['started_at']:%Y-%m-%d %H:%M}", str(r["as_of"]),
                      escape(r["organisation"]), str(r["services"]), lights,
                      escape(f"{r['leak_money']:,.0f} {r['currency']} · "
                             f"{r['leak_hours']:,.0f} h"), escape(r["command"]))
    return table


def indicators_table(rows: Sequence[dict[str, Any]]) -> Table:
    table = Table(title="Leak indicators", header_style="bold", show_lines=True)
    for col in ("Cause", "Asks", "Remedy", "Settings (defaults)"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["cause"], r["question"], r["action"],
                      "\n".join(f"{k} = {v}" for k, v in r["settings"].items()))
    return table
