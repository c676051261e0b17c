"""What an alert says, and its shape for each receiver: pure functions of a logged event.

A message is built from the event's stored details, never from the current run, so a pending
alert delivered days later says exactly what it would have said on time. One :class:`Message`
(title, facts, text) is rendered many ways: JSON webhook, Slack blocks, a Teams card, e-mail.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dipstick.alerts.events import LEAK

ALERT_SCHEMA = "dipstick.alert/v1"
LEAK_COLOUR = "D83B01"
RESOLVED_COLOUR = "2EB886"


@dataclass(frozen=True)
class Message:
    """An alert as people read it: a title, labelled facts, and the same in plain text."""

    event_id: int
    kind: str
    title: str
    facts: tuple[tuple[str, str], ...]
    details: Mapping[str, Any]

    @property
    def text(self) -> str:
        return self.title + "\n\n" + "\n".join(f"{k}: {v}" for k, v in self.facts)


def _cause(cause: str) -> str:
    return cause.replace("_", " ")


def _amount(value: Any, currency: str, hours: Any) -> str:
    money = f"{float(value or 0):,.0f} {currency}"
    return f"{money} and {float(hours or 0):,.1f} h per month"


def build(event_id: int, details: Mapping[str, Any]) -> Message:
    """The message for one event: a leak names its cost, formula, start and remedy; a
    resolution names the leak that ended and when it started."""
    d = details
    service = f"{d['service_name']} ({d['service_id']})"
    if d["kind"] == "overdue":   # a check-in overdue (dipstick.pulse.overdue)
        title = f"Check-in overdue: {d['service_name']} — {d['group_name']}"
        facts = [("Service", service), ("Group", f"{d['group_name']} ({d['group']})"),
                 ("Last asked", d["last_asked"] or "never"),
                 ("Rule", f"ask at least every {d['max_age_days']} days"),
                 ("Recommended action", "Start a pulse check (dipstick pulse start)"),
                 ("As of", d["as_of"])]
    elif d["kind"] == LEAK:
        title = f"Value leak: {d['service_name']} — {_cause(d['cause'])}"
        facts = [("Service", service), ("Cause", d["cause"]),
                 ("Leak", _amount(d["money"], d["currency"], d["hours"])),
                 ("Formula", d["formula"] or "not estimated"),
                 ("Since", d["since"] or "unknown (no shift dated)"),
                 *([("Episode", d["episode"])] if d.get("episode") else []),
                 *([("Dismissed before", f"action #{d['dismissed_action']}; raised again: "
                                         f"{d['changed']}")]
                   if d.get("dismissed_action") else []),
                 ("Summary", d["summary"]), ("Recommended action", d["action"] or "—"),
                 ("As of", d["as_of"])]
    else:
        title = f"Leak ended: {d['service_name']} — {_cause(d['cause'])}"
        facts = [("Service", service), ("Cause", d["cause"]),
                 ("Started", d["started"] or "unknown"),
                 ("Ended by", d["as_of"]),
                 ("Was leaking", _amount(d["leak_money"], d["currency"], d["leak_hours"])),
                 ("Now", f"{d['status']}: {d['summary']}")]
    if d.get("owner"):
        facts.insert(1, ("Owner", str(d["owner"])))
    facts.insert(0, ("Organisation", d["organisation"]))
    return Message(event_id, d["kind"], title, tuple((k, str(v)) for k, v in facts), details)


def webhook_payload(m: Message) -> dict[str, Any]:
    """The generic JSON document: the event's data plus the human title and text."""
    return {"schema": ALERT_SCHEMA, "id": m.event_id, "event": m.kind, "title": m.title,
            "text": m.text, **{k: v for k, v in m.details.items() if k != "kind"}}


def slack_payload(m: Message) -> dict[str, Any]:
    """Slack-compatible (also Mattermost, Rocket.Chat): ``text`` is the notification
    fallback, ``blocks`` the layout. Section fields are capped at 10 by Slack."""
    fields = [{"type": "mrkdwn", "text": f"*{k}*\n{_slack_escape(v)}"} for k, v in m.facts]
    return {
        "text": m.title,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": m.title[:150]}},
            *({"type": "section", "fields": fields[i:i + 10]} for i in range(0, len(fields), 10)),
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"dipstick alert #{m.event_id}"}]},
        ],
    }


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def teams_payload(m: Message, card: str = "adaptive") -> dict[str, Any]:
    """Teams incoming webhooks: an Adaptive Card wrapped in a message (what Workflows
    webhooks accept), or a legacy MessageCard (Office 365 connectors)."""
    colour = LEAK_COLOUR if m.kind == LEAK else RESOLVED_COLOUR
    if card == "messagecard":
        return {"@type": "MessageCard", "@context": "https://schema.org/extensions",
                "summary": m.title, "themeColor": colour, "title": m.title,
                "sections": [{"facts": [{"name": k, "value": v} for k, v in m.facts]}]}
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard", "version": "1.4",
            "body": [
                {"type": "TextBlock", "text": m.title, "weight": "Bolder", "size": "Medium",
                 "wrap": True, "color": "Attention" if m.kind == LEAK else "Good"},
                {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in m.facts]},
            ]}}]}


def email_parts(m: Message) -> tuple[str, str, str]:
    """Subject, plain text and HTML of the e-mail; every value is escaped in the HTML."""
    colour = LEAK_COLOUR if m.kind == LEAK else RESOLVED_COLOUR
    rows = "".join(f"<tr><th style=\"text-align:left;padding:2px 12px 2px 0\">"
                   f"{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in m.facts)
    body = (f"<html><body><h2 style=\"color:#{colour}\">{html.escape(m.title)}</h2>"
            f"<table>{rows}</table><p style=\"color:#777\">dipstick alert #{m.event_id}</p>"
            "</body></html>")
    return f"[dipstick] {m.title}", m.text + f"\n\n-- dipstick alert #{m.event_id}\n", body
