"""The `dipstick connectors` commands. (Being built.)"""

from __future__ import annotations
