"""Third-party front-end code shipped inside the package (never fetched from a CDN).

uPlot 1.6.32 (MIT, Leon Sorokin; LICENSE.uPlot here), from ``npm pack uplot``:
``dist/uPlot.iife.min.js`` and ``dist/uPlot.min.css`` unchanged. It draws the
report's plots (inlined into report.html) and the web UI's live charts
(served by the web UI from these same files). To upgrade: ``npm pack uplot``
in a temporary folder, copy the two files and LICENSE, update UPLOT_VERSION.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

__all__ = ["UPLOT_VERSION", "asset_text", "ASSETS"]

UPLOT_VERSION = "1.6.32"
# file name -> MIME type of everything servable from this folder and loadkit/report/assets
ASSETS = {
    "uPlot.iife.min.js": "text/javascript",
    "uPlot.min.css": "text/css",
    "LICENSE.uPlot": "text/plain",
    "charts.js": "text/javascript",
    "charts.css": "text/css",
    "llm-tab.js": "text/javascript",
}


@lru_cache(maxsize=None)
def asset_text(name: str) -> str:
    """The text of one shipped asset (vendored uPlot or loadkit's own chart code); KeyError if unknown."""
    if name not in ASSETS:
        raise KeyError(f"no front-end asset named {name!r}; known: {', '.join(sorted(ASSETS))}")
    folder = "vendor" if name in ("uPlot.iife.min.js", "uPlot.min.css", "LICENSE.uPlot") else "assets"
    return files("loadkit.report").joinpath(folder, name).read_text(encoding="utf-8")
