"""The summary's files: one function picks the rendering by format and writes it atomically,
so ``dipstick report --summary``, the digest and the web share one way to make them."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from dipstick.files import require_folder, write_atomic
from dipstick.summary import Summary

Format = Literal["html", "pdf"]
FORMATS: tuple[Format, ...] = ("html", "pdf")


def render(summary: Summary, fmt: Format) -> bytes:
    """The page as bytes: UTF-8 HTML or a PDF document."""
    if fmt == "pdf":
        from dipstick.summary.pdf import render_pdf

        return render_pdf(summary)
    from dipstick.summary.html import render_html

    return render_html(summary).encode()


def file_name(summary: Summary, fmt: Format) -> str:
    """``dipstick-summary-<organisation>-<as-of>.<fmt>``, safe on every file system."""
    slug = re.sub(r"[^a-z0-9]+", "-", summary.organisation.lower()).strip("-") or "organisation"
    return f"dipstick-summary-{slug[:40]}-{summary.as_of.isoformat()}.{fmt}"


def write_summary(summary: Summary, path: str | os.PathLike[str], fmt: Format) -> Path:
    """Render, then write through a temp file moved into place: a failed write never leaves
    half a file or clobbers the previous one."""
    target = Path(path)
    require_folder(target, "summary")
    return write_atomic(target, render(summary, fmt))
