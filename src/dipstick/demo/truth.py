"""What was seeded: the answer key a check of the demo organisation is graded against.

Written next to the data as ``ground_truth.json`` so anyone (a test, a benchmark, a curious
reader) can compare dipstick's findings with the leaks that were really put there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

FILE = "ground_truth.json"


@dataclass(frozen=True)
class Leak:
    service: str
    cause: str
    start: date          # the onset: the day the signal shifts (or the structural equivalent)
    subtle: bool         # just past the leak threshold rather than far beyond it
    description: str

    def to_json(self) -> dict[str, Any]:
        return {"service": self.service, "cause": self.cause, "start": self.start.isoformat(),
                "subtle": self.subtle, "description": self.description}


@dataclass
class GroundTruth:
    seed: int
    size: str
    as_of: date
    leaks: list[Leak] = field(default_factory=list)
    healthy: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "size": self.size, "as_of": self.as_of.isoformat(),
                "leaks": [x.to_json() for x in self.leaks], "healthy": list(self.healthy)}

    def dump(self, folder: Path) -> Path:
        path = folder / FILE
        path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n",
                        encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> GroundTruth:
        """Read ``ground_truth.json`` (or the package folder holding it)."""
        p = Path(path)
        if p.is_dir():
            p = p / FILE
        raw = json.loads(p.read_text(encoding="utf-8"))
        leaks = [Leak(x["service"], x["cause"], date.fromisoformat(x["start"]),
                      bool(x["subtle"]), x["description"]) for x in raw["leaks"]]
        return cls(int(raw["seed"]), str(raw["size"]), date.fromisoformat(raw["as_of"]), leaks,
                   [str(s) for s in raw["healthy"]])

    def causes(self, service: str) -> set[str]:
        """The causes seeded on one service (empty for a healthy one)."""
        return {x.cause for x in self.leaks if x.service == service}
