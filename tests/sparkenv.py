"""What the Spark tests need: PySpark and Java, else a skip (a failure under
``DIPSTICK_REQUIRE_SPARK=1``, as in CI); the ``spark`` fixture (one session per worker,
shared by the Spark modules) is in conftest."""

from __future__ import annotations

import os
import shutil

import pytest


def need_spark() -> None:
    missing = []
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing.append("PySpark (pip install 'dipstick[spark]')")
    if shutil.which("java") is None:
        missing.append("Java 17+")
    if not missing:
        return
    message = "the Spark tests need " + " and ".join(missing)
    if os.environ.get("DIPSTICK_REQUIRE_SPARK") == "1":
        pytest.fail(message)
    pytest.skip(message)
