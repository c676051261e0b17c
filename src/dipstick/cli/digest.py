"""``dipstick digest``: the one-page summary of the latest stored check, mailed to leaders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from dipstick.cli.app import DatabaseOpt, _fail, app, err, out
from dipstick.errors import DipstickError, ExitCode


@app.command()
def digest(
    database: DatabaseOpt = None,
    to: Annotated[list[str] | None, typer.Option(
        "--to", help="Send to this address instead of the leaders (repeatable).")] = None,
    run: Annotated[int | None, typer.Option(
        "--run", help="The stored run to summarise (default: the latest; dipstick runs).")]
    = None,
    package: Annotated[Path | None, typer.Option(
        "--package", help="The data package whose alerts: e-mail target sends the digest "
        "(default: the run's package).")] = None,
    target: Annotated[str | None, typer.Option(
        "--target", help="The e-mail target's name, when alerts: has several.")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Show who would get what; send nothing.")] = False,
) -> None:
    """Mail the one-page summary (HTML, the PDF attached) to every user with the role leader,
    one message each, through the e-mail target of alerts:. Run it weekly from a scheduler.
    Exit 0 sent, 2 bad input, 3 the SMTP server (or the database) could not be reached."""
    from dipstick.digest import compose, email_target, latest_summary, recipients, send
    from dipstick.store import Store

    try:
        with Store.open(database) as store:
            store.migrate()
            summary = latest_summary(store, run)
            addresses = recipients(store, to or ())
        smtp = email_target(package or Path(summary.package), target)
        d = compose(summary)
    except DipstickError as e:
        raise _fail(e, "table") from None
    via = f"{smtp.host}:{smtp.smtp_port} ({smtp.security}) as {smtp.sender}"
    if dry_run:
        out.print(f"Dry run: nothing sent. Would send {len(addresses)} e-mail(s) via {via}:",
                  markup=False)
        for a in addresses:
            out.print(f"  to {a}: {d.subject} — attached {d.pdf_name} "
                      f"({len(d.pdf) / 1024:,.0f} KB)", markup=False)
        out.print("", d.text, markup=False)
        raise typer.Exit(int(ExitCode.OK))
    report = send(d, smtp, addresses)
    for a in report.sent:
        out.print(f"sent to {a}", markup=False)
    if report.failed:
        unsent = len(addresses) - len(report.sent)
        err.print(f"[red]error:[/red] the SMTP server at {escape(via)} did not take the digest "
                  f"({unsent} of {len(addresses)} not sent): {escape(report.failed[0])}")
        raise typer.Exit(int(ExitCode.FAILURE))
    out.print(f"Digest sent to {len(report.sent)} recipient(s) via {via}", markup=False)
