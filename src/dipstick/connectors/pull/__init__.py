"""Live pulls from the ServiceNow Table API and Jira's REST search into a data package.

A pull streams the source's pages into a staging CSV shaped like the system's own export, then
hands it to ``dipstick.connectors.imports.import_file`` with the matching preset, so a pulled
ticket and an imported one are read by the same code. See docs/pull.md.
"""

from __future__ import annotations

from dipstick.connectors.pull.http import PullError, RetryPolicy
from dipstick.connectors.pull.run import PullSummary, pull_jira, pull_servicenow

__all__ = ["PullError", "PullSummary", "RetryPolicy", "pull_jira", "pull_servicenow"]
