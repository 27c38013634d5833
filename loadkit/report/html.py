"""report.html: one self-contained file a person reads after a run.

Everything is inline — CSS in a ``<style>``, plots as base64 PNG data URIs
(matplotlib, Agg) — and nothing is fetched: no CDN, no fonts, no scripts, so
the file opens offline, from a CI artifact or an e-mail attachment.

Sections (each an ``<section id=…>``, linked from the top): ``slo``,
``percentiles``, ``latency-over-time``, ``latency-distribution``,
``throughput``, ``rate-limits``, ``cold-start``, ``outcomes``, ``cost``.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from loadkit.core.pricing import monthly_projection
from loadkit.report import plots
from loadkit.report.recompute import RECORDS_FILE, iter_record_dicts, record_files

__all__ = ["write_html_report", "render_html", "SECTIONS"]

SECTIONS = (
    ("slo", "SLOs"),
    ("percentiles", "Latency percentiles"),
    ("latency-over-time", "Latency over time"),
    ("latency-distribution", "Latency distribution"),
    ("throughput", "Throughput"),
    ("rate-limits", "Rate limits (429)"),
    ("cold-start", "Cold vs warm"),
    ("outcomes", "Outcomes"),
    ("cost", "Cost"),
)
_BIN_S = 5.0
_STATS = ("p50", "p90", "p95", "p99", "max", "mean", "count")

_CSS = """
:root { --fg:#1f2937; --muted:#6b7280; --line:#e5e7eb; --bg:#f9fafb; --ok:#15803d; --bad:#b91c1c; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg);
       background:var(--bg); }
header { background:#111827; color:#f9fafb; padding:16px 32px; }
header h1 { margin:0 0 4px; font-size:20px; }
header .facts { color:#d1d5db; font-size:13px; }
nav { position:sticky; top:0; background:#fff; border-bottom:1px solid var(--line); padding:8px 32px;
      font-size:13px; z-index:1; }
nav a { color:#2563eb; text-decoration:none; margin-right:14px; }
main { max-width:1100px; margin:0 auto; padding:8px 32px 48px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:16px 20px; margin:16px 0; }
h2 { margin:0 0 12px; font-size:17px; }
h3 { margin:16px 0 6px; font-size:14px; color:var(--muted); }
table { border-collapse:collapse; width:100%; font-variant-numeric: tabular-nums; margin-bottom:8px; }
th, td { padding:4px 10px; border-bottom:1px solid var(--line); text-align:right; white-space:nowrap; }
th:first-child, td:first-child { text-align:left; }
th { background:#f3f4f6; font-weight:600; }
tr.total td { font-weight:600; border-top:2px solid var(--fg); }
img { max-width:100%; height:auto; display:block; margin:8px 0; }
.badge { display:inline-block; padding:2px 10px; border-radius:999px; font-weight:600; font-size:13px; }
.pass { background:#dcfce7; color:var(--ok); } .fail { background:#fee2e2; color:var(--bad); }
.warn { background:#fef3c7; color:#92400e; }
.verdict { font-size:16px; margin-bottom:8px; }
.note { color:var(--muted); font-size:12px; }
ul.warnings { margin:4px 0 0; padding-left:18px; color:#92400e; }
"""


def _num(value: Any, digits: int = 1) -> str:
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


def _limit(value: Any) -> str:
    if isinstance(value, float) and not isinstance(value, bool):
        return f"{value:,g}" if abs(value) >= 1 else f"{value:g}"
    return _num(value)


def _usd(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"${value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f} %"


def _table(headers: list[str], rows: list[list[str]], total_row: list[str] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if total_row:
        body += '<tr class="total">' + "".join(f"<td>{c}</td>" for c in total_row) + "</tr>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(section_id: str, body: str) -> str:
    title = dict(SECTIONS)[section_id]
    return f'<section id="{section_id}"><h2>{escape(title)}</h2>{body}</section>'


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{escape(alt)}">'


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
    warnings = "".join(f"<li>{escape(str(w))}</li>" for w in summary.get("warnings") or [])
    rows = [[escape(c.get("name", "")), _num(c.get("value"), 3), _limit(c.get("limit")),
             '<span class="badge pass">pass</span>' if c.get("passed") else '<span class="badge fail">fail</span>']
            for c in checks]
    table = _table(["check", "measured", "limit", "result"], rows) if rows else ""
    return _section("slo", f'<div class="verdict">{verdict} {trust}</div>'
                           + (f'<ul class="warnings">{warnings}</ul>' if warnings else "") + table)


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
            rows.append([label] + [_num(stats.get(s)) for s in _STATS])
        parts.append(f"<h3>{escape(model)} — {_num(block.get('requests'))} requests, "
                     f"success {_pct(block.get('success_rate'))}, "
                     f"{_num(block.get('output_tokens_per_s'))} output tokens/s</h3>")
        parts.append(_table(["ms", *_STATS], rows))
    note = '<p class="note">Warm, successful requests only; cold starts are reported apart.</p>'
    return _section("percentiles", note + "".join(parts))


def _rate_limit_table(summary: dict) -> str:
    rows = []
    for model, block in sorted(summary.get("models", {}).items()):
        rl = block.get("rate_limit") or {}
        throttled = rl.get("throttled_ms") or {}
        retry_after = rl.get("retry_after_s") or {}
        rows.append([escape(model), _num(rl.get("responses_429")), _num(rl.get("retried_ok")),
                     _num(rl.get("gave_up")), _num(rl.get("retries")), _num(throttled.get("total")),
                     _num(throttled.get("p95")), _num(retry_after.get("p50"), 2)])
    return _table(["model", "429 responses", "retried ok", "gave up", "retries", "throttled total ms",
                   "throttled p95 ms", "Retry-After p50 s"], rows)


def _cold_table(summary: dict) -> str:
    rows = []
    for model, block in sorted(summary.get("models", {}).items()):
        cold = block.get("cold_start") or {}
        c, w = cold.get("ttft_ms") or {}, cold.get("warm_ttft_ms") or {}
        rows.append([escape(model), _num(cold.get("count")), _num(c.get("p50")), _num(c.get("p95")),
                     _num(w.get("p50")), _num(w.get("p95"))])
    return _table(["model", "cold requests", "cold TTFT p50", "cold TTFT p95", "warm TTFT p50", "warm TTFT p95"],
                  rows)


def _outcome_table(summary: dict) -> str:
    models = sorted(summary.get("models", {}))
    names = sorted({o for m in models for o in summary["models"][m].get("outcomes", {})},
                   key=lambda o: (o != "ok", o))
    rows = [[escape(m)] + [_num(summary["models"][m].get("outcomes", {}).get(o, 0)) for o in names]
            + [_pct(summary["models"][m].get("success_rate"))] for m in models]
    totals = summary.get("totals") or {}
    total = ["all models"] + [_num((totals.get("outcomes") or {}).get(o, 0)) for o in names] \
        + [_pct(totals.get("success_rate"))]
    table = _table(["model", *names, "success rate"], rows, total)
    errors = totals.get("errors") or {}
    if errors:
        table += "<h3>Errors by key</h3>" + _table(["error", "count"],
                                                   [[escape(k), _num(v)] for k, v in errors.items()])
    return table


def _cost_section(summary: dict, calls_per_day: float) -> str:
    rows = []
    for model, block in sorted(summary.get("models", {}).items()):
        per_request = (block.get("cost_usd") or 0.0) / block["requests"] if block.get("requests") else None
        tokens = block.get("tokens") or {}
        rows.append([escape(model), _num(block.get("requests")), _num(tokens.get("input")),
                     _num(tokens.get("output")), _usd(block.get("cost_usd")), _usd(per_request, 6),
                     _usd(block.get("cost_per_success_usd"), 6), _usd(block.get("cost_per_1k_requests_usd"), 3),
                     _usd(None if per_request is None else monthly_projection(per_request, calls_per_day), 2)])
    totals = summary.get("totals") or {}
    per_request = (totals.get("cost_usd") or 0.0) / totals["requests"] if totals.get("requests") else None
    tokens = totals.get("tokens") or {}
    total = ["all models (mix as run)", _num(totals.get("requests")), _num(tokens.get("input")),
             _num(tokens.get("output")), _usd(totals.get("cost_usd")), _usd(per_request, 6),
             _usd(totals.get("cost_per_success_usd"), 6), _usd(totals.get("cost_per_1k_requests_usd"), 3),
             _usd(None if per_request is None else monthly_projection(per_request, calls_per_day), 2)]
    table = _table(["model", "requests", "input tokens", "output tokens", "cost", "per request", "per success",
                    "per 1k requests", f"per month at {calls_per_day:,.0f} calls/day"], rows, total)
    note = (f'<p class="note">Monthly projection: mean cost per request × {calls_per_day:,.0f} calls/day × 30 days; '
            "a model's row assumes every call goes to that model. Prices: loadkit's price table.</p>")
    return _section("cost", table + note)


def render_html(summary: dict, records: list[dict], calls_per_day: float = 10_000) -> str:
    """The report as one HTML string (no external references)."""
    points = plots.points_from_records(records)
    title = f"loadkit run {summary.get('run_id', '')}"
    facts = " · ".join(escape(str(x)) for x in (
        summary.get("started_at", ""), f"{_num(summary.get('duration_s'))} s", f"{summary.get('users', '?')} users",
        summary.get("shape", ""), summary.get("host", "")) if x)
    nav = "".join(f'<a href="#{sid}">{escape(label)}</a>' for sid, label in SECTIONS)
    no_records = "" if points else f'<p class="note">No {RECORDS_FILE} in the run folder: time series are empty.</p>'
    body = [
        _slo_section(summary),
        _percentile_section(summary),
        _section("latency-over-time", no_records + _img(plots.latency_over_time(points, _BIN_S),
                                                        "e2e and TTFT p50/p95 per 5 s")),
        _section("latency-distribution", _img(plots.latency_cdf(points), "latency CDF per model")),
        _section("throughput", _img(plots.throughput_over_time(points, _BIN_S), "requests/s and tokens/s")),
        _section("rate-limits", _rate_limit_table(summary)
                 + _img(plots.rate_limits_over_time(points, _BIN_S), "429s and throttled time")),
        _section("cold-start", _cold_table(summary) + _img(plots.cold_vs_warm(summary), "cold vs warm TTFT")),
        _section("outcomes", _outcome_table(summary) + _img(plots.outcome_breakdown(summary), "outcomes")),
        _cost_section(summary, calls_per_day),
    ]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><div class=\"facts\">{facts}</div></header>"
        f"<nav>{nav}</nav><main>{''.join(body)}</main></body></html>\n"
    )


def write_html_report(run_dir: str | Path, calls_per_day: float = 10_000) -> Path:
    """Write ``<run_dir>/report.html`` from summary.json and records.jsonl.gz; returns its path.

    ``calls_per_day`` sets the monthly cost projection (DESIGN.md's example: 10,000)."""
    run_dir = Path(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    records = list(iter_record_dicts(run_dir)) if record_files(run_dir) else []
    path = run_dir / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_html(summary, records, calls_per_day), encoding="utf-8")
    tmp.replace(path)
    return path
