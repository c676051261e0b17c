"""Writing a file the reader never sees half of: a temp file in the target's folder, flushed to
disk, then renamed over the target (``os.replace`` is atomic on one file system), so a failed
or interrupted write leaves the previous file as it was."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from dipstick.errors import UsageError


def require_folder(target: Path, what: str) -> None:
    """Refuse before any work is done when the target's folder is missing."""
    if not target.parent.is_dir():
        raise UsageError(f"cannot write the {what} to {target}: folder {target.parent} does "
                         "not exist")


def write_atomic(target: Path, data: bytes) -> Path:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
