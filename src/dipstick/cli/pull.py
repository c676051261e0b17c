"""The `dipstick pull` commands. (Being built.)"""

from __future__ import annotations
