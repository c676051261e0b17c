"""``dipstick serve`` and ``dipstick users``: the web app and who may sign in to it."""

from __future__ import annotations

import getpass
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from dipstick.cli.app import (
    DatabaseOpt,
    FormatOpt,
    _check_format,
    _print_json,
    app,
    err,
    open_store,
    out,
)
from dipstick.errors import DipstickError, ExitCode

users_app = typer.Typer(help="Web app users: create, list, disable and enable them, set their "
                        "passwords and roles, give and revoke their API tokens.",
                        no_args_is_help=True)
app.add_typer(users_app, name="users")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    database: DatabaseOpt = None,
    package: Annotated[Path | None, typer.Option(
        help="A data package folder the web may check (admins run checks from the web).")] = None,
    packages_dir: Annotated[Path | None, typer.Option(
        help="Where packages uploaded as zips are kept, one folder per version "
        "(default: dipstick-packages here).")] = None,
    no_uploads: Annotated[bool, typer.Option(
        "--no-uploads", help="Admins may not upload packages, only check --package.")] = False,
    max_upload_mb: Annotated[int, typer.Option(help="Largest zip an admin may upload.")] = 512,
    https: Annotated[bool, typer.Option(
        help="Served behind TLS: session cookies Secure, and Strict-Transport-Security.")
    ] = False,
    base_url: Annotated[str | None, typer.Option(
        help="Where people reach the app, for the links it hands out (default: "
        "DIPSTICK_BASE_URL, else http(s)://HOST:PORT); never taken from a request.")] = None,
    forwarded_allow_ips: Annotated[str | None, typer.Option(
        help="Comma-separated addresses of the reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (default: none, the connecting address counts).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help=(
        "Server processes, for more answers per second on several cores; more than one "
        "needs --no-uploads and no --package (docs/pulse.md)."))] = 1,
) -> None:
    """Serve the web app: the portfolio's lights, each service's story, the JSON API. Set
    DIPSTICK_SECRET_KEY so sessions survive a restart; create the first user with
    `dipstick users create EMAIL --role admin`."""
    import uvicorn

    from dipstick.settings import settings
    from dipstick.web.app import WebConfig, create_app
    from dipstick.web.workers import proxy_options
    from dipstick.web.workers import serve as serve_workers

    uploads = None if no_uploads else (packages_dir or Path.cwd() / "dipstick-packages")
    if package is not None and not (package / "dipstick.yaml").is_file():
        err.print(f"[red]error:[/red] --package {package}: no dipstick.yaml there")
        raise typer.Exit(int(ExitCode.BAD_INPUT))
    if workers > 1 and (package is not None or uploads is not None):
        err.print("[red]error:[/red] --workers: a check started on the web keeps its progress "
                  "in one process; add --no-uploads and leave out --package")
        raise typer.Exit(int(ExitCode.BAD_INPUT))
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        err.print(f"[red]error:[/red] --base-url {base_url!r}: an http:// or https:// URL")
        raise typer.Exit(int(ExitCode.BAD_INPUT))
    env = settings()
    base = base_url or (env.base_url if "base_url" in env.model_fields_set
                        else f"http{'s' if https else ''}://{host}:{port}")
    config = WebConfig(database=database, https=https, package=package, packages_dir=uploads,
                       max_upload_bytes=max_upload_mb * 1024**2, base_url=base)
    try:   # settings the app cannot work with (a half-set-up identity provider) stop it here
        asgi = create_app(config)
    except DipstickError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(int(e.exit_code)) from None
    err.print(f"dipstick serving on [bold]http://{host}:{port}/[/bold] (Ctrl-C stops)")
    if workers > 1:   # each worker builds its own app from the same, now checked, settings
        serve_workers(config, host, port, workers, forwarded_allow_ips)
        return
    uvicorn.run(asgi, host=host, port=port, log_level="warning",
                **proxy_options(forwarded_allow_ips))


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Argument(help="The user's e-mail (their sign-in name).")],
    role: Annotated[str, typer.Option(help="admin, leader, owner or viewer.")] = "viewer",
    name: Annotated[str, typer.Option(help="Display name (default: from the e-mail).")] = "",
    database: DatabaseOpt = None,
) -> None:
    """Create a user. The password is read from DIPSTICK_PASSWORD, else from a prompt (or one
    line on stdin when it is not a terminal). Exit 2 on a bad role, e-mail or password."""
    from dipstick.store.audit import Actor
    from dipstick.store.users import create_user

    password = _read_password()
    with open_store(database, "table") as store:
        who = create_user(store, email, password, role, name, Actor.cli())
    out.print(f"Created {who.email} ({who.role}).")


def _read_password() -> str:
    """DIPSTICK_PASSWORD, else a prompt (or one line of stdin when it is not a terminal)."""
    from dipstick.settings import settings

    given = settings().password
    if given is not None:
        return given.get_secret_value()
    return (getpass.getpass("Password: ") if sys.stdin.isatty()
            else sys.stdin.readline().rstrip("\n"))


def _when(moment: datetime | None, never: str = "-") -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment is not None else never


@users_app.command("list")
def users_list(database: DatabaseOpt = None, fmt: FormatOpt = "table") -> None:
    """List the users: role, state (active or disabled), how they sign in."""
    from dipstick.store.users import users

    _check_format(fmt)
    with open_store(database, fmt) as store:
        rows = users(store)
    if fmt == "json":
        _print_json([{"email": u.email, "name": u.name, "role": u.role, "state": u.state,
                      "password": u.password, "oidc": u.oidc,
                      "created": u.created_at.isoformat()} for u in rows])
        return
    for u in rows:
        via = "+".join(k for k, on in (("password", u.password), ("oidc", u.oidc)) if on)
        out.print(f"{u.email}\t{u.role}\t{u.state}\t{via or '-'}\t{u.name}")


@users_app.command("token")
def users_token(
    email: Annotated[str | None, typer.Argument(help="Whose token (not with --revoke).")] = None,
    name: Annotated[str, typer.Option(help="What the token is for.")] = "api",
    expires_days: Annotated[int, typer.Option(
        min=0, help="Days the token works; 0: until revoked.")] = 90,
    revoke: Annotated[int | None, typer.Option(
        help="Revoke the token with this id (see `dipstick users tokens`).")] = None,
    database: DatabaseOpt = None,
) -> None:
    """Create an API token (send it as `Authorization: Bearer TOKEN`; shown only once, on
    stdout), or revoke one with --revoke ID. Exit 2 for an unknown user or token id."""
    from dipstick.store.audit import Actor
    from dipstick.store.users import create_token, revoke_token

    if (email is None) == (revoke is None):
        err.print("[red]error:[/red] give either EMAIL (a new token) or --revoke ID")
        raise typer.Exit(int(ExitCode.BAD_INPUT))
    with open_store(database, "table") as store:
        if revoke is not None:
            done = revoke_token(store, revoke, Actor.cli())
            err.print(f"Token {done.id} ({done.name}) of {done.email} revoked "
                      f"{_when(done.revoked_at)} UTC.")
            return
        assert email is not None
        made = create_token(store, email, name, expires_days, Actor.cli())
    err.print(f"Token {made.id} ({name}) for {email.strip().lower()}, expires "
              f"{_when(made.expires_at, 'never')}{' UTC' if made.expires_at else ''}:")
    out.print(made.token)


@users_app.command("tokens")
def users_tokens(
    email: Annotated[str | None, typer.Argument(help="Whose tokens (default: everyone's).")]
    = None,
    database: DatabaseOpt = None,
    fmt: FormatOpt = "table",
) -> None:
    """List API tokens: id, name, created, expires, last used, revoked — never the token."""
    from dipstick.store.users import tokens

    _check_format(fmt)
    with open_store(database, fmt) as store:
        rows = tokens(store, email)

    if fmt == "json":
        _print_json([{"id": t.id, "email": t.email, "name": t.name, "state": t.state(),
                      "created": t.created_at, "expires": t.expires_at,
                      "last_used": t.last_used_at, "revoked": t.revoked_at} for t in rows])
        return
    out.print("id\temail\tname\tstate\tcreated\texpires\tlast used\trevoked")
    for t in rows:
        out.print(f"{t.id}\t{t.email}\t{t.name}\t{t.state()}\t{_when(t.created_at)}\t"
                  f"{_when(t.expires_at, 'never')}\t{_when(t.last_used_at)}\t"
                  f"{_when(t.revoked_at)}", markup=False)


@users_app.command("disable")
def users_disable(email: Annotated[str, typer.Argument(help="Whose access ends.")],
                  database: DatabaseOpt = None) -> None:
    """Disable a user: no sign-in (password or identity provider), no API token; their
    sign-ins end at once. Exit 2 for an unknown user."""
    who = _set_active(email, False, database)
    out.print(f"Disabled {who}: signed out everywhere, API tokens stopped.")


@users_app.command("enable")
def users_enable(email: Annotated[str, typer.Argument(help="Who may sign in again.")],
                 database: DatabaseOpt = None) -> None:
    """Enable a disabled user: they may sign in again (their old sign-ins stay ended)."""
    out.print(f"Enabled {_set_active(email, True, database)}.")


def _set_active(email: str, active: bool, database: str | None) -> str:
    """The user's e-mail once their access is on or off (as the OS user, audited)."""
    from dipstick.store.audit import Actor
    from dipstick.store.users import set_active

    with open_store(database, "table") as store:
        return set_active(store, email, active, Actor.cli()).email


@users_app.command("password")
def users_password(email: Annotated[str, typer.Argument(help="Whose password.")],
                   database: DatabaseOpt = None) -> None:
    """Set a user's password (read like `users create` reads it); every sign-in of theirs
    ends. Exit 2 for an unknown user or a short password."""
    from dipstick.store.audit import Actor
    from dipstick.store.users import change_password

    password = _read_password()
    with open_store(database, "table") as store:
        who = change_password(store, email, password, Actor.cli())
    out.print(f"New password for {who.email}; their sign-ins ended.")


@users_app.command("role")
def users_role(email: Annotated[str, typer.Argument(help="Whose role.")],
               role: Annotated[str, typer.Argument(help="admin, leader, owner or viewer.")],
               database: DatabaseOpt = None) -> None:
    """Change a user's role (it counts from their next request)."""
    from dipstick.store.audit import Actor
    from dipstick.store.users import set_role

    with open_store(database, "table") as store:
        who = set_role(store, email, role, Actor.cli())
    out.print(f"{who.email} is now {who.role}.")
