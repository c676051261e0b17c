"""``dipstick serve`` and ``dipstick users``: the web app and who may sign in to it."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from dipstick.cli.app import DatabaseOpt, FormatOpt, _check_format, _print_json, app, err, out
from dipstick.errors import DipstickError, ExitCode

users_app = typer.Typer(help="Web app users: create them, list them, give them API tokens.",
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
    err.print(f"dipstick serving on [bold]http://{host}:{port}/[/bold] (Ctrl-C stops)")
    if workers > 1:
        serve_workers(config, host, port, workers, forwarded_allow_ips)
        return
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning",
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
    from dipstick.settings import settings
    from dipstick.store import Store
    from dipstick.store.users import create_user

    given = settings().password
    password = given.get_secret_value() if given is not None else None
    if password is None:
        password = (getpass.getpass("Password: ") if sys.stdin.isatty()
                    else sys.stdin.readline().rstrip("\n"))
    try:
        with Store.open(database) as store:
            store.migrate()
            who = create_user(store, email, password, role, name)
    except DipstickError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(int(e.exit_code)) from None
    out.print(f"Created {who.email} ({who.role}).")


@users_app.command("list")
def users_list(database: DatabaseOpt = None, fmt: FormatOpt = "table") -> None:
    """List the users and their roles."""
    from dipstick.store import Store
    from dipstick.store.users import users

    _check_format(fmt)
    try:
        with Store.open(database) as store:
            store.migrate()
            rows = users(store)
    except DipstickError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(int(e.exit_code)) from None
    if fmt == "json":
        _print_json([{"email": u.email, "name": u.name, "role": u.role} for u in rows])
        return
    for u in rows:
        out.print(f"{u.email}\t{u.role}\t{u.name}")


@users_app.command("token")
def users_token(
    email: Annotated[str, typer.Argument(help="Whose token.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "api",
    database: DatabaseOpt = None,
) -> None:
    """Create an API token (send it as `Authorization: Bearer TOKEN`); shown only once."""
    from dipstick.store import Store
    from dipstick.store.users import create_token

    try:
        with Store.open(database) as store:
            store.migrate()
            token = create_token(store, email, name)
    except DipstickError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(int(e.exit_code)) from None
    out.print(token)
