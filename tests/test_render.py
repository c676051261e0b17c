"""The lights table in a terminal: it fits 80 columns, tells the lights apart without colour
and shows everything with ``--wide`` (issue 15, item 4)."""

from __future__ import annotations

import io

from rich.console import Console

from dipstick.check import CheckResult
from dipstick.findings import Status
from dipstick.render import print_check
from dipstick.render.lights import PLAIN_GLYPH, WORDS, main_finding, short_action


def _printed(result: CheckResult, *, colour: bool, width: int = 80, wide: bool = False) -> str:
    console = (Console(file=io.StringIO(), record=True, width=width, force_terminal=True,
                       color_system="standard") if colour
               else Console(file=io.StringIO(), record=True, width=width, no_color=True,
                            color_system=None))
    print_check(console, result, wide=wide)
    return console.export_text(styles=False)


def _top(result: CheckResult) -> tuple[str, str, str, str]:
    """The largest leak's name (as far as it fits), money, since and short action."""
    v = max((v for v in result.verdicts if v.status is Status.LEAK and v.since),
            key=lambda v: v.leak.money)
    assert v.since is not None
    return v.service.name[:8], f"{v.leak.money:,.0f}", v.since.isoformat(), \
        short_action(main_finding(v))[:6]


def test_the_table_fits_80_columns_with_money_dates_and_actions(demo_result: CheckResult
                                                                ) -> None:
    for colour in (True, False):
        text = _printed(demo_result, colour=colour)
        lines = text.splitlines()
        assert max(len(line) for line in lines) <= 80, "a line is wider than the console"
        name, money, since, action = _top(demo_result)
        row = next(ln for ln in lines if name in ln and since in ln)
        assert money in row and action in row, row
        assert "Main cause" in text and "Action" in text
        assert any(w in text for w in (*WORDS.values(), "retirement", "training", "change"))


def test_without_colour_each_light_has_its_own_shape_and_a_legend(demo_result: CheckResult
                                                                  ) -> None:
    text = _printed(demo_result, colour=False)
    table = text.split("Total")[0]
    for status in (Status.LEAK, Status.WATCH, Status.OK):
        assert PLAIN_GLYPH[status] in table, status
        assert f"{PLAIN_GLYPH[status]} {demo_result.count(status)} {status.value}" in text
    assert "●" not in text


def test_wide_shows_a_light_per_cause_and_the_whole_action(demo_result: CheckResult) -> None:
    text = _printed(demo_result, colour=False, wide=True)
    header = next(ln for ln in text.splitlines() if "Service" in ln)
    for short in ("Per", "Trn", "Chg", "Ret", "EmX", "CuX", "Aln", "Flw", "h/month"):
        assert short in header
    leaking = next(v for v in demo_result.verdicts if v.status is Status.LEAK)
    finding = main_finding(leaking)
    assert finding is not None
    assert finding.action.split()[-1] in text   # the whole action, not its first words
