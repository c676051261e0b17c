"""The invitee list: a CSV with the columns ``email`` and ``group`` (header required).

Every problem is collected (file, row, field, value) before anything is stored, like a data
package: a bad list invites nobody.
"""

from __future__ import annotations

import csv
import io
import re

from dipstick.errors import PackageError, Problem

EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
MAX_INVITEES = 10_000


def parse_invitees(text: str, groups: tuple[str, ...], name: str) -> list[tuple[str, str]]:
    """(email, group) pairs from the CSV text; groups must be ones the check-in asks."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in ("email", "group") if c not in header]
    if missing:
        raise PackageError([Problem(name, "required column is missing (columns found: "
                                    f"{', '.join(header) or 'none'})", field=c)
                            for c in missing])
    reader.fieldnames = header
    problems: list[Problem] = []
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, raw in enumerate(reader, start=1):
        email = (raw.get("email") or "").strip().lower()
        group = (raw.get("group") or "").strip()
        row, line = i, reader.line_num
        if not EMAIL.match(email) or len(email) > 254:
            problems.append(Problem(name, "is not an e-mail address", field="email",
                                    value=email, row=row, line=line))
        elif email in seen:
            problems.append(Problem(name, "is listed twice", field="email", value=email,
                                    row=row, line=line))
        if group not in groups:
            problems.append(Problem(name, f"is not a group this check-in asks "
                                    f"({', '.join(groups)})", field="group", value=group,
                                    row=row, line=line))
        seen.add(email)
        out.append((email, group))
        if i > MAX_INVITEES:
            problems.append(Problem(name, f"more than {MAX_INVITEES:,} invitees",
                                    row=row, line=line))
            break
    if not out and not problems:
        problems.append(Problem(name, "lists nobody"))
    if problems:
        raise PackageError(problems)
    return out
