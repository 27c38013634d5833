"""Where request records go: InfluxDB (2/3 API or 1.x API) or a line-protocol
file, always with ``records.jsonl.gz`` beside them.

The request path only calls :meth:`Sink.submit` (an append to a bounded
deque); formatting and I/O happen in background threads (greenlets under
Locust). See DESIGN.md "InfluxDB schema".
"""

from __future__ import annotations

from pathlib import Path

from loadkit.settings import Settings
from loadkit.sinks.preflight import check_influx
from loadkit.sinks.query import influx_report
from loadkit.sinks.replay import push_file
from loadkit.sinks.sink import Sink
from loadkit.sinks.writers import make_writer

__all__ = ["Sink", "make_sink", "check_influx", "push_file", "influx_report"]


def make_sink(settings: Settings, run_id: str, results_dir: Path, worker: str, run_io=None) -> Sink:
    """A Sink for one run and worker: points to InfluxDB when ``influx_url`` is
    set (v2 with a bucket, 1.x with a database), else to ``results_dir/points.lp``;
    records to ``results_dir/records.jsonl.gz``. ``results_dir`` is the run's
    folder (``results/<run_id>``). ``run_io``: see :class:`Sink`. Call ``start()`` before submitting."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    writer = make_writer(settings, results_dir / "points.lp")
    return Sink(writer, results_dir / "records.jsonl.gz", run_id=run_id, worker=worker,
                buffer_points=settings.sink_buffer, run_io=run_io)
