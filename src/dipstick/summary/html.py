"""The summary as one small HTML page, print-ready on A4: no plotly.js, the chart inline as SVG
(or an ``<img>`` where a mail client needs a picture), every value escaped by Jinja2."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from dipstick.summary import Summary, text
from dipstick.summary.chart import leak_chart, svg_markup

__all__ = ["render_html"]


def render_html(summary: Summary, chart_src: str | None = None) -> str:
    """The page. ``chart_src``: the chart as an image address (an e-mail's ``cid:``) instead
    of inline SVG, which many mail clients drop."""
    chart = Markup("") if chart_src else Markup(svg_markup(leak_chart(summary, "svg")))
    return _env().get_template("summary.html.j2").render(
        s=summary, t=text, chart=chart, chart_src=chart_src, version=_version())


@cache
def _env() -> Environment:
    return Environment(loader=PackageLoader("dipstick.summary", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _version() -> str:
    try:
        return version("dipstick")
    except PackageNotFoundError:  # running from a source tree
        return "dev"
