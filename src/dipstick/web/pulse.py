"""Pulse checks on the web (issue 6): campaigns, the public answer form, results, overdue
check-ins. (Being built.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
