"""``influx_report``: per-model latency and throughput computed by InfluxDB.

InfluxQL (``PERCENTILE()``, ``COUNT()``, ``SUM()``) over the ``/query`` API,
which InfluxDB 1.x, 2.x (v1 compatibility, bucket mapped to a database) and
3.x all answer. InfluxQL's PERCENTILE is nearest-rank over the raw points, so
it agrees with summary.json's histograms within their ~0.1 % bucket error plus
the rank convention.
"""

from __future__ import annotations

import httpx

from loadkit.settings import Settings, redact, secrets_of
from loadkit.errors import SinkError
from loadkit.sinks.writers import _v1_auth, safe_url

__all__ = ["influx_report", "influxql", "quote_string"]

PCTS = (50, 95, 99)


def quote_string(text: str) -> str:
    """An InfluxQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _client(settings: Settings) -> httpx.Client:
    if settings.influx_db:
        headers, auth = _v1_auth(settings.influx_token)
    else:
        headers = {"Authorization": f"Token {settings.influx_token}"} if settings.influx_token else {}
        auth = None
    return httpx.Client(base_url=settings.influx_url.rstrip("/"), headers=headers, auth=auth, timeout=60, trust_env=False)


def influxql(settings: Settings, query: str, client: httpx.Client | None = None) -> list[dict]:
    """Run one InfluxQL statement; return its series (``[]`` when none). Raises SinkError."""
    db = settings.influx_db or settings.influx_bucket
    own = client is None
    client = client or _client(settings)
    try:
        r = client.post("/query", data={"db": db, "q": query, "epoch": "ns"})
    except httpx.HTTPError as exc:
        raise SinkError(f"InfluxDB at {safe_url(settings.influx_url)} is unreachable ({type(exc).__name__})") from None
    finally:
        if own:
            client.close()
    if r.status_code >= 300:
        text = redact(" ".join(r.text.split())[:200], secrets_of(settings))
        raise SinkError(f"InfluxDB query failed (HTTP {r.status_code}): {text}")
    result = r.json()["results"][0]
    if "error" in result:
        raise SinkError(f"InfluxDB query failed: {result['error']}")
    return result.get("series", [])


def _rows(series: list[dict]) -> list[tuple[dict, dict]]:
    out = []
    for s in series:
        for values in s["values"]:
            out.append((s.get("tags", {}), dict(zip(s["columns"], values))))
    return out


def _select(run_id: str) -> str:
    cols = ['COUNT("e2e_ms") AS "requests"', 'SUM("output_tokens") AS "output_tokens"']
    for metric in ("e2e_ms", "ttft_ms"):
        cols += [f'PERCENTILE("{metric}", {p}) AS "{metric}_p{p}"' for p in PCTS]
    return f'SELECT {", ".join(cols)} FROM "llm_request" WHERE "run_id" = {quote_string(run_id)}'


def _duration_s(settings: Settings, run_id: str, client: httpx.Client) -> float:
    """Run length: from the ``start`` to the ``stop`` event when both were written, else the span of the points."""
    where = f'WHERE "run_id" = {quote_string(run_id)}'
    ev = _rows(influxql(settings, f'SELECT "marker", "event" FROM "loadkit_run" {where}', client))
    starts = [v["time"] for _, v in ev if v.get("event") == "start"]
    stops = [v["time"] for _, v in ev if v.get("event") == "stop"]
    if starts and stops and max(stops) > min(starts):
        return (max(stops) - min(starts)) / 1e9
    first = _rows(influxql(settings, f'SELECT FIRST("e2e_ms") FROM "llm_request" {where}', client))
    last = _rows(influxql(settings, f'SELECT LAST("e2e_ms") FROM "llm_request" {where}', client))
    if not first or not last:
        return 0.0
    return max(0.0, (last[0][1]["time"] - first[0][1]["time"]) / 1e9)


def _entry(values: dict, ok: int, duration_s: float) -> dict:
    requests = int(values.get("requests") or 0)
    out = {"requests": requests, "successes": ok,
           "rps": round(requests / duration_s, 3) if duration_s > 0 else None,
           "output_tokens_per_s": round((values.get("output_tokens") or 0) / duration_s, 3) if duration_s > 0 else None}
    for metric in ("e2e_ms", "ttft_ms"):
        out[metric] = {f"p{p}": values.get(f"{metric}_p{p}") for p in PCTS}
    return out


def influx_report(settings: Settings, run_id: str) -> dict:
    """Per model, per worker and model, and overall: request and success counts,
    requests/s and output tokens/s over the run, and p50/p95/p99 of ``e2e_ms``
    and ``ttft_ms`` (ms), every number computed by InfluxDB. Raises SinkError."""
    if not settings.influx_url:
        raise SinkError("no InfluxDB to query; set --influx-url and --influx-db (or --influx-bucket)")
    base = _select(run_id)
    ok_where = f'SELECT COUNT("e2e_ms") FROM "llm_request" WHERE "run_id" = {quote_string(run_id)} AND "outcome" = \'ok\''
    with _client(settings) as client:
        duration_s = _duration_s(settings, run_id, client)
        report: dict = {"run_id": run_id, "duration_s": round(duration_s, 3), "models": {}, "workers": {}, "totals": {}}
        ok_model = {t["model"]: int(v["count"]) for t, v in _rows(influxql(settings, ok_where + ' GROUP BY "model"', client))}
        for tags, values in _rows(influxql(settings, base + ' GROUP BY "model"', client)):
            report["models"][tags["model"]] = _entry(values, ok_model.get(tags["model"], 0), duration_s)
        ok_mw = {(t["worker"], t["model"]): int(v["count"])
                 for t, v in _rows(influxql(settings, ok_where + ' GROUP BY "worker", "model"', client))}
        for tags, values in _rows(influxql(settings, base + ' GROUP BY "worker", "model"', client)):
            key = (tags["worker"], tags["model"])
            report["workers"].setdefault(tags["worker"], {})[tags["model"]] = _entry(values, ok_mw.get(key, 0), duration_s)
        total = _rows(influxql(settings, base, client))
        ok_total = _rows(influxql(settings, ok_where, client))
        if total:
            report["totals"] = _entry(total[0][1], int(ok_total[0][1]["count"]) if ok_total else 0, duration_s)
    if not report["models"]:
        raise SinkError(f"InfluxDB has no llm_request points for run_id {run_id!r}; check the run id and database")
    return report
