"""``push_file``: load a saved ``points.lp`` into InfluxDB (``loadkit report push``)."""

from __future__ import annotations

import time
from pathlib import Path

from loadkit.settings import Settings
from loadkit.errors import SinkError
from loadkit.sinks.writers import RetryableWriteError, make_writer

__all__ = ["push_file"]

BATCH = 5000


def push_file(path: str | Path, settings: Settings, retries: int = 5) -> int:
    """Write every line of ``path`` (a points.lp file, or a run folder holding one)
    to the InfluxDB in ``settings``; return the number of points written.

    Points keep their timestamps, so pushing the same file twice stores each
    point once."""
    path = Path(path)
    if path.is_dir():
        # A distributed run keeps one points.lp per worker (workers/<worker>/points.lp).
        files = [p for p in [path / "points.lp", *sorted(path.glob("workers/*/points.lp"))] if p.is_file()]
        if not files:
            raise SinkError(f"{path}: no points.lp in this run folder; give results/<run_id> or a points.lp file")
    else:
        files = [path]
    if not settings.influx_url:
        raise SinkError("no InfluxDB to push to; set --influx-url (and --influx-db or --influx-bucket)")
    if not files[0].is_file():
        raise SinkError(f"{path}: no such file; give results/<run_id> or its points.lp")
    writer = make_writer(settings, files[0])
    written = 0
    try:
        for one in files:
            with open(one, encoding="utf-8") as f:
                batch: list[str] = []
                for line in f:
                    line = line.rstrip("\n")
                    if line and not line.startswith("#"):
                        batch.append(line)
                    if len(batch) >= BATCH:
                        written += _write(writer, batch, retries)
                        batch = []
                if batch:
                    written += _write(writer, batch, retries)
    finally:
        writer.close()
    return written


def _write(writer, batch: list[str], retries: int) -> int:
    for attempt in range(retries + 1):
        try:
            writer.write(batch)
            return len(batch)
        except RetryableWriteError:
            if attempt == retries:
                raise
            time.sleep(min(4.0, 0.25 * 2**attempt))
    return 0
