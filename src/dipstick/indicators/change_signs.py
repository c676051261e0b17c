"""change: a change is a leak only with two signs of it (the rule, and the signs it counts).

Apart from :mod:`dipstick.indicators.change` so that episodes can name what a change moved
(:data:`MOVED`) without the cause's measuring, and to keep both modules short.
"""

from __future__ import annotations

from dipstick.findings import Evidence, Status, Threshold
from dipstick.indicators.confidence import at_most_watch, is_sign

# what a change moved (its measured signs), and the signs that are facts about it
MOVED = ("incident_ratio", "question_ratio", "satisfaction_drop", "usage_change")
SIGNS = (*MOVED, "failed", "uncommunicated")


def corroborated(ev: list[Evidence], changes: list[str], lines: dict[str, Threshold],
                 named: dict[str, list[int]] | None = None) -> list[Evidence]:
    """A change is a leak only with two signs of it — its leaking measure and another of the
    same change at ``watch`` or worse (incidents, how-to tickets, satisfaction, use, failed,
    not communicated)
    — or with one sign whose whole 95 % interval lies past its leak line. Releases come every
    few weeks and each is compared three ways; one measure just past its line after one of them
    is as often chance, a season or another cause (a service desk slowing down drops
    satisfaction too) as a badly managed change — on orgsim's tuning seeds 11 of 13 false
    change leaks had one sign only. A lone sign at ``watch`` is held there too (confirmation
    does not raise it). A shift soon after the change is not a second sign: it is the same
    movement seen again. ``named``: :func:`_signs_by_change` of ``ev`` if the caller has it
    (it holds for the result too: a sign held at watch keeps its metric)."""
    out = list(ev)
    named = _signs_by_change(out) if named is None else named
    for cid in changes:
        mine = [i for i in named.get(cid, ()) if is_sign(out[i])]
        if len(mine) != 1 or out[mine[0]].p is None:   # a failed change alone stays watch
            continue
        e = out[mine[0]]
        line = lines.get(e.metric.split(":")[0])
        bound = None if line is None else (e.low if line.higher_is_worse else e.high)
        if line is not None and bound is not None and line.grade(bound)[0] is Status.LEAK:
            continue                         # one sign, but surely past the leak line
        out[mine[0]] = at_most_watch(e, "one sign only, not surely past its leak line: a "
                                     "change leak needs a second sign of the same change")
    return out


def _signs_by_change(ev: list[Evidence]) -> dict[str, list[int]]:
    """The places in ``ev`` of the evidence named a sign (:data:`SIGNS`), by each change id
    its metric ends with (``metric.endswith(f":{id}")``: every text after a colon), in order —
    looked up per change, not searched for among all of a service's evidence per change."""
    named: dict[str, list[int]] = {}
    for i, e in enumerate(ev):
        metric = e.metric
        if metric.split(":")[0] in SIGNS:
            at = metric.find(":")
            while at >= 0:
                named.setdefault(metric[at + 1:], []).append(i)
                at = metric.find(":", at + 1)
    return named
