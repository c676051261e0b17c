"""The real public data in ../shared/data, for tests that show dipstick on what organisations
export. Absent, its tests skip — unless DIPSTICK_REQUIRE_REAL_DATA=1 (set by .ci/run), where a
missing file is a failure, so CI can never pass by quietly skipping them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICENOW_LOG = (ROOT.parent / "shared" / "data" / "servicenow-incidents"
                  / "incident_event_log.csv.gz")


def require(path: Path) -> Path:
    if not path.exists():
        message = f"{path} is not here (the real public data of ../shared/data)"
        if os.environ.get("DIPSTICK_REQUIRE_REAL_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path
