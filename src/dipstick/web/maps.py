"""(filled by the page's author)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
