"""What every page module shares: the web app's settings and the page renderer.

Apart from :mod:`~dipstick.web.app`, which builds the app from the page modules, so that the
page modules do not import the module that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from dipstick.settings import settings
from dipstick.store.users import Account
from dipstick.web.auth import csrf_token

HERE = Path(__file__).parent


@dataclass(frozen=True)
class WebConfig:
    database: str | None = None        # the app database URL (default: the CLI's)
    secret_key: str | None = None      # signs session cookies (env DIPSTICK_SECRET_KEY)
    https: bool = False                # mark cookies Secure (behind TLS)
    package: Path | None = None        # a data package folder the admin lets the web check
    packages_dir: Path | None = None   # where uploaded packages are kept (None: no uploads)
    max_upload_bytes: int = 512 * 1024**2
    base_url: str | None = None        # where people reach the app, for the links it hands
                                       # out (None: DIPSTICK_BASE_URL) — never the Host header


def base_url(request: Request) -> str:
    """Where people reach this app, for every link it hands out (pulse links, the identity
    provider's callback): ``dipstick serve --base-url`` or DIPSTICK_BASE_URL — never the
    request's ``Host`` header, which any client sets (a forged one would send people, or a
    sign-in's code, to another site)."""
    config: WebConfig = request.app.state.config
    return (config.base_url or settings().base_url).rstrip("/")


@cache
def templates() -> Jinja2Templates:
    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(["html", "j2"], default=True),
                      trim_blocks=True, lstrip_blocks=True)
    return Jinja2Templates(env=env)


def render(request: Request, template: str, who: Account | None, status: int = 200,
           headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    """A page: the template with the caller and the form token every page may need."""
    return templates().TemplateResponse(
        request, template, {"who": who, "csrf": csrf_token(request), **context},
        status_code=status, headers=headers)
