"""`loadkit calibrate`: measured-minus-configured timing errors, a raw-socket simulator probe, the real command."""

from __future__ import annotations

import json

import pytest

from loadkit.cli.calibrate import HEADER, levels_up_to, main as calibrate_main
from loadkit.core.records import RequestRecord
from loadkit.studies.calibrate import FixedTimings, own_ttft_errors, raw_socket_ttft_ms, timing_errors
from tests.support.simproc import start_simulator

TIMINGS = FixedTimings(ttft_ms=20.0, itl_ms=2.0, tokens=4)


def _record(sent: float, late_ms: float) -> RequestRecord:
    late = late_ms / 1000.0
    first = sent + 0.020 + late
    tokens = [first, first + 0.002, first + 0.004 + late, first + 0.006 + late]
    return RequestRecord(model="m", sent_at=sent, first_token_at=first, token_times=tokens, done_at=tokens[-1])


def test_timing_errors_are_measured_minus_configured_per_metric():
    records = [_record(100.0 + i, late_ms=0.5 * (i % 3)) for i in range(9)]
    errors = timing_errors(records, TIMINGS, edge_s=0.0)
    assert errors["ttft"]["count"] == 9 and errors["itl"]["count"] == 27
    assert errors["ttft"]["p50"] == pytest.approx(0.5) and errors["ttft"]["max"] == pytest.approx(1.0)
    assert errors["itl"]["max"] == pytest.approx(1.0)  # one late gap per request, 0..1 ms
    assert errors["e2e"]["max"] == pytest.approx(2.0)  # ttft late + one gap late


def test_timing_errors_leave_out_cold_and_failed_requests_and_the_edges():
    records = [_record(100.0 + i, 0.0) for i in range(10)]
    records[4].cold = True
    records[5].outcome = "timeout"
    errors = timing_errors(records, TIMINGS, edge_s=1.5)
    # sent at 100..109, done ~20 ms later: edges keep 102..107, minus the cold and the failed one
    assert errors["ttft"]["count"] == 4


def test_own_errors_match_each_request_to_the_stream_the_simulator_read_next():
    # two requests 0.2 ms apart, one never read (the simulator logged nothing for it within 5 ms)
    pairs = [(10.0000, 10.0215), (10.0002, 10.0230), (20.0, 20.030)]
    sends = [(10.0001, 10.0210), (10.0003, 10.0220), (20.009, 20.029)]
    out = own_ttft_errors(pairs, sends)
    assert out["matched"] == 2
    assert out["own_ms"]["p50"] == pytest.approx(0.75) and out["own_ms"]["max"] == pytest.approx(1.0)
    assert out["send_to_read_ms"]["max"] == pytest.approx(0.1)
    assert out["simulator_ttft_ms"]["p50"] == pytest.approx(21.3)  # (20.9 + 21.7) / 2


def test_levels_double_up_to_the_planned_concurrency():
    assert levels_up_to(1) == [1]
    assert levels_up_to(16) == [1, 2, 4, 8, 16]
    assert levels_up_to(12) == [1, 2, 4, 8, 12]


def test_raw_socket_probe_sees_the_simulators_fixed_ttft():
    with start_simulator("--models", "gpt-4o-mini", "--profile", "fixed", "--fixed", "ttft_ms=20,itl_ms=2,tokens=4",
                         "--cold-start-ms", "0", "--error-rate", "0") as sim:
        values = [raw_socket_ttft_ms(sim.base_url, "gpt-4o-mini") for _ in range(5)]
    assert None not in values
    # the first token cannot come before the configured 20 ms; loopback and a busy box add a few ms at most
    assert all(19.9 <= v < 40.0 for v in values), values


def test_calibrate_command_prints_the_error_table_and_writes_calibration_json(tmp_path, capsys):
    out = tmp_path / "calibration.json"
    code = calibrate_main(["--levels", "1", "--run-time-s", "4", "--fixed", "ttft_ms=20,itl_ms=2,tokens=8",
                           "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert HEADER in printed and "wrote " in printed
    doc = json.loads(out.read_text())
    level = doc["levels"][0]
    assert level["users"] == 1 and level["requests"] > 10
    ttft = level["generator_error_ms"]["ttft"]
    assert ttft["count"] > 5, level  # 4 s at ~19 req/s, less the first and last second
    assert ttft["p50"] > -0.5  # a generator never sees a token before it is sent
    assert level["simulator_ttft_error_ms"]["count"] > 5
    assert doc["max_users_per_process"] in (None, 1) and (doc["max_users_per_process"] == 1) == level["passed"]
    # the generator's own error, from the simulator's send log: nearly every windowed request matched, the
    # stamp never before the simulator's write (kernel receive times: loopback transit, tens of us, at the median)
    own = level["generator_own_ttft_error_ms"]
    assert level["judged_by"] == "own" and level["own_matched"] >= 0.9 * ttft["count"], level
    assert -0.05 <= own["p50"] < 1.0, own
    assert level["simulator_own_ttft_ms"]["p50"] >= 20.0  # the simulator never writes the first token early
    assert level["passed"] == (own["p99"] < 1.0)
    assert "own p50" in printed


def test_calibrate_rejects_bad_fixed_timings_before_any_load(capsys):
    assert calibrate_main(["--fixed", "ttft=20"]) == 2
    assert "invalid --fixed entry 'ttft=20'" in capsys.readouterr().err
