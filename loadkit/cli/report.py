"""`loadkit report ...` and `loadkit compare`: work on finished runs.

- ``loadkit report recompute results/<run_id> [--slo slo.toml]``: rebuild
  summary.json from the raw records (a fixed metric recomputed later), re-evaluate
  SLOs, rewrite junit.xml and report.html, print the table.
- ``loadkit report html results/<run_id>``: (re)write report.html.
- ``loadkit report push results/<run_id> --influx-url ...``: load points.lp into InfluxDB.
- ``loadkit report influx --run-id X --influx-url ...``: p50/p95/p99 and throughput
  per model and worker computed by InfluxDB itself (InfluxQL).
- ``loadkit compare results/A results/B --threshold 10``: exit 1 on a significant regression.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from loadkit.errors import LoadkitError

__all__ = ["register"]


def _run_dir(text: str) -> Path:
    path = Path(text)
    if not (path / "summary.json").is_file() and not (path / "records.jsonl.gz").is_file():
        raise LoadkitError(f"{path} is not a run folder (no summary.json or records.jsonl.gz); give results/<run_id>")
    return path


def cmd_recompute(args: argparse.Namespace) -> int:
    from loadkit.report.html import write_html_report
    from loadkit.report.junit import write_junit
    from loadkit.report.recompute import summary_from_records
    from loadkit.core.slo_inputs import slos_from_text
    from loadkit.core.summary import write_summary
    from loadkit.report.table import print_summary

    run_dir = _run_dir(args.run_dir)
    summary = summary_from_records(run_dir, slos=slos_from_text(args.slo) if args.slo else None)
    write_summary(summary, run_dir / "summary.json")
    write_junit(summary["slo"], run_dir / "junit.xml", f"loadkit {summary['run_id']}")
    write_html_report(run_dir, calls_per_day=args.calls_per_day)
    print_summary(summary)
    return 0 if summary["slo"]["passed"] else 1


def cmd_html(args: argparse.Namespace) -> int:
    from loadkit.report.html import write_html_report

    path = write_html_report(_run_dir(args.run_dir), calls_per_day=args.calls_per_day)
    print(path)
    return 0


def _influx_settings(args: argparse.Namespace):
    from loadkit.cli.options import settings_from_args

    return settings_from_args(args)


def cmd_push(args: argparse.Namespace) -> int:
    from loadkit.sinks import push_file

    n = push_file(Path(args.run_dir), _influx_settings(args))
    print(f"pushed {n:,} points from {args.run_dir}")
    return 0


def cmd_influx(args: argparse.Namespace) -> int:
    from loadkit.sinks import influx_report

    report = influx_report(_influx_settings(args), args.run_id)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    t = Table(title=f"InfluxDB's own numbers for run {args.run_id} ({report['duration_s']:.0f} s)", title_justify="left")
    for col in ("model", "worker", "requests", "rps", "out tok/s", "e2e p50/p95/p99 ms", "TTFT p50/p95/p99 ms"):
        t.add_column(col, justify="left" if col in ("model", "worker") else "right")

    def fmt(block):
        return " / ".join("-" if block.get(p) is None else f"{block[p]:,.1f}" for p in ("p50", "p95", "p99"))

    def row(model, worker, m):
        t.add_row(model, worker, f"{m.get('requests', 0):,}", f"{m.get('rps') or 0:,.1f}",
                  f"{m.get('output_tokens_per_s') or 0:,.0f}", fmt(m.get("e2e_ms", {})), fmt(m.get("ttft_ms", {})))

    for model, m in sorted(report["models"].items()):
        row(model, "all", m)
    for worker, per_model in sorted(report.get("workers", {}).items()):
        for model, m in sorted(per_model.items()):
            row(model, worker, m)
    if report.get("totals"):
        row("all models", "all", report["totals"])
    Console(width=160).print(t)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from loadkit.report.compare import compare, render_compare_table

    result = compare(_run_dir(args.run_a), _run_dir(args.run_b), threshold_pct=args.threshold)
    print(render_compare_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    return 1 if result["regressions"] else 0


def register(sub) -> None:
    from loadkit.cli.options import add_settings

    report = sub.add_parser("report", help="recompute, re-render or push a finished run; query InfluxDB")
    rsub = report.add_subparsers(dest="report_command", required=True)

    rc = rsub.add_parser("recompute", help="rebuild summary.json, junit.xml and report.html from records.jsonl.gz")
    rc.add_argument("run_dir")
    rc.add_argument("--slo", default="", help="SLO file to evaluate, or an inline check ('ttft_ms.p95 < 1000')")
    rc.add_argument("--calls-per-day", type=float, default=10_000.0)
    rc.set_defaults(func=cmd_recompute)

    html = rsub.add_parser("html", help="write results/<run_id>/report.html")
    html.add_argument("run_dir")
    html.add_argument("--calls-per-day", type=float, default=10_000.0)
    html.set_defaults(func=cmd_html)

    push = rsub.add_parser("push", help="load results/<run_id>/points.lp into InfluxDB")
    push.add_argument("run_dir")
    add_settings(push)
    push.set_defaults(func=cmd_push)

    influx = rsub.add_parser("influx", help="percentiles and throughput per model/worker computed by InfluxDB")
    influx.add_argument("--run-id", required=True, dest="run_id_query")
    influx.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_settings(influx, skip=("run_id",))
    influx.set_defaults(func=lambda a: cmd_influx(argparse.Namespace(**{**vars(a), "run_id": a.run_id_query})))

    cmp_ = sub.add_parser("compare", help="compare two runs per model; exit 1 on a significant regression")
    cmp_.add_argument("run_a")
    cmp_.add_argument("run_b")
    cmp_.add_argument("--threshold", type=float, default=10.0, help="regression threshold, percent (default 10)")
    cmp_.add_argument("--json", default="", help="also write the comparison as JSON here")
    cmp_.set_defaults(func=cmd_compare)
