"""Every submitted attempt arrives exactly once, over the 1.x API, the v2 API and the file,
and InfluxDB's own percentiles agree with numpy's on the same records."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from loadkit.settings import Settings
from loadkit.core.metrics import e2e_ms, ttft_ms
from loadkit.sinks import influx_report, make_sink, push_file
from tests.support.servers import influx, synthetic_records, victoria  # noqa: F401  (fixtures)

N = 20_000


@pytest.fixture(scope="module")
def records():
    return synthetic_records(N)


def _drive(settings, records, run_dir, run_id="run-a", worker="w1"):
    sink = make_sink(settings, run_id, run_dir, worker)
    sink.start()
    for i, r in enumerate(records):
        sink.submit(r, 0.0001 * (i % 3))
    sink.stop(timeout_s=30)
    return sink


def test_every_attempt_is_one_point_over_the_v1_api(influx, records, tmp_path):
    influx.create_db("v1count")
    settings = Settings(influx_url=influx.url, influx_db="v1count")
    sink = _drive(settings, records, tmp_path / "run-a")
    stats = sink.stats()
    assert (stats["written"], stats["dropped"], stats["target"]) == (N, 0, "influx-v1")
    assert influx.count("v1count") == N


def test_every_attempt_is_one_point_over_the_v2_api(victoria, records, tmp_path):
    settings = Settings(influx_url=victoria.url, influx_bucket="llm", influx_org="lk", influx_token="t0ken-value")
    sink = _drive(settings, records, tmp_path / "run-v2", run_id="run-v2")
    stats = sink.stats()
    assert (stats["written"], stats["dropped"], stats["target"]) == (N, 0, "influx-v2")
    assert "t0ken" not in json.dumps(stats)
    series = victoria.samples("llm_request_attempt")
    assert sum(len(ts) for _, ts in series) == N
    assert {labels["run_id"] for labels, _ in series} == {"run-v2"}


def test_file_sink_writes_points_and_records_and_push_loads_them(influx, records, tmp_path):
    run_dir = tmp_path / "run-f"
    sink = _drive(Settings(), records[:5000], run_dir, run_id="run-f")
    assert sink.stats()["target"] == "file"
    lines = (run_dir / "points.lp").read_text().splitlines()
    assert len(lines) == 5000 and all(line.startswith("llm_request,") for line in lines)
    with gzip.open(run_dir / "records.jsonl.gz", "rt") as f:
        rows = [json.loads(line) for line in f]
    assert len(rows) == 5000
    assert rows[1]["cost_usd"] == pytest.approx(0.0001) and "content" not in rows[1]
    assert rows[0]["model"] == records[0].model and rows[0]["started_wall_ns"] == records[0].started_wall_ns

    influx.create_db("pushed")
    settings = Settings(influx_url=influx.url, influx_db="pushed")
    assert push_file(run_dir, settings) == 5000
    assert push_file(run_dir / "points.lp", settings) == 5000  # same timestamps: a re-push overwrites
    assert influx.count("pushed") == 5000


def test_records_file_is_written_whatever_the_target(victoria, records, tmp_path):
    settings = Settings(influx_url=victoria.url, influx_bucket="llm", influx_org="lk")
    _drive(settings, records[:300], tmp_path / "run-r", run_id="run-r")
    with gzip.open(tmp_path / "run-r" / "records.jsonl.gz", "rt") as f:
        assert sum(1 for _ in f) == 300
    assert not (tmp_path / "run-r" / "points.lp").exists()


def test_influxql_percentiles_per_model_match_numpy(influx, records, tmp_path):
    influx.create_db("pct")
    settings = Settings(influx_url=influx.url, influx_db="pct")
    _drive(settings, records, tmp_path / "run-p", run_id="run-p")
    report = influx_report(settings, "run-p")
    for model in {r.model for r in records}:
        mine = [r for r in records if r.model == model]
        got = report["models"][model]
        assert got["requests"] == len(mine)
        assert got["successes"] == sum(r.outcome == "ok" for r in mine)
        for metric, fn in (("e2e_ms", e2e_ms), ("ttft_ms", ttft_ms)):
            values = np.array([fn(r) for r in mine])
            for p in (50, 95, 99):
                expected = float(np.percentile(values, p))
                assert got[metric][f"p{p}"] == pytest.approx(expected, rel=0.02), (model, metric, p)
    assert report["workers"]["w1"].keys() == report["models"].keys()
    assert report["totals"]["requests"] == N
