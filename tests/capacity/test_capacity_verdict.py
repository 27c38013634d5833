"""Capacity says what it found: a limit, "limit not reached (>= X)", no passing step (exit 1), or a
generator that fell behind its schedule (the trust rule of `loadkit run`, exit 3)."""

from __future__ import annotations

import json
import math

from loadkit.cli.capacity import main as capacity_main
from loadkit.core.records import RequestRecord
from loadkit.core.trust import MAX_SCHEDULE_LAG_P99_MS
from loadkit.studies.capacity import CapacitySettings, StepMeasure, judge_step
from loadkit.studies.capacity.runner import GENERATOR_METRIC, verdict

FAST_SIM = "--profile fixed --fixed ttft_ms=5,itl_ms=1,tokens=2 --cold-start-ms 0 --error-rate 0"


def _records(lag_ms: float, n: int = 40) -> list[RequestRecord]:
    out = []
    for i in range(n):
        intended = 100.0 + i * 0.05
        sent = intended + lag_ms / 1000.0
        out.append(RequestRecord(model="m", intended_at=intended, sent_at=sent, headers_at=sent + 0.004,
                                 first_event_at=sent + 0.005, first_token_at=sent + 0.005, done_at=sent + 0.010,
                                 token_times=[sent + 0.005, sent + 0.006], status=200, output_tokens=2,
                                 input_tokens=3, usage_reported=True))
    return out


def _judge(lag_ms: float) -> dict:
    measure = StepMeasure("m", "rate", 20.0, 2.0, 0.0, 2.0, records=_records(lag_ms))
    settings = CapacitySettings(models=("m",), max_schedule_lag_p99_ms=MAX_SCHEDULE_LAG_P99_MS)
    return judge_step(measure, [], settings)[0]


def test_a_step_whose_schedule_lag_p99_passes_the_run_threshold_is_not_trusted_and_fails():
    row = _judge(lag_ms=40.0)
    assert row["trusted"] is False and row["passed"] is False
    assert [f["metric"] for f in row["failed"]] == [GENERATOR_METRIC]
    assert row["failed"][0]["limit"] == MAX_SCHEDULE_LAG_P99_MS == 10.0
    assert 39.0 <= row["failed"][0]["value"] <= 41.0


def test_an_untrusted_step_only_marked_still_passes_on_its_slo():
    measure = StepMeasure("m", "rate", 20.0, 2.0, 0.0, 2.0, records=_records(40.0))
    settings = CapacitySettings(models=("m",), max_schedule_lag_p99_ms=MAX_SCHEDULE_LAG_P99_MS, untrusted_steps="mark")
    row = judge_step(measure, [], settings)[0]
    assert row["trusted"] is False and row["passed"] is True and row["failed"] == []


def test_a_step_on_schedule_is_trusted_and_passes():
    row = _judge(lag_ms=2.0)
    assert row["trusted"] is True and row["passed"] is True and row["failed"] == []


def test_verdicts_name_each_outcome():
    best, breaking = {"level": 20.0}, {"level": 30.0}
    assert verdict(best, None, "none") == "limit_not_reached"
    assert verdict(best, breaking, "latency") == "limit_found"
    assert verdict(None, breaking, "errors") == "no_passing_step"
    assert verdict(best, breaking, "generator") == "generator_limited"


def test_no_failing_step_reports_limit_not_reached_with_the_floor(tmp_path, capsys):
    code = capacity_main(["--models", "gpt-4o-mini", "--slo-check", "e2e_ms.p95 < 5000", "--start", "2",
                          "--max", "4", "--step", "2", "--step-s", "1", "--warmup-s", "0.2", "--search", "linear",
                          # checks the verdict, not the generator: a late thread on a busy box must not fail it
                          "--untrusted-steps", "mark", "--out", str(tmp_path), "--sim-args", FAST_SIM])
    out = capsys.readouterr().out
    assert code == 0, out
    doc = json.loads((tmp_path / "capacity.json").read_text())["models"]["gpt-4o-mini"]
    assert doc["verdict"] == "limit_not_reached" and doc["breaking_step"] is None
    assert doc["max_sustainable"]["level"] == 4.0 and doc["highest_level_tried"] == 4.0
    assert "gpt-4o-mini: limit not reached (>= 4 req/s" in out
    assert "max sustainable" not in out
    assert "limit not reached" in (tmp_path / "capacity.html").read_text()


def test_a_first_step_that_fails_exits_1_and_says_why(tmp_path, capsys):
    code = capacity_main(["--models", "gpt-4o-mini", "--start", "4", "--max", "8", "--step", "4",
                          "--step-s", "1", "--warmup-s", "0.2", "--search", "linear", "--untrusted-steps", "mark",
                          "--out", str(tmp_path),
                          "--sim-args", FAST_SIM + " --error-every 2"])
    out = capsys.readouterr().out
    assert code == 1, out
    doc = json.loads((tmp_path / "capacity.json").read_text())["models"]["gpt-4o-mini"]
    assert doc["verdict"] == "no_passing_step" and doc["max_sustainable"] is None
    assert "gpt-4o-mini: no step passed: the first, at 4 req/s, failed on error_share = " in out
    assert "max sustainable -" not in out


def test_workers_needed_come_from_the_calibrated_users_per_process(tmp_path, capsys):
    calibration = tmp_path / "calibration.json"
    calibration.write_text(json.dumps({"max_users_per_process": 2}))
    code = capacity_main(["--models", "gpt-4o-mini", "--start", "2", "--max", "2", "--step", "2", "--step-s", "1",
                          "--warmup-s", "0.2", "--search", "linear", "--untrusted-steps", "mark",
                          "--calls-per-day", "8640000", "--peak-ratio", "1", "--worker-margin", "0",
                          "--calibration", str(calibration), "--out", str(tmp_path / "out"), "--sim-args", FAST_SIM])
    assert code == 0, capsys.readouterr().out
    doc = json.loads((tmp_path / "out" / "capacity.json").read_text())
    plan = doc["projection"]["models"]["gpt-4o-mini"]
    assert doc["generator"]["calibrated_users_per_process"] == 2
    assert plan["workers_basis"] == "calibrated concurrency" and plan["users_per_process"] == 2
    # 100 req/s at the peak x the measured p95 e2e = the concurrency to hold; 2 users per process
    assert plan["workers_needed"] == math.ceil(plan["concurrency_p95"] / 2 - 1e-9)


def test_a_missing_calibration_file_is_one_clear_line_and_exit_2(tmp_path, capsys):
    code = capacity_main(["--models", "gpt-4o-mini", "--calibration", str(tmp_path / "nope.json"),
                          "--out", str(tmp_path), "--sim-args", FAST_SIM])
    err = capsys.readouterr().err
    assert code == 2
    assert "no such file; run `loadkit calibrate --out" in err
