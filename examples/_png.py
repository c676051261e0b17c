"""Pictures for the docs: a Plotly figure as a PNG, rendered by Debian's chromium (headless, no
network) and cropped to the figure. Shared by the example scripts."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import plotly.graph_objects as go


def write_png(fig: go.Figure, stem: Path, width: int, height: int) -> Path:
    fig.update_layout(width=width, height=height)
    html = stem.with_suffix(".html")
    fig.write_html(html, include_plotlyjs=True, config={"displayModeBar": False})
    chromium = shutil.which("chromium")
    if not chromium:
        return html
    png = stem.with_suffix(".png")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--no-first-run",
                        f"--user-data-dir={profile}", "--virtual-time-budget=3000",
                        "--hide-scrollbars", f"--screenshot={png}",
                        f"--window-size={width + 40},{height + 40}", html.resolve().as_uri()],
                       capture_output=True, timeout=90, check=False)
    html.unlink()
    trim(png)
    return png


def trim(png: Path) -> None:
    """Crop the white page margin around the figure."""
    try:
        from PIL import Image, ImageChops
    except ImportError:
        return
    with Image.open(png) as im:
        rgb = im.convert("RGB")
        box = ImageChops.difference(rgb, Image.new("RGB", rgb.size, "white")).getbbox()
        if box:
            left, top, right, bottom = box
            rgb.crop((max(left - 8, 0), max(top - 8, 0), min(right + 8, rgb.width),
                      min(bottom + 8, rgb.height))).save(png)
