"""Line protocol: escaping, omitted fields, unique timestamps, and a real round-trip through influxd 1.x."""

from __future__ import annotations

import httpx

import loadkit.sinks
from loadkit.core.records import RequestRecord
from loadkit.sinks.lineprotocol import (
    RequestPointFormatter,
    UniqueClock,
    escape_field_string,
    escape_measurement,
    escape_tag,
    format_fields,
    format_point,
)
from tests.support.servers import influx  # noqa: F401  (fixture)


def test_public_api_is_what_the_docs_name():
    assert loadkit.sinks.__all__ == ["Sink", "make_sink", "check_influx", "push_file", "influx_report"]


def test_tag_escaping_covers_commas_spaces_and_equals():
    assert escape_tag("a b,c=d") == "a\\ b\\,c\\=d"
    assert escape_measurement("m x,y=z") == "m\\ x\\,y=z"
    assert escape_field_string('say "hi" \\ now') == '"say \\"hi\\" \\\\ now"'


def test_fields_leave_out_none_nan_and_infinity_and_mark_ints():
    text = format_fields({"a": 1, "b": None, "c": float("nan"), "d": float("inf"), "n": 3, "s": "x y", "t": True},
                         ints=frozenset({"n"}))
    assert text == 'a=1.0,n=3i,s="x y",t=true'


def test_empty_tag_values_are_left_out_and_tags_sorted():
    assert format_point("m", {"z": "1", "a": "", "b": "2"}, "f=1.0", 5) == "m,b=2,z=1 f=1.0 5"


def test_unique_clock_never_repeats_or_goes_back():
    clock = UniqueClock()
    assert [clock.next(t) for t in (10, 10, 5, 20, 20)] == [10, 11, 12, 20, 21]


def _record(**kw) -> RequestRecord:
    base = dict(model="m", sent_at=1.0, intended_at=0.999, done_at=1.5, started_wall_ns=1_000, status=200)
    base.update(kw)
    return RequestRecord(**base)


def test_request_point_has_design_fields_and_omits_missing_ones():
    line = RequestPointFormatter("run", "w1").format(_record(), None)
    tags, fields, ts = line.split(" ")
    assert tags == "llm_request,category=generic,cold=false,model=m,outcome=ok,run_id=run,stream=true,target=gateway,worker=w1"
    names = {f.split("=")[0] for f in fields.split(",")}
    assert names == {"e2e_ms", "e2e_from_intended_ms", "status", "attempt", "throttled_ms", "input_tokens",
                     "output_tokens", "schedule_lag_ms"}
    assert "status=200i" in fields and "attempt=1i" in fields
    assert ts == "1000"


def test_request_points_with_equal_start_times_get_distinct_timestamps():
    fmt = RequestPointFormatter("run", "w1")
    stamps = [int(fmt.format(_record(), 0.1).rsplit(" ", 1)[1]) for _ in range(5)]
    assert stamps == [1000, 1001, 1002, 1003, 1004]


def test_no_prompt_or_content_reaches_a_point():
    line = RequestPointFormatter("run", "w1").format(_record(content="SECRET PROMPT", error_key="k"), 0.1)
    assert "SECRET" not in line


def test_awkward_tags_round_trip_through_real_influxd(influx):
    influx.create_db("escaping")
    models = ["my model", "a,b", "k=v", "модель-東京", "mixed ,= all", "emoji 🚀"]
    fmt = RequestPointFormatter("run with space,comma=eq", "worker 1")
    lines = [fmt.format(_record(model=m, category=f"cat {m}", started_wall_ns=10_000 + i), 0.5)
             for i, m in enumerate(models)]
    r = httpx.post(influx.url + "/write", params={"db": "escaping", "precision": "ns"},
                   content="\n".join(lines).encode())
    assert r.status_code == 204, r.text
    res = influx.query('SELECT "e2e_ms", "model", "category", "run_id", "worker" FROM "llm_request"', db="escaping")
    rows = res["results"][0]["series"][0]["values"]
    assert sorted(row[2] for row in rows) == sorted(models)
    assert sorted(row[3] for row in rows) == sorted(f"cat {m}" for m in models)
    assert {row[4] for row in rows} == {"run with space,comma=eq"}
    assert {row[5] for row in rows} == {"worker 1"}
    assert all(abs(row[1] - 500.0) < 1e-6 for row in rows)
