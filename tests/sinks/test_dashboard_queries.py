"""Every Grafana panel, variable and annotation query (InfluxQL) runs against a real
influxd 1.x holding data written by the sink, and returns the series it should."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from loadkit.settings import Settings
from loadkit.sinks import make_sink
from tests.support.servers import influx, synthetic_records  # noqa: F401  (fixture)

DASHBOARD = Path(__file__).resolve().parents[2] / "docker" / "grafana" / "dashboards" / "loadkit.json"
RUN_ID = "dash-run"
MODELS = ("claude-4-haiku", "gpt-4o-mini")
WORKERS = ("w1", "w2")
SPAN_S = 60

# panel title -> the tag whose values must all appear as series
EXPECTED_SERIES = {
    "TTFT p50/p95/p99 per model (warm)": ("model", set(MODELS)),
    "E2E latency p50/p95/p99 per model (warm)": ("model", set(MODELS)),
    "Requests/s per model": ("model", set(MODELS)),
    "Requests/s per worker": ("worker", set(WORKERS)),
    "Output tokens/s per model": ("model", set(MODELS)),
    "Output tokens/s per worker": ("worker", set(WORKERS)),
    "429 responses/s per model": ("model", {"claude-4-haiku"}),
    "Throttled time per model (p95, total)": ("model", set(MODELS)),
    "Cold vs warm TTFT p95": ("cold", {"true", "false"}),
    "Error outcomes/s": ("outcome", {"rate_limited"}),
    "Schedule lag p99 (generator health)": ("worker", set(WORKERS)),
    "Cost per model (USD per interval)": ("model", set(MODELS)),
    "Sink health: buffered and dropped points": ("worker", set(WORKERS)),
    "Workers: users, in flight, CPU %": ("worker", set(WORKERS)),
}


@pytest.fixture(scope="module")
def dashboard():
    return json.loads(DASHBOARD.read_text())


@pytest.fixture(scope="module")
def loaded(influx, tmp_path_factory):
    influx.create_db("dash")
    settings = Settings(influx_url=influx.url, influx_db="dash")
    now = time.time_ns()
    start_ns = now - SPAN_S * 1_000_000_000
    records = synthetic_records(4000, models=MODELS)
    for i, r in enumerate(records):
        r.started_wall_ns = start_ns + i * (SPAN_S * 1_000_000_000 // len(records))
        if i % 20 in (0, 1):  # a retried request of each model waited on a 429
            r.throttled_s = 0.25
    for worker in WORKERS:
        sink = make_sink(settings, RUN_ID, tmp_path_factory.mktemp(worker), worker)
        sink.start()
        sink.submit_run_event("start", {"users": 10})
        for r in records[WORKERS.index(worker)::2]:
            sink.submit(r, 0.0002)
        for _ in range(3):
            sink.submit_worker({"users": 10, "in_flight": 4, "rps": 50.0, "cpu_percent": 42.5})
        sink.submit_run_event("stop", {"users": 0})
        sink.stop()
        assert sink.stats()["dropped"] == 0
    return {"from_ms": start_ns // 1_000_000 - 1000, "to_ms": now // 1_000_000 + 60_000}


def _render(query: str, window: dict) -> str:
    """What Grafana sends: macros and variables substituted (every variable at "All")."""
    interval_s = 10
    q = query.replace("$timeFilter", f"time >= {window['from_ms']}ms and time <= {window['to_ms']}ms")
    q = q.replace("$__interval_ms", str(interval_s * 1000)).replace("$__interval", f"{interval_s}s")
    q = q.replace("/^$run_id$/", f"/^{re.escape(RUN_ID)}$/")
    q = re.sub(r"/\^\$(model|worker)\$/", "/^.*$/", q)
    assert "$" not in q.replace("$/", ""), q
    return q


def _series(influx, query):
    res = influx.query(query, db="dash")["results"][0]
    assert "error" not in res, (query, res)
    return res.get("series", [])


def _panels(dashboard):
    return [(p["title"], t["query"]) for p in dashboard["panels"] for t in p["targets"]]


def test_every_panel_has_an_expectation(dashboard):
    assert {title for title, _ in _panels(dashboard)} == set(EXPECTED_SERIES)


@pytest.mark.parametrize("title", sorted(EXPECTED_SERIES))
def test_panel_query_returns_the_expected_series(influx, loaded, dashboard, title):
    query = dict(_panels(dashboard))[title]
    series = _series(influx, _render(query, loaded))
    tag, expected = EXPECTED_SERIES[title]
    assert {s["tags"][tag] for s in series} == expected
    for s in series:
        values = [v for row in s["values"] for v in row[1:] if v is not None]
        assert values and any(v != 0 for v in values), (title, s["tags"])


def test_template_variables_list_the_run_models_and_workers(influx, loaded, dashboard):
    found = {}
    for var in dashboard["templating"]["list"]:
        series = _series(influx, _render(var["query"], loaded))
        found[var["name"]] = {row[1] for s in series for row in s["values"]}
    assert found == {"run_id": {RUN_ID}, "model": set(MODELS), "worker": set(WORKERS)}


def test_run_annotations_show_start_and_stop(influx, loaded, dashboard):
    (annotation,) = dashboard["annotations"]["list"]
    series = _series(influx, _render(annotation["query"], loaded))
    columns = series[0]["columns"]
    events = sorted(row[columns.index("event")] for row in series[0]["values"])
    assert events == ["start", "start", "stop", "stop"]


def test_datasource_is_influxql(dashboard):
    ds = (DASHBOARD.parents[1] / "provisioning" / "datasources" / "influxdb.yaml").read_text()
    assert "version: InfluxQL" in ds and "uid: loadkit-influxql" in ds
    assert {p["datasource"]["uid"] for p in dashboard["panels"]} == {"loadkit-influxql"}
