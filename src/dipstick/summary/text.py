"""The summary's figures as words, shared by the HTML page, the PDF and the e-mail's plain text,
so the three never say a number differently."""

from __future__ import annotations

from dipstick.summary import ActionView, LeakLine, Recovered, Summary

NO_ACTION = "no action yet"


def money(value: float | None, currency: str) -> str:
    return "—" if value is None else f"{value:,.0f} {currency}"


def money_range(low: float | None, high: float | None, currency: str) -> str:
    """``low–high CUR``, or a dash when the estimate carries no range."""
    if low is None or high is None:
        return "no range"
    return f"{low:,.0f}–{high:,.0f} {currency}"


def change(s: Summary) -> str:
    """The change since the previous stored check, signed; a dash for the first check."""
    if s.change is None:
        return "—"
    sign = "+" if s.change > 0 else "−" if s.change < 0 else "±"
    return f"{sign}{abs(s.change):,.0f} {s.currency}"


def change_since(s: Summary) -> str:
    if s.previous is None:
        return "first stored check: no change to show yet"
    return f"since the check as of {s.previous.as_of.isoformat()}"


def action(a: ActionView | None) -> str:
    """The action's status, due date and what it recovered; "no action yet" when none."""
    if a is None:
        return NO_ACTION
    parts = [a.status.replace("_", " ")]
    if a.due:
        parts.append(f"due {a.due.isoformat()}" + (" (overdue)" if a.overdue else ""))
    return ", ".join(parts)


def recovered_of(line: LeakLine, currency: str) -> str:
    a = line.action
    if a is None or a.recovered_money is None:
        return "—"
    return money(a.recovered_money, currency)


def recovered(r: Recovered, currency: str) -> str:
    """The headline of value recovered, honest when there is nothing to measure yet."""
    if r.money is None:
        if not r.actions:
            return "no action recorded yet"
        return f"not measured yet ({r.actions} action(s), {r.done} done)"
    return money(r.money, currency)


def recovered_detail(r: Recovered, currency: str) -> str:
    if r.money is None:
        return ""
    extra = f"range {money_range(r.low, r.high, currency)}" if r.low is not None \
        and r.high is not None and (r.low, r.high) != (r.money, r.money) else ""
    counts = f"{r.actions} action(s), {r.done} done" if r.actions else ""
    return " · ".join(x for x in (extra, counts) if x)


def weeks(pair: tuple[int, int]) -> str:
    """Complete weeks of a period; only the volume tables (tickets, usage) count them."""
    return f"{pair[0]}/{pair[1]} complete" if pair[1] else "—"


def thin(line_thin_window: str | None, line_thin_baseline: str | None) -> str:
    return "; ".join(x for x in (line_thin_window, line_thin_baseline) if x) or "—"


def plain(s: Summary) -> str:
    """The summary as plain text: the e-mail's text part and ``--dry-run``'s preview."""
    lines = [
        f"{s.organisation}: value leak summary as of {s.as_of.isoformat()}",
        "",
        f"Value at risk: {money(s.leak_money, s.currency)} per month "
        f"(range {money_range(s.leak_low, s.leak_high, s.currency)}; "
        f"{s.leaking} of {s.services} services leak)",
        f"  {s.formulas['total']}",
        f"Change: {change(s)} ({change_since(s)})",
        f"Value recovered: {recovered(s.recovered, s.currency)} per month",
        f"  {s.recovered.formula}",
        "",
        f"The {len(s.top)} largest leaks:",
    ]
    for i, t in enumerate(s.top, 1):
        since = t.since.isoformat() if t.since else "unknown"
        lines.append(f"{i:>2}. {t.service} — {t.cause_title}: {money(t.money, s.currency)}/month "
                     f"({money_range(t.low, t.high, s.currency)}), since {since}, "
                     f"owner {t.who}, action: {action(t.action)}")
    lines += ["", f"Data: as of {s.as_of.isoformat()} ({s.as_of_reason or 'no reason given'}); "
              f"window {s.window}, baseline {s.baseline}"]
    for c in s.coverage:
        lines.append(f"  {c.table}: window {c.window_rows:,} rows ({weeks(c.window_weeks)}), "
                     f"baseline {c.baseline_rows:,} rows ({weeks(c.baseline_weeks)})"
                     + (f" — thin: {thin(c.thin_window, c.thin_baseline)}"
                        if c.thin_window or c.thin_baseline else ""))
    return "\n".join(lines) + "\n"
