"""Smoke test of bench/overhead.py: a tiny run produces every column, positive, for each configuration.

Not a benchmark (the numbers are not checked against goals): it pins down that
the script runs end to end on this machine and writes the JSON the closing
notes are built from.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMON_COLUMNS = ("requests_per_s", "generator_cpu_percent", "sim_cpu_percent", "requests_per_generator_cpu_s",
                  "ratio_to_fasthttp", "ratio_to_fasthttp_per_cpu")
STREAM_COLUMNS = ("streams_per_s", "sse_token_events_per_s", "sse_events_per_s")


def test_overhead_bench_tiny_run_writes_every_column_positive(tmp_path: Path) -> None:
    out = tmp_path / "overhead.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "overhead.py"), "--seconds", "2", "--warmup-s", "0.5", "--repeats", "1",
         "--configs", "fasthttp,loadkit-fasthttp-stream", "--skip-timing", "--skip-profile", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads(out.read_text())
    rows = data["throughput"]
    # the stream config's FastHttpUser baseline is added so its ratio exists
    assert set(rows) == {"fasthttp", "fasthttp-stream", "loadkit-fasthttp-stream"}
    for name, row in rows.items():
        columns = COMMON_COLUMNS + (STREAM_COLUMNS if row["stream"] else ())
        for column in columns:
            assert row[column] > 0, (name, column, row[column])
        assert all(run["non_200"] == 0 for run in row["runs"]), name
    assert rows["fasthttp"]["ratio_to_fasthttp"] == 1.0
    # every stream carries its 60 token events plus role, finish, usage and [DONE]
    assert data["non_token_sse_events_per_stream"] == 4
    stream = rows["fasthttp-stream"]
    assert stream["sse_events_per_s"] > stream["sse_token_events_per_s"] > stream["streams_per_s"]
    assert len(data["load_average_at_start"]) == 3
    assert "config" in proc.stdout and "loadkit-fasthttp-stream" in proc.stdout
