"""Recompute a run's numbers from its raw records (``records.jsonl.gz``).

Raw timestamps are saved once; every metric is a pure function of them
(:mod:`loadkit.core.metrics`). When a metric is fixed or added, re-reading the
records gives the corrected summary without re-running the load.
"""

from __future__ import annotations

import gzip
import logging
import zlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from loadkit.core.records import RequestRecord, record_from_dict
from loadkit.core.windows import done_wall_s
from loadkit.core.stats import RunStats

__all__ = ["RECORDS_FILE", "iter_record_dicts", "read_records", "summary_from_records", "run_duration_s"]

RECORDS_FILE = "records.jsonl.gz"
log = logging.getLogger("loadkit")


def record_files(run_dir: str | Path) -> list[Path]:
    """The run's records files: ``records.jsonl.gz`` of a single process and, for a
    distributed run, each worker's ``workers/<worker>/records.jsonl.gz``."""
    run_dir = Path(run_dir)
    files = [run_dir / RECORDS_FILE] if (run_dir / RECORDS_FILE).is_file() else []
    files += sorted(run_dir.glob(f"workers/*/{RECORDS_FILE}"))
    return files


def iter_record_dicts(run_dir: str | Path) -> Iterator[dict[str, Any]]:
    """Each record of the run as a dict (one per request attempt), from every records file.

    A file cut short by a crash is read up to its last complete line (and a
    warning logged), not rejected: what was written is still evidence."""
    files = record_files(run_dir)
    if not files:
        raise FileNotFoundError(f"{Path(run_dir) / RECORDS_FILE}: no records in this run folder")
    for path in files:
        yield from _iter_file(path)


def read_records(run_dir: str | Path) -> list[RequestRecord]:
    """Every record of the run as :class:`RequestRecord` (extra keys such as ``cost_usd`` dropped)."""
    return [record_from_dict(d) for d in iter_record_dicts(run_dir)]


def _wall_span_s(records: list[RequestRecord]) -> float:
    """Run length from the records: first send to last done, on the wall clock.

    Per-record perf_counter values are only comparable within one process, so
    each record's done time is anchored on its own ``started_wall_ns``."""
    if not records:
        return 0.0
    starts = [r.started_wall_ns / 1e9 for r in records]
    ends = [done_wall_s(r) for r in records]
    return max(ends) - min(starts)


def run_duration_s(run_dir: str | Path) -> float:
    """The run's duration in seconds: summary.json's ``duration_s`` or, without it, the records' span."""
    summary_path = Path(run_dir) / "summary.json"
    if summary_path.exists():
        duration = json.loads(summary_path.read_text(encoding="utf-8")).get("duration_s")
        if duration:
            return float(duration)
    return _wall_span_s(read_records(run_dir))


def _activity_logs(run_dir: Path) -> list[dict[str, Any]]:
    """One cold-start activity log per records file (per process), as the workers kept them live:
    each request noted at its first attempt's send time, cold or not."""
    from loadkit.core.coldview import ActivityLog

    logs = []
    for path in record_files(run_dir):
        log_ = ActivityLog()
        for d in _iter_file(path):
            if int(d.get("attempt", 1) or 1) == 1:
                log_.note(d.get("model", "?"), d.get("started_wall_ns", 0) / 1e9, bool(d.get("cold")))
        logs.append(log_.to_dict())
    return logs


def _iter_file(path: Path) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        try:
            for line in fh:
                line = line.strip()
                if line:
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:
                        log.warning("%s: a cut-off record line was skipped", path)
        except (EOFError, gzip.BadGzipFile, zlib.error):
            log.warning("%s ends early (the writer stopped mid-file); records up to there are used", path)


def summary_from_records(run_dir: str | Path, prices=None, slos: list | None = None) -> dict[str, Any]:
    """A fresh summary dict (the summary.json contract) computed from the raw records.

    Every per-model and total number, the windows and the cold starts across
    workers are recomputed from the records of every process (a distributed
    run's ``workers/<id>/records.jsonl.gz`` included). Run facts the records do
    not hold (run id, host, users, workers, sink, generator health, settings,
    versions) come from the existing summary.json; trust, warnings and the exit
    code are judged again by the same :func:`loadkit.core.summary.summarize`.
    ``slos``: evaluate these (else the old ``slo`` block is kept)."""
    from loadkit.core.summary import Generator, RunContext, RunSummary, summarize
    from loadkit.core.windows import WindowStats, done_wall_s

    run_dir = Path(run_dir)
    old: dict[str, Any] = {}
    if (run_dir / "summary.json").exists():
        old = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    prev = RunSummary.from_dict(old)
    records = read_records(run_dir)
    stats = RunStats(prices)
    windows = WindowStats()
    # in completion order, as a live run accounts them ("last remaining" headers are the last answer's)
    for record in sorted(records, key=done_wall_s):
        stats.add(record)
        windows.add(record)
    duration_s = float(old.get("duration_s") or _wall_span_s(records) or 1.0)
    start_s = _start_epoch_s(old, records)
    settings = old.get("settings") or {}
    # A summary written by a run (it records its settings) is judged again from its facts; warnings the
    # summary did not judge itself (e.g. a sink fallback) are kept as they were. Others keep their verdict.
    judged = bool(settings)
    extra = [w for w in old.get("warnings", []) if not judged or w.startswith(_KEPT_WARNINGS)]
    ctx = RunContext(
        run_id=old.get("run_id", run_dir.name), started_at=old.get("started_at", ""), duration_s=duration_s,
        host=old.get("host", ""), users=old.get("users", 0), shape=old.get("shape", "closed"),
        workers=old.get("workers"), preflight=old.get("preflight"), sink=old.get("sink"),
        generator=prev.generator if old.get("generator") else Generator(),
        slos=list(slos or []), slo_result=None if slos else old.get("slo"),
        trusted=None if judged else old.get("trusted", True), warnings=extra,
        activity_logs=_activity_logs(run_dir), idle_s=float(settings.get("idle_s", 300.0)),
        calls_per_day=float((old.get("projection") or {}).get("calls_per_day", settings.get("calls_per_day", 10_000.0))),
        max_error_rate=float(settings["max_error_rate"]) if judged else None,
        untrusted_exit_code=int(settings.get("untrusted_exit_code", 3)),
        command_line=old.get("command_line") or [], settings=settings, versions=old.get("versions") or {},
        windows=windows.table(start_s, None if start_s is None else start_s + duration_s),
        interrupted=bool(old.get("interrupted")), started_epoch_s=start_s, stop_signal=old.get("stop_signal"),
    )
    return summarize(stats, ctx).to_dict()


_KEPT_WARNINGS = ("InfluxDB",)


def _start_epoch_s(old: dict[str, Any], records: list[RequestRecord]) -> float | None:
    """The run's start on the wall clock: summary.json's ``started_epoch_s`` (or its windows' origin),
    else the first send."""
    if old.get("started_epoch_s"):
        return float(old["started_epoch_s"])
    return min((r.started_wall_ns for r in records), default=0) / 1e9 or None
