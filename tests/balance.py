"""The order in which the xdist workers are handed the suite's scopes: costliest first.

pytest-xdist's ``loadscope`` hands out scopes by number of tests, largest first, so a module
of one long test comes last: in session 22's run ``test_spark_driver`` (one test, 59 s) started
at 640 s and ended 24 s after the other worker had run out of work. Longest first leaves only
short scopes for the end, where the two workers even out. The seconds come from a whole run
(``durations.json`` beside this file, written by ``python tests/balance.py JUNIT.xml``); a
test it does not know counts as ``PER_TEST_S``. Only the order changes, never what runs.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

DURATIONS = Path(__file__).with_name("durations.json")
PER_TEST_S = 0.3      # a test the file does not know (the suite's mean is ~0.7 s, median 0.05 s)
LONG_S = 1.0          # tests at least this long are listed one by one, others by module mean


@dataclass(frozen=True)
class Estimates:
    """Seconds a test is expected to take: its own if it is long, else its module's mean."""

    tests: Mapping[str, float]      # node id -> seconds (the long tests)
    modules: Mapping[str, float]    # module path -> mean seconds of its other tests

    def of(self, nodeid: str) -> float:
        found = self.tests.get(nodeid)
        if found is not None:
            return found
        return self.modules.get(nodeid.split("::", 1)[0], PER_TEST_S)

    def of_scope(self, nodeids: Iterable[str]) -> float:
        return sum(self.of(n) for n in nodeids)


def load(path: Path = DURATIONS) -> Estimates:
    """The estimates in ``path``; none (every test ``PER_TEST_S``) if it is missing."""
    if not path.is_file():
        return Estimates({}, {})
    doc = json.loads(path.read_text())
    return Estimates(doc["tests"], doc["modules"])


def costliest_first(scopes: Mapping[str, Iterable[str]], estimates: Estimates) -> list[str]:
    """The scopes, the one expected to take longest first (ties: as given)."""
    return sorted(scopes, key=lambda s: -estimates.of_scope(scopes[s]))


class CostliestFirst(LoadScopeScheduling):  # type: ignore[misc]
    """xdist's ``loadscope`` with the scopes ``scope`` names (conftest.scope_of), handed out
    costliest first. The queue is complete at the first assignment: it is ordered there."""

    def __init__(self, config: pytest.Config, log: Any = None,
                 scope: Callable[[str], str] = lambda nodeid: nodeid.rsplit("::", 1)[0],
                 estimates: Estimates | None = None) -> None:
        super().__init__(config, log)
        self.scope = scope
        self.estimates = estimates
        self.ordered = False

    def _split_scope(self, nodeid: str) -> str:
        return self.scope(nodeid)

    def _assign_work_unit(self, node: Any) -> None:
        if not self.ordered:
            order = costliest_first(self.workqueue, self.estimates or load())
            self.workqueue = OrderedDict((s, self.workqueue[s]) for s in order)
            self.ordered = True
        super()._assign_work_unit(node)


def from_junit(xml: Path) -> dict[str, dict[str, float]]:
    """``durations.json``'s content from a whole run's ``--junitxml`` (setup, call and
    teardown of each test: a module's fixtures count in its first test)."""
    seconds: dict[str, float] = {}
    for case in ET.parse(xml).iter("testcase"):
        dotted = case.get("classname", "").split(".")
        module = "/".join(dotted[:2]) + ".py"          # tests.test_x[.Class]
        nodeid = "::".join([module, *dotted[2:], case.get("name", "")])
        seconds[nodeid] = float(case.get("time", "0"))
    tests = {n: round(s, 2) for n, s in sorted(seconds.items()) if s >= LONG_S}
    rest: dict[str, list[float]] = defaultdict(list)
    for n, s in seconds.items():
        if n not in tests:
            rest[n.split("::", 1)[0]].append(s)
    modules = {m: round(sum(v) / len(v), 3) for m, v in sorted(rest.items())}
    return {"tests": tests, "modules": modules}


if __name__ == "__main__":
    DURATIONS.write_text(json.dumps(from_junit(Path(sys.argv[1])), indent=0) + "\n")
