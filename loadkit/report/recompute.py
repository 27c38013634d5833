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
    ends = [r.started_wall_ns / 1e9 + (r.done_at - r.sent_at) for r in records]
    return max(ends) - min(starts)


def run_duration_s(run_dir: str | Path) -> float:
    """The run's duration in seconds: summary.json's ``duration_s`` or, without it, the records' span."""
    summary_path = Path(run_dir) / "summary.json"
    if summary_path.exists():
        duration = json.loads(summary_path.read_text(encoding="utf-8")).get("duration_s")
        if duration:
            return float(duration)
    return _wall_span_s(read_records(run_dir))


def summary_from_records(run_dir: str | Path, prices=None) -> dict[str, Any]:
    """A fresh summary dict (the summary.json contract) computed from the raw records.

    Run facts the records do not hold (run id, host, users, sink, warnings,
    trusted, …) are taken from the existing summary.json when there is one;
    every per-model and total number is recomputed. The ``slo`` block is left
    as it was; re-evaluate with :func:`loadkit.core.slo.evaluate`."""
    from loadkit.core.cold import with_preflight_cold
    from loadkit.core.summary import build_summary

    run_dir = Path(run_dir)
    old: dict[str, Any] = {}
    if (run_dir / "summary.json").exists():
        old = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    records = read_records(run_dir)
    stats = RunStats(prices)
    for record in sorted(records, key=lambda r: r.started_wall_ns):
        stats.add(record)
    stats = with_preflight_cold(stats, old.get("preflight"))  # the preflight's cold sample, as the live summary
    duration_s = float(old.get("duration_s") or _wall_span_s(records) or 1.0)
    kwargs = {key: old[key] for key in ("workers", "trusted", "warnings", "preflight", "sink", "slo", "shape")
              if key in old}
    return build_summary(
        stats,
        run_id=old.get("run_id", run_dir.name),
        started_at=old.get("started_at", ""),
        duration_s=duration_s,
        host=old.get("host", ""),
        users=old.get("users", 0),
        **kwargs,
    )
