"""The summary as a one-page A4 PDF, by fpdf2 (pure Python) with the chart as a matplotlib PNG.

The text is set in DejaVu Sans, which matplotlib ships: PDF's built-in fonts know Latin-1 only,
and organisation and service names, the en dash of a range and the ``×`` of a formula are not
all Latin-1. fpdf2 embeds only the glyphs used (a subset), so the file stays small.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime, time
from pathlib import Path

import matplotlib
from fpdf import FPDF
from fpdf.fonts import FontFace

from dipstick.summary import Summary, text
from dipstick.summary.chart import leak_chart

__all__ = ["render_pdf"]

FONT = "DejaVu"
INK = (29, 39, 51)
MUTED = (91, 102, 112)
LEAK = (192, 57, 43)
GOOD = (30, 132, 73)
RULE = (221, 226, 231)


def render_pdf(summary: Summary) -> bytes:
    """The PDF document's bytes."""
    pdf = _Page(summary)
    pdf.add_page()
    pdf.header_block()
    pdf.kpis()
    pdf.chart()
    pdf.top()
    pdf.coverage()
    return bytes(pdf.output())


class _Page(FPDF):
    def __init__(self, s: Summary) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.s = s
        self.set_margins(12, 10, 12)
        self.set_auto_page_break(True, margin=10)
        fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        self.add_font(FONT, "", fonts / "DejaVuSans.ttf")
        self.add_font(FONT, "B", fonts / "DejaVuSans-Bold.ttf")
        self.add_font(FONT, "I", fonts / "DejaVuSans-Oblique.ttf")
        self.set_title(f"dipstick summary: {s.organisation}, as of {s.as_of.isoformat()}")
        self.set_author("dipstick")
        self.set_creator("dipstick")
        self.set_creation_date(datetime.combine(s.generated, time(), tzinfo=UTC))

    # -- building blocks ------------------------------------------------------------------

    def font(self, size: float, style: str = "", colour: tuple[int, int, int] = INK) -> None:
        self.set_font(FONT, style, size)
        self.set_text_color(*colour)

    def para(self, txt: str, size: float = 7, style: str = "",
             colour: tuple[int, int, int] = MUTED, w: float = 0) -> None:
        self.font(size, style, colour)
        self.multi_cell(w, size * 0.45, txt, align="L", new_x="LMARGIN", new_y="NEXT")

    def formula(self, txt: str) -> None:
        self.para(txt, 6.3, "I")

    def heading(self, txt: str) -> None:
        self.ln(1.5)
        self.font(10, "B")
        self.cell(0, 5.5, txt, new_x="LMARGIN", new_y="NEXT")

    # -- sections ---------------------------------------------------------------------------

    def header_block(self) -> None:
        s = self.s
        self.font(6.5, "", MUTED)
        self.cell(0, 3.5, "DIPSTICK · ONE PAGE FOR THE EXECUTIVE", new_x="LMARGIN", new_y="NEXT")
        self.font(16, "B")
        self.multi_cell(0, 7, s.organisation, new_x="LMARGIN", new_y="NEXT")
        lights = ", ".join(f"{n} {k}" for k, n in s.counts.items())
        reason = f" ({s.as_of_reason})" if s.as_of_reason else ""
        self.para(f"As of {s.as_of.isoformat()}{reason} · window {s.window} · baseline "
                  f"{s.baseline} · {s.services} services: {lights}", 7.5)

    def kpis(self) -> None:
        s = self.s
        boxes = [
            ("VALUE AT RISK PER MONTH", text.money(s.leak_money, s.currency), LEAK,
             f"range {text.money_range(s.leak_low, s.leak_high, s.currency)} · {s.leaking} "
             f"leaking service(s)" + (f", {s.unpriced} with no price" if s.unpriced else ""),
             f"{s.formulas['total']} Range: {s.formulas['range']}"),
            ("CHANGE SINCE THE LAST CHECK", text.change(s), INK, text.change_since(s),
             s.formulas["change"]),
            ("VALUE RECOVERED PER MONTH", text.recovered(s.recovered, s.currency),
             GOOD if s.recovered.money is not None else MUTED,
             text.recovered_detail(s.recovered, s.currency), s.recovered.formula),
        ]
        gap, top = 3.0, self.get_y() + 2
        width = (self.epw - 2 * gap) / 3
        bottom = top
        for i, (label, big, colour, sub, rule) in enumerate(boxes):
            x = self.l_margin + i * (width + gap)
            self.set_xy(x + 2, top + 1.5)
            self.font(6.3, "", MUTED)
            self.cell(width - 4, 3.5, label, new_x="LEFT", new_y="NEXT")
            self.font(12 if len(big) < 22 else 8.5, "B", colour)
            self.multi_cell(width - 4, 5.5, big, new_x="LEFT", new_y="NEXT")
            if sub:
                self.font(7, "", INK)
                self.multi_cell(width - 4, 3.2, sub, align="L", new_x="LEFT", new_y="NEXT")
            self.font(5.6, "I", MUTED)
            self.multi_cell(width - 4, 2.5, rule, align="L", new_x="LEFT", new_y="NEXT")
            bottom = max(bottom, self.get_y() + 1.5)
        self.set_draw_color(*RULE)
        for i in range(3):
            self.rect(self.l_margin + i * (width + gap), top, width, bottom - top)
        self.set_xy(self.l_margin, bottom)

    def chart(self) -> None:
        self.heading("Leak per month over the stored checks")
        png = leak_chart(self.s, "png", dpi=220)
        self.image(io.BytesIO(png), w=self.epw)
        self.formula(self.s.formulas["history"])

    def top(self) -> None:
        s = self.s
        more = f" (of {s.leaking})" if s.leaking > len(s.top) else ""
        self.heading(f"The {len(s.top)} largest leaks{more}")
        if not s.top:
            self.para("No priced leak in this check.", 8, colour=INK)
        else:
            rows = [[str(i), t.service,
                     t.cause_title + (f" (also {', '.join(t.symptoms)})" if t.symptoms else ""),
                     text.money(t.money, s.currency),
                     text.money_range(t.low, t.high, s.currency),
                     t.since.isoformat() if t.since else "unknown", t.who,
                     text.action(t.action), text.recovered_of(t, s.currency)]
                    for i, t in enumerate(s.top, 1)]
            self.grid(["#", "Service", "Root cause", "Per month", "Range", "Since", "Owner",
                       "Action", "Recovered"], rows, (4, 26, 30, 18, 24, 15, 24, 27, 18),
                      right=(3, 4, 8))
        self.formula(s.formulas["top"])

    def coverage(self) -> None:
        s = self.s
        self.heading("What the check could judge")
        if s.coverage:
            rows = [[c.table, f"{c.window_rows:,}", c.window_dates, text.weeks(c.window_weeks),
                     f"{c.baseline_rows:,}", text.weeks(c.baseline_weeks),
                     text.thin(c.thin_window, c.thin_baseline)] for c in s.coverage]
            self.grid(["Table", "Window rows", "Window dates", "Window weeks", "Baseline rows",
                       "Baseline weeks", "Thin"], rows, (18, 17, 36, 27, 18, 27, 43),
                      right=(1, 4))
        else:
            self.para("This check recorded no table coverage.", 8, colour=INK)
        self.formula(s.formulas["coverage"])
        j = s.judged
        self.para(f"Service × cause pairs: {j['judged']} judged, {j['unknown']} unknown, "
                  f"{j['n/a']} n/a, {j['self-assessed']} self-assessed.", 7, colour=INK)
        self.formula(s.formulas["judged"])

    def grid(self, head: Sequence[str], rows: Sequence[Sequence[str]],
             widths: Sequence[float], right: Sequence[int] = ()) -> None:
        """A compact table; ``right`` names the columns of numbers (right-aligned)."""
        self.font(6.3)
        self.set_draw_color(*RULE)
        align = tuple("RIGHT" if i in right else "LEFT" for i in range(len(head)))
        with self.table(col_widths=widths, text_align=align, line_height=2.9,
                        borders_layout="HORIZONTAL_LINES", padding=0.6,
                        headings_style=FontFace(emphasis="BOLD", color=MUTED),
                        first_row_as_headings=True) as table:
            for values in (head, *rows):
                row = table.row()
                for v in values:
                    row.cell(v)
        self.ln(0.8)
