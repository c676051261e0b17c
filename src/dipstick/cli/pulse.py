"""``dipstick pulse``: start check-ins, hand out or mail their links, read their results, list
the overdue ones. Thin edges over :mod:`dipstick.pulse` (the web app calls the same functions).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from dipstick.cli.app import (
    DatabaseOpt,
    FormatOpt,
    _check_format,
    _fail,
    _print_json,
    err,
    open_store,
    out,
    sane_day,
)
from dipstick.cli.app import app as root
from dipstick.defaults import DEFAULT_BASE_URL
from dipstick.errors import DipstickError, ExitCode, UsageError

if TYPE_CHECKING:   # imported where used: start-up stays light (tests/test_startup.py)
    from dipstick.model import ValueModel
    from dipstick.store import Store

app = typer.Typer(name="pulse", no_args_is_help=True, rich_markup_mode="rich",
                  help="Pulse checks: ask stakeholder groups, in 60 seconds, whether they still "
                  "see value; see who was not asked for too long.")
root.add_typer(app)

PackageOpt = Annotated[Path | None, typer.Option(
    "--package", help="The data package with the value model (default: the latest stored "
    "run's package).")]
BaseUrlOpt = Annotated[str | None, typer.Option(
    "--base-url",   # unset: DIPSTICK_BASE_URL, read by dipstick.settings
    help="Where the web app is reached, for the links (default: env DIPSTICK_BASE_URL, else "
    f"{DEFAULT_BASE_URL}).")]
CampaignArg = Annotated[int, typer.Argument(help="The check-in's number (dipstick pulse list).")]
SmtpHost = Annotated[str | None, typer.Option(help="SMTP server: mail the links from it.")]
SmtpPort = Annotated[int | None, typer.Option(help="SMTP port (default by --smtp-security).")]
SmtpSecurity = Annotated[str, typer.Option(help="starttls, ssl or none.")]
SmtpUser = Annotated[str | None, typer.Option(help="SMTP user name.")]
SmtpPasswordEnv = Annotated[str | None, typer.Option(
    help="Environment variable holding the SMTP password.")]
Sender = Annotated[str, typer.Option(help="The From address of the e-mails.")]


def _package(store: Store, package: Path | None) -> Path:
    """--package, else the package of the latest stored run."""
    if package is not None:
        return package
    runs = store.runs(limit=1)
    if not runs:
        raise UsageError("no stored check to take the package from: pass --package")
    return Path(runs[0].package)


def _model(store: Store, package: Path | None) -> tuple[ValueModel, str]:
    """The value model (and its package path): --package, else the latest stored run's."""
    from dipstick.package import load_package

    package = _package(store, package)
    loaded = load_package(package)
    try:
        return loaded.model, str(package)
    finally:
        loaded.close()


def _mailer(host: str, port: int | None, security: str, user: str | None,
            password_env: str | None, sender: str) -> Any:
    from pydantic import ValidationError

    from dipstick.model.alerts import EmailTarget
    from dipstick.pulse.mail import Mailer

    try:
        target = EmailTarget(type="email", name="pulse", host=host, port=port,
                             security=security,
                             username=user, password_env=password_env, sender=sender,
                             to=("invitees",))
    except ValidationError as e:
        raise UsageError(f"SMTP options: {e.errors()[0]['loc'][0]}: {e.errors()[0]['msg']}") \
            from None
    password = os.environ.get(password_env) if password_env else None
    if password_env and not password:
        raise UsageError(f"environment variable {password_env} (--smtp-password-env) is not set")
    return Mailer(target, password)


def _links_out(links: list[Any], base_url: str, fmt: str, output: Path | None) -> None:
    from dipstick.pulse.mail import link_url

    rows = [{"email": x.email, "group": x.group, "url": link_url(base_url, x.token)}
            for x in links]
    if output is not None:
        import csv

        with output.open("w", newline="") as f:
            w = csv.DictWriter(f, ["email", "group", "url"])
            w.writeheader()
            w.writerows(rows)
        err.print(f"{len(rows)} link(s) written to {output} (shown once: keep the file safe)",
                  markup=False)
        return
    if fmt == "json":
        _print_json({"links": rows})
        return
    table = Table(title="Links to hand out (each works once; shown only now)",
                  box=box.SIMPLE_HEAD)
    for c in ("E-mail", "Group", "Link"):
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(r["email"] or "—", r["group"], r["url"])
    out.print(table)


def _read_invitees(path: Path, groups: tuple[str, ...]) -> list[tuple[str, str]]:
    from dipstick.pulse.invitees import parse_invitees

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot be read as UTF-8 text: {e}") from None
    return parse_invitees(text, groups, str(path))


@app.command()
def start(
    service: Annotated[str, typer.Argument(help="The service id.")],
    group: Annotated[list[str] | None, typer.Option(
        "--group", "-g", help="A consuming group to ask (repeatable; default: all).")] = None,
    package: PackageOpt = None,
    closes: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%d"], callback=sane_day,
        help="Closing date (default: in --open-days).")] = None,
    open_days: Annotated[int, typer.Option(help="Days a check-in stays open.", min=1)] = 14,
    every: Annotated[str | None, typer.Option(
        help="Repeat: month, quarter, half-year, year or a number of days.")] = None,
    links: Annotated[int, typer.Option(help="Anonymous single-use links to make now.",
                                       min=0, max=10_000)] = 0,
    open_link: Annotated[bool, typer.Option(
        "--open-link", help="Also an open link (one answer per browser) for the first group.")]
    = False,
    invitees: Annotated[Path | None, typer.Option(
        help="CSV of invitees (email, group): one link each.")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the links to this CSV instead of showing them.")] = None,
    base_url: BaseUrlOpt = None,
    database: DatabaseOpt = None,
    fmt: FormatOpt = "table",
) -> None:
    """Start a check-in of SERVICE with its consuming groups; print its links."""
    from dipstick.pulse.campaigns import add_invitations, start_campaign
    from dipstick.pulse.campaigns import open_link as make_open
    from dipstick.pulse.form import questions_for
    from dipstick.pulse.mail import link_url
    from dipstick.pulse.schedules import add_schedule, every_days
    from dipstick.settings import settings

    _check_format(fmt)
    base_url = base_url or settings().base_url
    today = datetime.now(UTC).date()
    with open_store(database, fmt) as store:
        try:
            model, pkg = _model(store, package)
            closes_on = closes.date() if closes else today + timedelta(days=open_days)
            if closes_on < today:
                raise UsageError(f"the closing date {closes_on} is in the past")
            # every input is checked before anything is stored
            chosen, _ = questions_for(model, service, group)
            listed = _read_invitees(invitees, tuple(chosen)) if invitees else []
            period = every_days(every) if every is not None else None
            schedule = None
            if period is not None and every is not None:
                schedule = add_schedule(store, model, service, group, every, open_days,
                                        today + timedelta(days=period), pkg, "cli")
            campaign = start_campaign(store, model, service, group, created_by="cli",
                                      package=pkg, closes_on=closes_on, schedule_id=schedule,
                                      today=today)
            made = add_invitations(store, campaign, [(e, g) for e, g in listed]
                                   + [(None, campaign.groups[0])] * links)
            opened = make_open(store, campaign, campaign.groups[0]) if open_link else None
        except DipstickError as e:
            raise _fail(e, fmt) from None
    info = {"campaign": campaign.id, "service": campaign.service_id,
            "groups": list(campaign.groups), "closes_on": str(campaign.closes_on),
            "schedule": schedule, "results": f"{base_url.rstrip('/')}/pulse/campaigns/"
            f"{campaign.id}", "open_link": link_url(base_url, opened.token) if opened else None}
    if fmt == "json" and output is None:
        from dipstick.pulse.mail import link_url as url

        _print_json({**info, "links": [{"email": x.email, "group": x.group,
                                        "url": url(base_url, x.token)} for x in made]})
        return
    out.print(f"Check-in [bold]#{campaign.id}[/bold] of {escape(campaign.service_name)} with "
              f"{escape(', '.join(campaign.groups))}, open until {campaign.closes_on}"
              + (f", repeated every {every}" if every else ""))
    if opened:
        out.print(f"Open link (one answer per browser): {info['open_link']}")
    if made:
        _links_out(made, base_url, fmt, output)
    out.print(f"Results: {info['results']}")


@app.command()
def invite(
    campaign: CampaignArg,
    invitees: Annotated[Path, typer.Option(help="CSV of invitees (email, group).")],
    smtp_host: SmtpHost = None, smtp_port: SmtpPort = None,
    smtp_security: SmtpSecurity = "starttls", smtp_user: SmtpUser = None,
    smtp_password_env: SmtpPasswordEnv = None, sender: Sender = "dipstick@localhost",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Without SMTP: write the links to this CSV.")] = None,
    base_url: BaseUrlOpt = None,
    database: DatabaseOpt = None,
    fmt: FormatOpt = "table",
) -> None:
    """Invite people from a CSV (email, group): by e-mail with --smtp-host (one message each,
    plain text + HTML), else as a list of links. Exit 2 on a bad CSV (nobody invited)."""
    from dipstick.pulse.campaigns import add_invitations, get
    from dipstick.pulse.mail import send_invitations
    from dipstick.settings import settings

    _check_format(fmt)
    base_url = base_url or settings().base_url
    with open_store(database, fmt) as store:
        try:
            c = get(store, campaign)
            listed = _read_invitees(invitees, c.groups)
            mailer = _mailer(smtp_host, smtp_port, smtp_security, smtp_user,
                             smtp_password_env, sender) if smtp_host else None
            made = add_invitations(store, c, listed)
            if mailer is None:
                _links_out(made, base_url, fmt, output)
                return
            report = send_invitations(store, c, mailer, base_url, reminder=False)
        except DipstickError as e:
            raise _fail(e, fmt) from None
    _mail_report(report, "invitation", fmt)


def _mail_report(report: Any, what: str, fmt: str) -> None:
    if fmt == "json":
        _print_json({"sent": report.sent, "failed": report.failed})
    else:
        out.print(f"{len(report.sent)} {what}(s) sent, {len(report.failed)} failed")
        for line in report.failed:
            err.print(f"[red]not sent:[/red] {escape(line)}", markup=True)
    if report.failed:
        raise typer.Exit(int(ExitCode.FAILURE))


@app.command()
def remind(
    campaign: CampaignArg,
    smtp_host: Annotated[str, typer.Option(help="SMTP server.")],
    smtp_port: SmtpPort = None,
    smtp_security: SmtpSecurity = "starttls", smtp_user: SmtpUser = None,
    smtp_password_env: SmtpPasswordEnv = None, sender: Sender = "dipstick@localhost",
    base_url: BaseUrlOpt = None,
    database: DatabaseOpt = None,
    fmt: FormatOpt = "table",
) -> None:
    """Remind the invitees who have not answered (only them), each with a fresh link."""
    from dipstick.pulse.campaigns import get
    from dipstick.pulse.mail import send_invitations
    from dipstick.settings import settings

    _check_format(fmt)
    base_url = base_url or settings().base_url
    with open_store(database, fmt) as store:
        try:
            c = get(store, campaign)
            if not c.is_open(datetime.now(UTC).date()):
                raise UsageError(f"check-in {campaign} has closed ({c.closes_on})")
            mailer = _mailer(smtp_host, smtp_port, smtp_security, smtp_user,
                             smtp_password_env, sender)
            report = send_invitations(store, c, mailer, base_url, reminder=True)
        except DipstickError as e:
            raise _fail(e, fmt) from None
    _mail_report(report, "reminder", fmt)


@app.command("list")
def list_(database: DatabaseOpt = None, fmt: FormatOpt = "table",
          service: Annotated[str | None, typer.Option(help="Only this service.")] = None
          ) -> None:
    """The check-ins, newest first, with their answers so far."""
    from dipstick.pulse.campaigns import answers, campaigns

    _check_format(fmt)
    with open_store(database, fmt) as store:
        found = campaigns(store, service)
        counts: dict[int, int] = {}
        for a in answers(store, [c.id for c in found]) if found else []:
            counts[a.campaign_id] = counts.get(a.campaign_id, 0) + 1
    today = datetime.now(UTC).date()
    rows: list[dict[str, Any]] = [{"id": c.id, "service": c.service_id, "groups": list(c.groups),
             "source": c.source, "started": c.created_at.date().isoformat(),
             "closes_on": str(c.closes_on) if c.closes_on else None,
             "open": c.is_open(today), "answers": counts.get(c.id, 0)} for c in found]
    if fmt == "json":
        _print_json(rows)
        return
    table = Table(title="Check-ins (newest first)", box=box.SIMPLE_HEAD)
    for col in ("#", "Service", "Groups", "Source", "Started", "Closes", "Open", "Answers"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["id"]), r["service"], ", ".join(r["groups"]), r["source"],
                      r["started"], r["closes_on"] or "—", "yes" if r["open"] else "no",
                      str(r["answers"]))
    out.print(table)


@app.command()
def results(campaign: CampaignArg, database: DatabaseOpt = None,
            fmt: FormatOpt = "table") -> None:
    """A check-in's response rate, score per group and dimension, promoters − detractors and
    comments (groups under 5 answers stay hidden)."""
    from dipstick.pulse.campaigns import answers, get, invitation_counts
    from dipstick.pulse.results import campaign_results

    _check_format(fmt)
    with open_store(database, fmt) as store:
        try:
            c = get(store, campaign)
        except DipstickError as e:
            raise _fail(e, fmt) from None
        doc = campaign_results(c, answers(store, [c.id]), invitation_counts(store, c.id),
                               comments=True, today=datetime.now(UTC).date())
    if fmt == "json":
        _print_json(doc)
        return
    rate = doc["response_rate"]
    out.print(f"Check-in #{c.id}: {c.service_name} — {doc['answers']} answer(s)"
              + (f", response rate {rate:.0%} of {doc['invited']} invited" if rate is not None
                 else ""), markup=False)
    for g in doc["groups"]:
        if not g["shown"]:
            out.print(f"  {g['name']}: {g['answers']} answer(s) — {g['hidden_reason']}",
                      markup=False)
            continue
        pmd = g["promoters_minus_detractors"]
        out.print(f"  {g['name']}: value score {g['score']} ({g['score_formula']}); "
                  f"promoters − detractors {pmd if pmd is not None else '—'} "
                  f"({g['pmd_formula']})", markup=False)
        for d in g["dimensions"]:
            out.print(f"    {d['name']}: {d['mean']} ({d['answers']} answers, weight "
                      f"{d['weight']:g})", markup=False)
        for text in g.get("comments", []):
            out.print(f"    “{text}”", markup=False)


@app.command()
def export(campaign: CampaignArg,
           output: Annotated[Path, typer.Option("--output", "-o", help="The CSV to write.")]
           = Path("pulse.csv"),
           database: DatabaseOpt = None) -> None:
    """Write a check-in's answers as CSV in the shape of a package's surveys table."""
    from dipstick.pulse.campaigns import answers, get
    from dipstick.pulse.results import export_csv

    with open_store(database, "table") as store:
        try:
            c = get(store, campaign)
        except DipstickError as e:
            raise _fail(e, "table") from None
        text = export_csv(c, answers(store, [c.id]))
    output.write_text(text, encoding="utf-8")
    out.print(f"Answers of check-in #{c.id} written to [bold]{escape(str(output))}[/bold]")


@app.command("import")
def import_(path: Annotated[Path, typer.Argument(help="A data package with a surveys table.")],
            database: DatabaseOpt = None, fmt: FormatOpt = "table") -> None:
    """Import another survey tool's answers from a data package's surveys table."""
    from dipstick.package import load_package
    from dipstick.pulse.importer import import_surveys

    _check_format(fmt)
    with open_store(database, fmt) as store:
        try:
            package = load_package(path)
        except DipstickError as e:
            raise _fail(e, fmt) from None
        try:
            done = import_surveys(store, package, created_by=f"import {path}")
        except DipstickError as e:
            raise _fail(e, fmt) from None
        finally:
            package.close()
    if fmt == "json":
        _print_json({"campaigns": [c.id for c in done]})
    else:
        out.print(f"{len(done)} imported check-in(s) from {path}", markup=False)
