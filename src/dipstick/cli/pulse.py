"""The `dipstick pulse` commands. (Being built.)"""

from __future__ import annotations
