"""Building blocks of loadkit's self-contained HTML pages (report.html, the capacity report).

CSS, number formatting, tables and the inlined chart code: one public home,
so another page does not import report.html's private names.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from loadkit.report.vendor import asset_text

__all__ = ["CSS", "num", "limit", "usd", "pct", "table", "chart_scripts", "chart_data_script"]

CSS = """
:root { --fg:#1f2937; --muted:#6b7280; --line:#e5e7eb; --bg:#f9fafb; --ok:#15803d; --bad:#b91c1c; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg);
       background:var(--bg); }
header { background:#111827; color:#f9fafb; padding:16px 32px; }
header h1 { margin:0 0 4px; font-size:20px; }
header .facts { color:#d1d5db; font-size:13px; }
nav { position:sticky; top:0; background:#fff; border-bottom:1px solid var(--line); padding:8px 32px;
      font-size:13px; z-index:2; display:flex; flex-wrap:wrap; gap:4px 14px; align-items:center; }
nav a { color:#2563eb; text-decoration:none; }
nav .lk-toggles { margin-left:auto; }
main { max-width:1100px; margin:0 auto; padding:8px 32px 48px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:16px 20px; margin:16px 0;
          min-width:0; }
h2 { margin:0 0 12px; font-size:17px; }
h3 { margin:16px 0 6px; font-size:14px; color:var(--muted); }
.table-wrap { overflow-x:auto; max-width:100%; margin-bottom:8px; }
table { border-collapse:collapse; width:100%; font-variant-numeric: tabular-nums; }
th, td { padding:4px 8px; border-bottom:1px solid var(--line); text-align:right; white-space:nowrap; }
th { white-space:normal; vertical-align:bottom; }
th:first-child, td:first-child { text-align:left; }
th { background:#f3f4f6; font-weight:600; }
tr.total td { font-weight:600; border-top:2px solid var(--fg); }
tr.group td { background:#f9fafb; color:var(--muted); font-weight:600; text-align:left; }
td.best { background:#dcfce7; color:var(--ok); font-weight:600; }
td.best::after { content:" ★"; }
td.wrap { white-space:normal; word-break:break-word; text-align:left; }
code.cmd { display:block; white-space:pre-wrap; word-break:break-all; background:#f3f4f6; padding:8px 10px;
           border-radius:6px; font-size:12px; }
img { max-width:100%; height:auto; display:block; margin:8px 0; }
.badge { display:inline-block; padding:2px 10px; border-radius:999px; font-weight:600; font-size:13px; }
.pass { background:#dcfce7; color:var(--ok); } .fail { background:#fee2e2; color:var(--bad); }
.warn { background:#fef3c7; color:#92400e; }
.verdict { font-size:16px; margin-bottom:8px; }
.note { color:var(--muted); font-size:12px; }
ul.warnings { margin:4px 0 0; padding-left:18px; color:#92400e; }
"""


def num(value: Any, digits: int = 1) -> str:
    """A number for a table cell (thousands separators; "–" for missing)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and abs(value) < 0.01:
            return f"{value:.3g}"
        return f"{value:,.{digits}f}"
    return escape(str(value))


def limit(value: Any) -> str:
    """An SLO limit as written (no padding zeros)."""
    if isinstance(value, float) and not isinstance(value, bool):
        return f"{value:,g}" if abs(value) >= 1 else f"{value:g}"
    return num(value)


def usd(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"${value:,.{digits}f}"


def pct(value: float | None) -> str:
    """A 0..1 fraction as a percentage with two decimals."""
    return "–" if value is None else f"{100 * value:.2f} %"


def table(headers: list[str], rows: list[list[str]], total_row: list[str] | None = None) -> str:
    """A table in a horizontally scrolling wrapper, so a wide table never overflows its card.

    A cell is HTML; a cell given as ``(html, css_class)`` gets that class."""
    def cell(c) -> str:
        if isinstance(c, tuple):
            return f'<td class="{c[1]}">{c[0]}</td>'
        return f"<td>{c}</td>"

    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(cell(c) for c in row) + "</tr>" for row in rows)
    if total_row:
        body += '<tr class="total">' + "".join(cell(c) for c in total_row) + "</tr>"
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def chart_scripts() -> tuple[str, str]:
    """(CSS, JS) of the vendored uPlot and loadkit's chart code, to inline into a page."""
    css = asset_text("uPlot.min.css") + "\n" + asset_text("charts.css")
    js = asset_text("uPlot.iife.min.js") + "\n" + asset_text("charts.js")
    return css, js


def chart_data_script(specs: list[dict[str, Any]]) -> str:
    """A script that mounts ``specs`` (series.chart_specs output) on the page's [data-charts] elements."""
    data = json.dumps(specs, separators=(",", ":")).replace("</", "<\\/")
    return f'<script id="loadkit-chart-data" type="application/json">{data}</script>' \
           "<script>LoadkitCharts.mount(JSON.parse(document.getElementById('loadkit-chart-data').textContent));" \
           "</script>"
