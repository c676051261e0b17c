"""Reading a package's self-assessment file into answers, with every problem named by file,
row, field and value (docs/data-package.md, "self_assessment").

Two shapes of one content: ``self_assessment.csv`` (one answer a row: service, cause,
question, answer, optional answered_by and date) or ``self_assessment.yaml`` (one entry per
service and cause with its answers as a mapping), for those who write it by hand. Small files
read in Python: a questionnaire is a few hundred rows, not a signal table.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from dipstick.bounds import date_problem
from dipstick.errors import Problem
from dipstick.selfassess.questions import QUESTIONNAIRE, SCALE, question
from dipstick.selfassess.score import FILE, Answer

STEM = "self_assessment"
SUFFIXES = (".csv", ".yaml", ".yml")
COLUMNS = ("service", "cause", "question", "answer", "answered_by", "date")
REQUIRED = ("service", "cause", "question", "answer")


def files(root: Path) -> list[Path]:
    return [root / f"{STEM}{s}" for s in SUFFIXES if (root / f"{STEM}{s}").is_file()]


def read_self_assessment(root: Path, services: Iterable[str]
                         ) -> tuple[tuple[Answer, ...], list[Problem]]:
    """The package's answers (none without a file) and the problems found in them; answers
    are only returned when there is no problem."""
    found = files(root)
    if not found:
        return (), []
    if len(found) > 1:
        return (), [Problem(found[0].name, f"both {found[0].name} and {found[1].name} exist; "
                            "keep one")]
    path = found[0]
    rows, problems = (_csv_rows(path) if path.suffix == ".csv" else _yaml_rows(path))
    known = set(services)
    answers: list[Answer] = []
    seen: dict[tuple[str, str, str, date | None], int] = {}
    for row, fields in rows:
        a = _answer(path.name, row, fields, known, problems)
        if a is None:
            continue
        key = (a.service, a.cause, a.question, a.date)
        if key in seen:
            problems.append(Problem(path.name, f"answers the same question again (row "
                                    f"{seen[key]}) with the same date: keep one", row=row,
                                    field="question", value=a.question))
            continue
        seen[key] = row
        answers.append(a)
    return (tuple(answers) if not problems else ()), problems


def _csv_rows(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], list[Problem]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                return [], [Problem(path.name, "required column is missing (columns found: "
                                    f"{', '.join(header) or 'none'})", field=c)
                            for c in missing]
            return [(i, dict(r)) for i, r in enumerate(reader, start=1)], []
    except (UnicodeDecodeError, csv.Error) as e:   # not UTF-8, a field over 128 KB: were tracebacks
        return [], [Problem(path.name, f"cannot be read as a UTF-8 CSV file: {e}")]


def _yaml_rows(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], list[Problem]]:
    """Entries ``{service, cause, answers: {question: answer}, answered_by?, date?}`` as one
    row per answer; the row is the entry's 1-based position."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        return [], [Problem(path.name, f"is not valid YAML: {getattr(e, 'problem', e)}",
                            line=mark.line + 1 if mark else None)]
    except (ValueError, RecursionError) as e:   # not UTF-8, a 5,000-digit number, too deep
        return [], [Problem(path.name, f"cannot be read as UTF-8 YAML: {str(e)[:200]}")]
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], [Problem(path.name, "must be a list of entries (service, cause, answers)")]
    rows: list[tuple[int, dict[str, Any]]] = []
    problems: list[Problem] = []
    for i, entry in enumerate(raw, start=1):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("answers"), Mapping):
            problems.append(Problem(path.name, "must be a mapping with service, cause and "
                                    "answers (question: 1–5)", row=i, field="answers"))
            continue
        extra = sorted(set(entry) - {"service", "cause", "answers", "answered_by", "date"})
        problems += [Problem(path.name, "unknown key (check the spelling against "
                             "docs/data-package.md)", row=i, field=str(k)) for k in extra]
        for qid, value in entry["answers"].items():
            rows.append((i, {**{k: entry.get(k) for k in ("service", "cause", "answered_by",
                                                          "date")},
                             "question": qid, "answer": value}))
    return rows, problems


def _answer(file: str, row: int, fields: Mapping[str, Any], services: set[str],
            problems: list[Problem]) -> Answer | None:
    def bad(field: str, message: str) -> None:
        problems.append(Problem(file, message, row=row, field=field, value=fields.get(field)))

    text = {k: "" if fields.get(k) is None else str(fields[k]).strip() for k in COLUMNS}
    before = len(problems)
    for k in REQUIRED:
        if not text[k]:
            bad(k, "is required but empty")
    if len(problems) > before:
        return None
    if text["service"] not in services:
        bad("service", "unknown service id (not in dipstick.yaml)")
    if text["cause"] not in QUESTIONNAIRE:
        bad("cause", f"must be one of {', '.join(QUESTIONNAIRE)}")
    elif question(text["cause"], text["question"]) is None:
        bad("question", f"no such question for {text['cause']}: one of "
                        f"{', '.join(q.id for q in QUESTIONNAIRE[text['cause']])}")
    answer = _int(fields.get("answer"))
    if answer not in SCALE:
        bad("answer", "must be a whole number from 1 to 5")
    day = _date(fields.get("date"))
    if text["date"] and day is None:
        bad("date", "is not a valid date (ISO 8601, e.g. 2026-03-01)")
    elif day is not None and date_problem(day):   # year 9999 overflowed the check's windows
        bad("date", str(date_problem(day)))
    if len(problems) > before or answer is None:
        return None
    return Answer(text["service"], text["cause"], text["question"], answer,
                  text["answered_by"], day, FILE)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        f = float(str(value).strip())
    except ValueError:
        return None
    return int(f) if f.is_integer() else None


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None
