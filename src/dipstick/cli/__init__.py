"""The ``dipstick`` command line. Exit codes (``dipstick.errors.ExitCode``): 0 no leak, 1 at
least one leak, 2 bad input (nothing stored), 3 dipstick could not do its job."""

# the commands register on ``app`` when their modules are imported
from dipstick.cli import (  # noqa: F401
    actions,
    admin,
    commands,
    connectors,
    digest,
    init,
    journeys,
    pull,
    pulse,
    pulse_due,
    streams,
    web,
)
from dipstick.cli.app import app, main

__all__ = ["app", "main"]
