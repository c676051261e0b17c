"""The ``dipstick`` command line. Exit codes (``dipstick.errors.ExitCode``): 0 no leak, 1 at
least one leak, 2 bad input (nothing stored), 3 dipstick could not do its job.

The commands' modules are imported on demand (``dipstick.cli.lazy``), not here."""

from dipstick.cli.app import app, main

__all__ = ["app", "main"]
