"""The "LLM" tab in Locust's web UI, and loadkit's own routes.

The tab uses Locust's extension points (``extended_tabs``/``extended_tables``
in ``template_args`` and ``extended_stats`` added to ``/stats/requests``), so
it refreshes live with the rest of the UI. Its rows come from the same live
summary as ``/loadkit/summary.json`` (merged worker snapshots on a master).
Every loadkit route goes through ``auth_required_if_enabled``, so
``--web-login`` protects them like Locust's own pages.
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from flask import Response, request

from loadkit.core.summary import summarize
from loadkit.locust import sessions
from loadkit.locust.runtime import Runtime
from loadkit.locust.sessions import live_stats
from loadkit.report import series
from loadkit.report.vendor import ASSETS, asset_text

log = logging.getLogger("loadkit")

__all__ = ["install_web_ui", "live_summary", "llm_rows", "live_stats", "live_windows", "TAB_KEY", "ASSET_ROUTE"]

ASSET_ROUTE = "/loadkit/static/"
# Added to Locust's page: the vendored uPlot, loadkit's chart code and the LLM tab's extra panel
# (charts and the session's runs). Relative URLs, so a --web-base-path keeps working.
_PAGE_ASSETS = ('<link rel="stylesheet" href="./loadkit/static/uPlot.min.css">'
                '<link rel="stylesheet" href="./loadkit/static/charts.css">'
                '<script src="./loadkit/static/uPlot.iife.min.js"></script>'
                '<script src="./loadkit/static/charts.js"></script>'
                '<script src="./loadkit/static/llm-tab.js"></script>')

TAB_KEY = "llm"

COLUMNS = [
    ("model", "Model"),
    ("requests", "Requests"),
    ("success_rate", "Success %"),
    ("ttft_p50", "TTFT p50 ms"),
    ("ttft_p95", "TTFT p95 ms"),
    ("ttft_p99", "TTFT p99 ms"),
    ("e2e_p50", "e2e p50 ms"),
    ("e2e_p95", "e2e p95 ms"),
    ("e2e_p99", "e2e p99 ms"),
    ("itl_p50", "ITL p50 ms"),
    ("itl_p95", "ITL p95 ms"),
    ("tokens_per_s", "Out tok/s"),
    ("responses_429", "429s"),
    ("retries", "Retries"),
    ("throttled_s", "Throttled s"),
    ("cold", "Cold starts"),
    ("cold_ttft_p50", "Cold TTFT p50 ms"),
    ("cost_usd", "Cost so far $"),
    ("sink", "Sink written / dropped"),
]


def live_summary(rt: Runtime) -> dict[str, Any]:
    """The run so far, built exactly as the final summary is (merged worker snapshots on a master)."""
    from loadkit.locust.finish import run_context

    runner = rt.environment.runner if rt.environment is not None else None
    ctx, view = run_context(rt, rt.environment, users=getattr(runner, "user_count", 0) or 0)
    ctx.duration_s = rt.duration_s() or 1e-9
    return summarize(view.stats, ctx).to_dict()


def live_windows(rt: Runtime) -> dict[str, Any]:
    """``/loadkit/windows``: the run's 5 s windows so far, merged across workers (report/series.py's table)."""
    view = rt.workers.merged() if rt.role == "master" else rt.workers.merged(own=rt.snapshot())
    start = rt.started_epoch_s
    if start is None:
        end = None
    else:  # a running run's current window is as long as it has lasted so far (rates per that length)
        end = time.time() if rt.stopped_at is None else start + rt.duration_s()
    return {"run_id": rt.run_id, **view.windows.table(start, end)}


def _r(x: float | None, digits: int = 1) -> Any:
    return None if x is None else round(x, digits)


def llm_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per model plus "all models", in the tab's column keys."""
    rows = []
    sink = summary.get("sink", {})
    items = list(summary["models"].items()) + [("all models", summary["totals"])]
    for name, m in items:
        rl = m["rate_limit"]
        rows.append({
            "model": name,
            "safe_name": name,
            "requests": m["requests"],
            "success_rate": _r(None if m["success_rate"] is None else 100 * m["success_rate"], 2),
            "ttft_p50": _r(m["ttft_ms"]["p50"]),
            "ttft_p95": _r(m["ttft_ms"]["p95"]),
            "ttft_p99": _r(m["ttft_ms"]["p99"]),
            "e2e_p50": _r(m["e2e_ms"]["p50"]),
            "e2e_p95": _r(m["e2e_ms"]["p95"]),
            "e2e_p99": _r(m["e2e_ms"]["p99"]),
            "itl_p50": _r(m["itl_ms"]["p50"], 2),
            "itl_p95": _r(m["itl_ms"]["p95"], 2),
            "tokens_per_s": _r(m["output_tokens_per_s"]),
            "responses_429": rl["responses_429"],
            "retries": rl["retries"],
            "throttled_s": round(rl["throttled_ms"].get("total", 0.0) / 1000.0, 2),
            "cold": m["cold_start"]["count"],
            "cold_ttft_p50": _r(m["cold_start"]["ttft_ms"]["p50"]),
            "cost_usd": round(m["cost_usd"], 6),
            "sink": f"{sink.get('written', 0)} / {sink.get('dropped', 0)}" if name == "all models" else "",
        })
    return rows


def _web_port_free(host: str, port: int) -> bool:
    """True when ``host:port`` can be bound now (or cannot be checked)."""
    if not port:
        return True
    bind_host = None if host in ("", "*") else host
    try:
        family, kind, proto, _, address = socket.getaddrinfo(bind_host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        return exc.errno != errno.EADDRINUSE
    return True


def install_web_ui(environment, rt: Runtime) -> None:
    """Add the LLM tab and the /loadkit/* routes to Locust's web UI (no-op without a web UI)."""
    web_ui = environment.web_ui
    if web_ui is None:
        return
    options = environment.parsed_options
    if options is not None and not getattr(options, "web_login", False) and getattr(options, "web_host", "") in ("", "*", "0.0.0.0", "::"):
        log.warning("the web UI listens on all interfaces without --web-login: anyone who can reach this port can "
                    "start load and read results; bind with --web-host 127.0.0.1 or enable --web-login")
    if options is not None and not _web_port_free(getattr(options, "web_host", ""), getattr(options, "web_port", 0)):
        # Locust would print a bind traceback from a greenlet; one line and exit 2 instead
        log.error("the web UI port %s is in use; pick a free one with --web-port (or stop what listens there)",
                  options.web_port)
        sys.exit(2)
    if options is None or not getattr(options, "headless", False):
        sessions.install(environment, rt)
    web_ui.template_args["extended_tabs"] = [{"title": "LLM", "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [
        {"key": TAB_KEY, "structure": [{"key": key, "title": title} for key, title in COLUMNS]}
    ]
    web_ui.template_args["extended_csv_files"] = [
        {"href": "./loadkit/summary.json", "title": "Download the live loadkit summary.json"},
        {"href": "./loadkit/report.html", "title": "Open the loadkit HTML report (so far)"},
    ]
    app = web_ui.app

    def protected(view):
        """Locust's own auth wrapper, plus a hard 401: Locust's wrapper answers 200 with an error text when
        login is misconfigured, and a data route must never fall open."""
        wrapped = web_ui.auth_required_if_enabled(view)

        @functools.wraps(view)
        def guard(*args, **kwargs):
            if web_ui.web_login:
                try:
                    from flask_login import current_user

                    authenticated = bool(current_user.is_authenticated)
                except Exception:
                    authenticated = False
                if not authenticated:
                    return Response("login required\n", status=401, mimetype="text/plain")
            return wrapped(*args, **kwargs)

        return guard

    @app.after_request
    def _add_page_assets(response):
        """Locust's page gets loadkit's scripts (its React app has no hook for a tab's own content)."""
        if response.mimetype == "text/html" and not response.direct_passthrough:
            body = response.get_data(as_text=True)
            if 'id="root"' in body and "</body>" in body and ASSET_ROUTE not in body:
                response.set_data(body.replace("</body>", _PAGE_ASSETS + "</body>", 1))
        return response

    @app.after_request
    def _add_llm_stats(response):
        if request.path.endswith("/stats/requests") and response.is_json:
            try:
                rows = llm_rows(live_summary(rt))
            except Exception as exc:  # the UI must keep working even if a summary cannot be built
                log.warning("LLM tab: %s", exc)
                rows = []
            data = response.get_json()
            data["extended_stats"] = [{"key": TAB_KEY, "data": rows}]
            response.set_data(json.dumps(data))
        return response

    @app.route("/loadkit/summary.json")
    @protected
    def _summary_json():
        body = json.dumps(live_summary(rt), indent=2)
        return Response(body, mimetype="application/json",
                        headers={"Content-Disposition": f'attachment; filename="summary-{rt.run_id}.json"'})

    @app.route("/loadkit/windows")
    @protected
    def _windows_json():
        return Response(json.dumps(live_windows(rt)), mimetype="application/json")

    @app.route("/loadkit/rows.json")
    @protected
    def _rows_json():
        return Response(json.dumps(llm_rows(live_summary(rt))), mimetype="application/json")

    @app.route("/loadkit/report.html")
    @protected
    def _report_html():
        from loadkit.report.html import write_html_report
        from loadkit.core.summary import write_summary

        with tempfile.TemporaryDirectory(prefix="loadkit-live-") as tmp:
            run_dir = Path(tmp)
            write_summary(live_summary(rt), run_dir / "summary.json")
            from loadkit.report.recompute import record_files

            for i, records in enumerate(record_files(Path(rt.settings.results_dir) / rt.run_id)):
                target = run_dir / ("records.jsonl.gz" if i == 0 else f"workers/{i}/records.jsonl.gz")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(records.read_bytes())
            path = write_html_report(run_dir, calls_per_day=rt.settings.calls_per_day)
            return Response(path.read_text(encoding="utf-8"), mimetype="text/html")

    @app.route(ASSET_ROUTE + "<name>")
    @protected
    def _asset(name):
        if name not in ASSETS:
            return Response("no such asset\n", status=404, mimetype="text/plain")
        return Response(asset_text(name), mimetype=ASSETS[name], headers={"Cache-Control": "max-age=300"})

    @app.route("/loadkit/charts.json")
    @protected
    def _charts_json():
        """Chart specs of the current (or last) run's windows, merged across workers."""
        session = sessions.get_session()
        if session is not None and not session.active and session.last_windows is not None:
            table = session.last_windows  # the stopped run's final windows, as its summary.json has them
        else:
            table = {k: v for k, v in live_windows(rt).items() if k != "run_id"}
        return Response(json.dumps({"run_id": rt.run_id, "windows": table, "specs": series.chart_specs(table)}),
                        mimetype="application/json")

    @app.route("/loadkit/runs.json")
    @protected
    def _runs_json():
        session = sessions.get_session()
        runs = session.runs if session is not None else []
        return Response(json.dumps({"current": rt.run_id, "running": bool(session and session.active),
                                    "runs": runs}), mimetype="application/json")

    @app.route("/loadkit/runs/<run_id>/<name>")
    @protected
    def _run_file(run_id, name):
        session = sessions.get_session()
        known = {r["run_id"] for r in (session.runs if session is not None else [])}
        # only files of this session's finished runs: no path from the URL reaches the file system
        if run_id not in known or name not in sessions.RUN_FILES:
            return Response("no such run file\n", status=404, mimetype="text/plain")
        path = Path(rt.settings.results_dir) / run_id / name
        if not path.exists():
            return Response("not written\n", status=404, mimetype="text/plain")
        disposition = "inline" if name == "report.html" else f'attachment; filename="{run_id}-{name}"'
        return Response(path.read_bytes(), mimetype=sessions.RUN_FILES[name],
                        headers={"Content-Disposition": disposition})
