"""Running checks from the web: load or replace a data package, run the check with progress,
keep history. (Being built.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
