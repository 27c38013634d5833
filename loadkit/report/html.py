"""report.html: one self-contained file a person reads after a run.

Everything is inline — CSS in a ``<style>``, the vendored uPlot and loadkit's
chart code in a ``<script>``, the chart data as JSON — and nothing is fetched:
no CDN, no fonts, so the file opens offline, from a CI artifact or an e-mail
attachment. The plots are interactive: hover shows the values, the model
checkboxes in the top bar show or hide a model in every plot.

Sections (each an ``<section id=…>``, linked from the top): ``slo``,
``comparison``, ``percentiles``, ``latency-over-time``, ``latency-distribution``,
``throughput``, ``rate-limits``, ``cold-start``, ``outcomes``, ``cost``,
``settings``. Time series come from the run's windows (series.py).
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from loadkit.core.pricing import monthly_projection
from loadkit.report import series
from loadkit.report.comparison import comparison_html, run_settings_html
from loadkit.report.htmlkit import CSS, chart_data_script, chart_scripts, limit, num, pct, table, usd
from loadkit.report.recompute import RECORDS_FILE, iter_record_dicts, record_files

__all__ = ["write_html_report", "render_html", "SECTIONS", "OVERHEAD_FILE"]

SECTIONS = (
    ("slo", "SLOs"),
    ("comparison", "Model comparison"),
    ("percentiles", "Latency percentiles"),
    ("latency-over-time", "Latency over time"),
    ("latency-distribution", "Latency distribution"),
    ("throughput", "Throughput"),
    ("rate-limits", "Rate limits (429)"),
    ("cold-start", "Cold vs warm"),
    ("outcomes", "Outcomes"),
    ("cost", "Cost"),
    ("settings", "Run settings"),
)
OVERHEAD_FILE = "overhead.json"  # a paired `loadkit overhead --json` result saved in the run folder
_STATS = ("p50", "p90", "p95", "p99", "max", "mean", "count")

# Older names kept for callers (the capacity report) until they import loadkit.report.htmlkit.
_CSS, _num, _limit, _usd, _pct, _table = CSS, num, limit, usd, pct, table


def _section(section_id: str, body: str) -> str:
    title = dict(SECTIONS)[section_id]
    return f'<section id="{section_id}"><h2>{escape(title)}</h2>{body}</section>'


def _charts(*chart_ids: str) -> str:
    """A holder the inlined chart code fills with these charts (series.chart_specs ids)."""
    return f'<div class="lk-charts" data-charts="{",".join(chart_ids)}"></div>'


def _slo_section(summary: dict) -> str:
    slo = summary.get("slo") or {"passed": True, "checks": []}
    checks = slo.get("checks", [])
    if not checks:
        verdict = '<span class="badge warn">no SLOs declared</span>'
    elif slo.get("passed"):
        verdict = f'<span class="badge pass">all {len(checks)} SLOs met</span>'
    else:
        failed = sum(1 for c in checks if not c.get("passed"))
        verdict = f'<span class="badge fail">{failed} of {len(checks)} SLOs failed</span>'
    trusted = summary.get("trusted", True)
    trust = ('<span class="badge pass">trusted</span>' if trusted
             else '<span class="badge fail">not trusted</span>')
    if summary.get("interrupted"):
        trust += ' <span class="badge warn">interrupted</span>'
    if summary.get("degraded"):
        trust += ' <span class="badge warn">degraded (a worker was lost)</span>'
    warnings = "".join(f"<li>{escape(str(w))}</li>" for w in summary.get("warnings") or [])
    rows = [[escape(c.get("name", "")), num(c.get("value"), 3), limit(c.get("limit")),
             '<span class="badge pass">pass</span>' if c.get("passed") else '<span class="badge fail">fail</span>']
            for c in checks]
    checks_html = table(["check", "measured", "limit", "result"], rows) if rows else ""
    return _section("slo", f'<div class="verdict">{verdict} {trust}</div>'
                           + (f'<ul class="warnings">{warnings}</ul>' if warnings else "") + checks_html)


def _percentile_section(summary: dict) -> str:
    parts = []
    blocks = [(m, b) for m, b in sorted(summary.get("models", {}).items())] + [("all models", summary.get("totals"))]
    for model, block in blocks:
        if not block:
            continue
        rows = []
        for label, key in (("TTFT", "ttft_ms"), ("e2e", "e2e_ms"), ("ITL", "itl_ms"), ("TPOT", "tpot_ms"),
                           ("e2e from intended", "e2e_from_intended_ms")):
            stats = block.get(key) or {}
            rows.append([label] + [num(stats.get(s)) for s in _STATS])
        parts.append(f"<h3>{escape(model)} — {num(block.get('requests'))} requests, "
                     f"success {pct(block.get('success_rate'))}, "
                     f"{num(block.get('output_tokens_per_s'))} output tokens/s</h3>")
        parts.append(table(["ms", *_STATS], rows))
    note = '<p class="note">Warm, successful requests only; cold starts are reported apart.</p>'
    return _section("percentiles", note + "".join(parts))


def _rate_limit_table(summary: dict) -> str:
    rows = []
    for model, block in sorted(summary.get("models", {}).items()):
        rl = block.get("rate_limit") or {}
        throttled = rl.get("throttled_ms") or {}
        retry_after = rl.get("retry_after_s") or {}
        rows.append([escape(model), num(rl.get("responses_429")), num(rl.get("retried_ok")),
                     num(rl.get("gave_up")), num(rl.get("retries")), num(throttled.get("total")),
                     num(throttled.get("p95")), num(retry_after.get("p50"), 2)])
    return table(["model", "429 responses", "retried ok", "gave up", "retries", "throttled total ms",
                   "throttled p95 ms", "Retry-After p50 s"], rows)


def _cold_table(summary: dict) -> str:
    rows = []
    for model, block in sorted(summary.get("models", {}).items()):
        cold = block.get("cold_start") or {}
        c, w = cold.get("ttft_ms") or {}, cold.get("warm_ttft_ms") or {}
        rows.append([escape(model), num(cold.get("count")), num(c.get("p50")), num(c.get("p95")),
                     num(w.get("p50")), num(w.get("p95"))])
    return table(["model", "cold requests", "cold TTFT p50", "cold TTFT p95", "warm TTFT p50", "warm TTFT p95"],
                  rows)


def _outcome_table(summary: dict) -> str:
    models = sorted(summary.get("models", {}))
    names = sorted({o for m in models for o in summary["models"][m].get("outcomes", {})},
                   key=lambda o: (o != "ok", o))
    rows = [[escape(m)] + [num(summary["models"][m].get("outcomes", {}).get(o, 0)) for o in names]
            + [pct(summary["models"][m].get("success_rate"))] for m in models]
    totals = summary.get("totals") or {}
    total = ["all models"] + [num((totals.get("outcomes") or {}).get(o, 0)) for o in names] \
        + [pct(totals.get("success_rate"))]
    html = table(["model", *names, "success rate"], rows, total)
    reasons = sorted({r for m in models for r in summary["models"][m].get("finish_reasons") or {}},
                     key=lambda r: (r != "stop", r))
    if reasons:  # how the answers ended, per model: "length" (max_tokens hit) or "content_filter" are not "stop"
        html += "<h3>Finish reasons</h3>" + table(
            ["model", *map(escape, reasons)],
            [[escape(m)] + [num((summary["models"][m].get("finish_reasons") or {}).get(r, 0)) for r in reasons]
             for m in models])
    errors = totals.get("errors") or {}
    if errors:
        html += "<h3>Errors by key</h3>" + table(["error", "count"], [[escape(k), num(v)] for k, v in errors.items()])
    return html


def _per_request_usd(block: dict) -> float | None:
    """The summary's mean cost per request (it states it per 1,000 requests)."""
    per_1k = block.get("cost_per_1k_requests_usd")
    return None if per_1k is None or not block.get("requests") else per_1k / 1000.0


def _cost_section(summary: dict, calls_per_day: float) -> str:
    rows = []
    for model, block in sorted(summary.get("models", {}).items()):
        per_request = _per_request_usd(block)
        tokens = block.get("tokens") or {}
        rows.append([escape(model), num(block.get("requests")), num(tokens.get("input")),
                     num(tokens.get("output")), usd(block.get("cost_usd")), usd(per_request, 6),
                     usd(block.get("cost_per_success_usd"), 6), usd(block.get("cost_per_1k_requests_usd"), 3),
                     usd(None if per_request is None else monthly_projection(per_request, calls_per_day), 2)])
    totals = summary.get("totals") or {}
    per_request = _per_request_usd(totals)
    tokens = totals.get("tokens") or {}
    total = ["all models (mix as run)", num(totals.get("requests")), num(tokens.get("input")),
             num(tokens.get("output")), usd(totals.get("cost_usd")), usd(per_request, 6),
             usd(totals.get("cost_per_success_usd"), 6), usd(totals.get("cost_per_1k_requests_usd"), 3),
             usd(None if per_request is None else monthly_projection(per_request, calls_per_day), 2)]
    html = table(["model", "requests", "input tokens", "output tokens", "cost", "per request", "per success",
                  "per 1k requests", f"per month at {calls_per_day:,.0f} calls/day"], rows, total)
    note = (f'<p class="note">Monthly projection: mean cost per request × {calls_per_day:,.0f} calls/day × 30 days; '
            "a model's row assumes every call goes to that model. Prices: loadkit's price table.</p>")
    return _section("cost", html + note)


def render_html(summary: dict, records: list[dict], calls_per_day: float = 10_000,
                overhead: dict | None = None) -> str:
    """The report as one HTML string (no external references).

    ``overhead`` is a paired gateway-overhead result (``loadkit overhead --json``) shown in the comparison."""
    # the run's own windows (merged across workers) when summary.json has them; else cut from the records
    windows = summary.get("windows") or {}
    if not windows.get("windows"):
        windows = series.windows_from_records(records, summary.get("duration_s"))
    specs = series.chart_specs(windows)
    # by percentile: the run's own histograms (summary.json, merged across workers); older runs: the records
    specs += [series.distribution_curve(summary.get("distributions"), field) or series.percentile_curve(records, field)
              for field in ("e2e_ms", "ttft_ms")]
    title = f"loadkit run {summary.get('run_id', '')}"
    facts = " · ".join(escape(str(x)) for x in (
        summary.get("started_at", ""), f"{num(summary.get('duration_s'))} s", f"{summary.get('users', '?')} users",
        summary.get("shape", ""), summary.get("host", "")) if x)
    nav = "".join(f'<a href="#{sid}">{escape(label)}</a>' for sid, label in SECTIONS)
    no_data = "" if windows.get("windows") else \
        f'<p class="note">No {RECORDS_FILE} and no windows in the run folder: time series are empty.</p>'
    bin_note = (f'<p class="note">{windows.get("bin_s", series.BIN_S):g} s windows by completion time; the last, '
                "shorter window is rated by its real length. Hover a plot for values; the model boxes at the top "
                "show or hide a model everywhere; drag to zoom, double-click to reset.</p>")
    body = [
        _slo_section(summary),
        _section("comparison", comparison_html(summary, calls_per_day, overhead)),
        _percentile_section(summary),
        _section("latency-over-time", no_data + bin_note + _charts("e2e_ms", "ttft_ms", "itl_ms")),
        _section("latency-distribution", _charts("e2e_ms_by_percentile", "ttft_ms_by_percentile")),
        _section("throughput", _charts("output_tokens", "requests")),
        _section("rate-limits", _rate_limit_table(summary) + _charts("responses_429")),
        _section("cold-start", _cold_table(summary)),
        _section("outcomes", _outcome_table(summary) + _charts("errors")),
        _cost_section(summary, calls_per_day),
        _section("settings", run_settings_html(summary)),
    ]
    chart_css, chart_js = chart_scripts()
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}\n{chart_css}</style><script>{chart_js}</script></head><body>"
        f"<header><h1>{escape(title)}</h1><div class=\"facts\">{facts}</div></header>"
        f'<nav>{nav}<span class="lk-toggles" data-model-toggles></span></nav><main>{"".join(body)}</main>'
        f"{chart_data_script(specs)}</body></html>\n"
    )


def write_html_report(run_dir: str | Path, calls_per_day: float = 10_000) -> Path:
    """Write ``<run_dir>/report.html`` from summary.json and records.jsonl.gz (and overhead.json when the
    folder has one); returns its path. ``calls_per_day`` sets the monthly cost projection (DESIGN.md: 10,000)."""
    run_dir = Path(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    records = list(iter_record_dicts(run_dir)) if record_files(run_dir) else []
    overhead_path = run_dir / OVERHEAD_FILE
    overhead = json.loads(overhead_path.read_text(encoding="utf-8")) if overhead_path.exists() else None
    path = run_dir / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_html(summary, records, calls_per_day, overhead), encoding="utf-8")
    tmp.replace(path)
    return path
