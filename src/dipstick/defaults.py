"""Defaults the command line shows in its ``--help`` before any work starts.

Why a module of their own: ``dipstick --help`` must start in a blink (issue 16), and Typer
reads these while it registers the commands, so they cannot live beside the heavy modules that
use them (pydantic settings, the package loader, the model). Those modules import them from
here; nothing here imports anything.
"""

from __future__ import annotations

# Where the web app is reached, for the links pulse checks send (DIPSTICK_BASE_URL overrides).
DEFAULT_BASE_URL = "http://127.0.0.1:8000"

# dipstick init's assumed share of a ticket's open time that its requester loses:
# about one working hour per day open: 1 h ÷ 24 h × 5/7 days (docs/init.md).
DEFAULT_LOST_SHARE = 0.03

# Words that mark a waiting state at the start of an activity name or of any part of a
# composite one ("Queued-Awaiting Assignment", "Accepted-Wait - User"): docs/streams.md.
WAITING_PREFIXES = ("awaiting", "waiting", "wait", "pending", "on hold", "queued")

# What `dipstick import` reads: the package's tables and the service catalog.
IMPORT_KINDS = ("tickets", "usage", "costs", "training", "changes", "surveys", "kpis",
                "touchpoints", "services")
