"""Defaults the command line shows in its ``--help`` before any work starts.

Why a module of their own: ``dipstick --help`` must start in a blink (issue 16), and Typer
reads these while it registers the commands, so they cannot live beside the heavy modules that
use them (pydantic settings, the package loader). Those modules import them from here;
nothing here imports anything. (The waiting words live in :mod:`dipstick.waiting`, light for
the same reason.)
"""

from __future__ import annotations

# Where the web app is reached, for the links pulse checks send (DIPSTICK_BASE_URL overrides).
DEFAULT_BASE_URL = "http://127.0.0.1:8000"

# dipstick init's assumed share of a ticket's open time that its requester loses:
# about one working hour per day open: 1 h ÷ 24 h × 5/7 days (docs/init.md).
DEFAULT_LOST_SHARE = 0.03

# What `dipstick import` reads: the package's tables and the service catalog.
IMPORT_KINDS = ("tickets", "usage", "costs", "training", "changes", "surveys", "kpis",
                "touchpoints", "services")
