"""capacity.json and capacity.html: what a capacity run found, for machines and for people.

The HTML is self-contained like report.html (it reuses report.htmlkit's CSS and
table helpers and :func:`loadkit.report.plots.figure_uri`): one
``<section class="model" id="model-<name>">`` per model with its latency
curve against load (p50/p95/p99, the SLO limit, the knee, the max
sustainable level), its throughput/goodput and 429/error shares, and a
table of every step; then the generator and the projection.
"""

from __future__ import annotations

import json
import os
import re
from html import escape
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from loadkit.report.htmlkit import CSS, num, pct, usd
from loadkit.report.htmlkit import table as html_table
from loadkit.report.plots import figure_uri

__all__ = ["write_capacity", "render_capacity_html", "curve_uri"]

_COLOURS = {"p50": "#16a34a", "p95": "#2563eb", "p99": "#9333ea"}


def _slo_limit(doc: dict, metric: str) -> float | None:
    for name in doc.get("slo", []):
        match = re.search(re.escape(metric) + r"\s*<=?\s*([0-9.eE+-]+)", name)
        if match:
            return float(match.group(1))
    return None


def curve_uri(doc: dict, model: str) -> str:
    """The model's capacity curve as a PNG data URI: latency vs load over throughput and shares vs load."""
    out = doc["models"][model]
    rows = sorted(out["steps"], key=lambda r: r["level"])
    kind = doc["settings"]["kind"]
    x = [r["level"] for r in rows]
    x_label = "offered rate (requests/s)" if kind == "rate" else "concurrent users"
    fig = Figure(figsize=(9.5, 6.0), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    root = out["knee"]["metric"].split(".")[0]
    for stat, colour in _COLOURS.items():
        ys = [(r.get(root) or {}).get(stat) for r in rows]
        pts = [(a, b) for a, b in zip(x, ys) if b is not None]
        if pts:
            top.plot(*zip(*pts), marker="o", color=colour, label=f"{root} {stat}")
    limit = _slo_limit(doc, out["knee"]["metric"])
    if limit is not None:
        top.axhline(limit, color="#dc2626", linestyle="--", label=f"SLO {out['knee']['metric']} < {limit:g}")
    knee = out["knee"].get("level")
    if knee is not None:
        top.axvline(knee, color="#ca8a04", linestyle=":", label=f"knee ({knee:g})")
    best = out.get("max_sustainable")
    if best is not None:
        for ax in (top, bottom):
            ax.axvline(best["level"], color="#15803d", linestyle="-", alpha=0.5)
        label = "limit not reached" if out.get("verdict") == "limit_not_reached" else "max sustainable"
        top.plot([], [], color="#15803d", alpha=0.5, label=f"{label} ({best['level']:g})")
    top.set_ylabel("latency (ms)")
    top.set_title(f"{model}: latency vs load")
    top.legend(fontsize=8, loc="upper left")
    bottom.plot(x, [r["achieved_rps"] for r in rows], marker="o", color="#2563eb", label="achieved req/s")
    bottom.plot(x, [r["ok_rps"] for r in rows], marker="s", color="#16a34a", label="successful req/s")
    bottom.plot(x, [r["goodput_rps"] for r in rows], marker="^", color="#0891b2", label="goodput req/s")
    bottom.set_ylabel("requests/s")
    bottom.set_xlabel(x_label)
    share = bottom.twinx()
    share.plot(x, [100 * (r["share_429"] or 0) for r in rows], color="#ea580c", linestyle="--", label="429 %")
    share.plot(x, [100 * (r["error_share"] or 0) for r in rows], color="#dc2626", linestyle=":", label="errors %")
    share.set_ylabel("share of requests (%)")
    share.set_ylim(bottom=0)
    lines = bottom.get_legend_handles_labels()
    more = share.get_legend_handles_labels()
    bottom.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="upper left")
    return figure_uri(fig)


def _model_section(doc: dict, model: str) -> str:
    out = doc["models"][model]
    unit = "req/s" if doc["settings"]["kind"] == "rate" else "users"
    best, breaking, search = out.get("max_sustainable"), out.get("breaking_step"), out["search"]
    kind = out.get("verdict", "limit_found" if best is not None else "no_passing_step")
    if kind == "no_passing_step":
        verdict = '<span class="badge fail">no step met the SLO</span>'
    elif kind == "generator_limited":
        floor = "" if best is None else f' (&ge; {best["level"]:g} {unit})'
        verdict = f'<span class="badge warn">generator-limited{floor}: the breaking step is not trusted</span>'
    elif kind == "limit_not_reached":
        verdict = (f'<span class="badge warn">limit not reached (&ge; {best["level"]:g} {unit}, '
                   f'{num(best["rps"], 2)} req/s)</span>')
    else:
        verdict = (f'<span class="badge pass">max sustainable: {best["level"]:g} {unit} '
                   f'({num(best["rps"], 2)} req/s)</span>')
    if breaking is None:
        broke = '<span class="badge warn">no step up to the maximum broke the SLO</span>'
    else:
        why = "; ".join(f"{escape(f['metric'])} = {num(f['value'], 3)} (limit {num(f['limit'], 3)})"
                        for f in breaking["failed"])
        broke = f'broken at step {breaking["step"]} ({breaking["level"]:g} {unit}): {why}'
    knee = out["knee"]
    knee_text = "–" if knee["level"] is None else f'{knee["level"]:g} {unit} (step {knee["step"]})'
    facts = (f'<div class="verdict">{verdict} binding constraint: <b>{escape(out["binding_constraint"])}</b></div>'
             f"<p>{broke}<br>knee ({escape(knee['method'])} on {escape(knee['metric'])}): "
             f"{knee_text}<br>"
             f"search: {escape(search['mode'])}, {search['steps_taken']} steps "
             f"(a linear sweep at the same resolution of {search['resolution']:g} {unit} would take "
             f"{search['linear_equivalent_steps']})</p>")
    rows = []
    for r in out["steps"]:
        failed = ", ".join(escape(f["metric"]) for f in r["failed"]) or "–"
        rows.append([str(r["index"]), escape(r.get("phase", "")), num(r["level"], 2), num(r["achieved_rps"], 2),
                     num(r["ok_rps"], 2), num(r["goodput_rps"], 2), num(r["e2e_ms"]["p50"]),
                     num(r["e2e_ms"]["p95"]), num(r["e2e_ms"]["p99"]), num(r["ttft_ms"]["p95"]),
                     pct(r["share_429"]), pct(r["error_share"]), num(r["schedule_lag_p99_ms"], 2),
                     '<span class="badge pass">pass</span>' if r["passed"] else '<span class="badge fail">fail</span>',
                     failed])
    table = html_table(["step", "phase", unit, "achieved req/s", "ok req/s", "goodput req/s", "e2e p50", "e2e p95",
                    "e2e p99", "TTFT p95", "429 share", "error share", "lag p99 ms", "SLO", "broke"], rows)
    return (f'<section class="model" id="model-{escape(model)}"><h2>{escape(model)}</h2>{facts}'
            f'<img class="curve" src="{curve_uri(doc, model)}" alt="{escape(model)} capacity curve">{table}</section>')


def _plan_section(doc: dict) -> str:
    proj = doc["projection"]
    gen = doc["generator"]
    rows = []
    for model, p in proj["models"].items():
        rows.append([escape(model), num(p["average_rps"], 3), num(p["peak_rps"], 3),
                     num(p["max_sustainable_rps"], 2), "–" if p["headroom"] is None else f"{p['headroom']:.1f}×",
                     num(p["concurrency_mean"], 2), num(p["concurrency_p95"], 2), num(p["rpm_needed"], 1),
                     num(p["tpm_needed"], 0), usd(p["cost_per_call_usd"], 6), usd(p["monthly_cost_usd"], 2),
                     num(p["workers_needed"])])
    table = html_table(["model", "average req/s", "peak req/s", "max sustainable req/s", "headroom",
                    "concurrency (mean)", "concurrency (p95)", "rate limit req/min", "rate limit tok/min",
                    "cost per call", "cost per month", "load workers"], rows)
    note = (f'<p class="note">{proj["calls_per_day"]:,.0f} calls/day, peak-to-average {proj["peak_ratio"]:g}: '
            "peak req/s = calls/day ÷ 86,400 × peak ratio; concurrency = peak req/s × e2e latency at the max "
            "sustainable step (Little's law); headroom = max sustainable ÷ peak; cost = calls/day × 30 × measured "
            "mean tokens × price; each row assumes every call goes to that model. Load workers = ⌈peak req/s × "
            f"(1 + {doc['settings']['worker_margin']:g}) ÷ generator req per CPU-second⌉"
            + (f"; here from <code>loadkit calibrate</code> instead: ⌈p95 concurrency × (1 + margin) ÷ "
               f"{gen['calibrated_users_per_process']} users per process (TTFT error p99 &lt; 1 ms)⌉"
               if gen.get("calibrated_users_per_process") else "") + ".</p>")
    generator = (f"<p>Generator (this run, {escape(str(gen['transport']))} threads): {num(gen['answered'])} requests "
                 f"in {num(gen['cpu_s'], 2)} CPU-s = <b>{num(gen['requests_per_cpu_s'], 1)} requests per "
                 f"CPU-second</b> (one core), average CPU use {pct(gen['cpu_utilisation'])}.</p>")
    return f'<section id="projection"><h2>Projection</h2>{table}{note}{generator}</section>'


def render_capacity_html(doc: dict) -> str:
    """capacity.html as one string (no external references)."""
    title = f"loadkit capacity {doc.get('run_id', '')}"
    s = doc["settings"]
    facts = " · ".join(escape(str(x)) for x in (
        doc.get("started_at", ""), doc.get("host", ""), f"{s['kind']} steps {s['start']:g}..{s['stop']:g} by {s['step']:g}",
        f"{s['step_s']:g} s steps + {s['warmup_s']:g} s warm-up", f"search {s['search']}") if x)
    slos = "".join(f"<li>{escape(n)}</li>" for n in doc.get("slo", [])) or "<li>none</li>"
    guards = f"429 share ≤ {s['max_429_share']:g}, error share ≤ {s['max_error_share']:g}"
    nav = "".join(f'<a href="#model-{escape(m)}">{escape(m)}</a>' for m in doc["models"]) + \
        '<a href="#projection">Projection</a>'
    body = (f'<section id="slo"><h2>SLO per step</h2><ul>{slos}</ul><p class="note">and {guards}; '
            "a step passes when all hold over its measured window (warm-up excluded).</p></section>"
            + "".join(_model_section(doc, m) for m in doc["models"]) + _plan_section(doc))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{escape(title)}</h1><div class=\"facts\">{facts}</div></header>"
            f"<nav>{nav}</nav><main>{body}</main></body></html>\n")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_capacity(doc: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``capacity.json`` and ``capacity.html`` into ``out_dir``; returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out_dir / "capacity.json", out_dir / "capacity.html"
    _atomic_write(json_path, json.dumps(doc, indent=2) + "\n")
    _atomic_write(html_path, render_capacity_html(doc))
    return json_path, html_path
