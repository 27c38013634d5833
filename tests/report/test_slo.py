"""SLO files, flags, evaluation and exit codes."""

from __future__ import annotations

import copy
import textwrap

import pytest

from loadkit.errors import SLOError
from loadkit.core.slo import SLO, evaluate, exit_code, load_slos, parse_slo_flag


def _summary() -> dict:
    def block(ttft_p95, e2e_p99, success_rate, requests, r429):
        return {
            "requests": requests, "successes": round(requests * success_rate), "success_rate": success_rate,
            "output_tokens_per_s": 80.0, "cost_per_success_usd": 0.0004,
            "ttft_ms": {"p50": ttft_p95 / 2, "p90": None, "p95": ttft_p95, "p99": None, "max": None,
                        "mean": None, "count": requests},
            "e2e_ms": {"p50": 600.0, "p90": 900.0, "p95": 1000.0, "p99": e2e_p99, "max": 2000.0,
                       "mean": 650.0, "count": requests},
            "rate_limit": {"responses_429": r429, "retried_ok": r429, "gave_up": 0, "retries": r429},
            "cold_start": {"count": 1, "ttft_ms": {"p95": None}},
            "task_success": {"code": 0.8},
        }

    return {
        "trusted": True,
        "workers": {"count": 2},
        "models": {"gpt-4o-mini": block(400.0, 1500.0, 0.998, 1000, 5),
                   "claude-4-haiku": block(700.0, 2500.0, 0.990, 1000, 30)},
        "totals": block(600.0, 2400.0, 0.994, 2000, 35),
        "sink": {"written": 2000, "dropped": 0, "buffered_peak": 10},
    }


def _write(tmp_path, text: str):
    path = tmp_path / "slo.toml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


# --- every operator, pass and fail -----------------------------------------

@pytest.mark.parametrize("op, limit, passes", [
    ("<", 601, True), ("<", 600, False),
    ("<=", 600, True), ("<=", 599.9, False),
    (">", 599, True), (">", 600, False),
    (">=", 600, True), (">=", 600.1, False),
    ("==", 600, True), ("==", 601, False),
    ("!=", 601, True), ("!=", 600, False),
])
def test_every_operator_on_the_totals(op, limit, passes):
    result = evaluate([SLO("ttft_ms.p95", op, float(limit))], _summary())
    assert result["passed"] is passes
    assert result["checks"] == [{"name": f"overall: ttft_ms.p95 {op} {limit:g}", "limit": float(limit),
                                 "value": 600.0, "passed": passes}]


def test_per_model_slo_reads_that_models_block():
    slos = [SLO("success_rate", ">=", 0.997, model="gpt-4o-mini"),
            SLO("success_rate", ">=", 0.997, model="claude-4-haiku")]
    checks = evaluate(slos, _summary())["checks"]
    assert [(c["value"], c["passed"]) for c in checks] == [(0.998, True), (0.99, False)]
    assert checks[1]["name"] == "claude-4-haiku: success_rate >= 0.997"


def test_star_model_gives_one_check_per_model():
    result = evaluate([SLO("ttft_ms.p95", "<", 500.0, model="*")], _summary())
    assert [(c["name"], c["passed"]) for c in result["checks"]] == [
        ("claude-4-haiku: ttft_ms.p95 < 500", False), ("gpt-4o-mini: ttft_ms.p95 < 500", True)]
    assert result["passed"] is False


def test_ratio_metric_divides_two_paths():
    result = evaluate([SLO("rate_limit.responses_429 / requests", "<", 0.01, model="*")], _summary())
    assert [c["value"] for c in result["checks"]] == [0.03, 0.005]
    assert [c["passed"] for c in result["checks"]] == [False, True]


def test_top_level_paths_and_booleans():
    summary = _summary()
    slos = [SLO("sink.dropped", "==", 0.0), SLO("trusted", "==", True)]
    assert evaluate(slos, summary)["passed"] is True
    summary["sink"]["dropped"] = 3
    summary["trusted"] = False
    checks = evaluate(slos, summary)["checks"]
    assert [(c["name"], c["value"], c["passed"]) for c in checks] == [
        ("sink.dropped == 0", 3, False), ("trusted == true", False, False)]


def test_missing_or_null_metric_fails_with_null_value():
    summary = _summary()
    checks = evaluate([SLO("ttft_ms.p99", "<", 1000.0), SLO("cold_start.ttft_ms.p95", "<", 3000.0),
                       SLO("task_success.math", ">=", 0.7)], summary)["checks"]
    assert [(c["value"], c["passed"]) for c in checks] == [(None, False)] * 3


def test_ratio_with_zero_denominator_fails():
    summary = _summary()
    summary["totals"]["requests"] = 0
    check = evaluate([SLO("rate_limit.responses_429 / requests", "<", 0.01)], summary)["checks"][0]
    assert check["value"] is None and check["passed"] is False


def test_star_with_no_models_fails():
    summary = _summary()
    summary["models"] = {}
    result = evaluate([SLO("success_rate", ">=", 0.99, model="*")], summary)
    assert result["passed"] is False and result["checks"][0]["value"] is None


def test_no_slos_pass():
    assert evaluate([], _summary()) == {"passed": True, "checks": []}


def test_error_rate_is_derived_from_success_rate():
    check = evaluate([SLO("error_rate", "<", 0.003, model="gpt-4o-mini")], _summary())["checks"][0]
    assert check["value"] == pytest.approx(0.002) and check["passed"] is True


# --- the file -------------------------------------------------------------------

def test_load_slos_reads_the_documented_syntax(tmp_path):
    path = _write(tmp_path, """
        [[slo]]            # overall (totals)
        metric = "ttft_ms.p95"
        op = "<"
        value = 1000
        [[slo]]
        model = "gpt-4o-mini"
        metric = "success_rate"
        op = ">="
        value = 0.997
        [[slo]]
        model = "*"
        metric = "rate_limit.responses_429 / requests"
        op = "<"
        value = 0.01
        [[slo]]
        metric = "sink.dropped"
        op = "=="
        value = 0
        name = "no points dropped"
    """)
    slos = load_slos(path)
    assert [(s.model, s.metric, s.op, s.value) for s in slos] == [
        (None, "ttft_ms.p95", "<", 1000.0), ("gpt-4o-mini", "success_rate", ">=", 0.997),
        ("*", "rate_limit.responses_429 / requests", "<", 0.01), (None, "sink.dropped", "==", 0.0)]
    assert slos[1].source == f"{path}:5"
    result = evaluate(slos, _summary())
    assert [c["name"] for c in result["checks"]] == [
        "overall: ttft_ms.p95 < 1000", "gpt-4o-mini: success_rate >= 0.997",
        "claude-4-haiku: rate_limit.responses_429 / requests < 0.01",
        "gpt-4o-mini: rate_limit.responses_429 / requests < 0.01", "no points dropped"]
    assert [c["passed"] for c in result["checks"]] == [True, True, False, True, True]


def test_example_slo_file_loads_and_names_known_metrics():
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "slo.toml"
    slos = load_slos(example)
    assert len(slos) >= 6
    assert {s.model for s in slos} >= {None, "gpt-4o-mini", "claude-4-haiku"}


@pytest.mark.parametrize("text, line, reason", [
    ('[[slo]]\nmetric = "ttft_ms.p95"\nop = "<"\nvalue = \n', 4, "not valid TOML"),
    ('[[slo]]\nmetric = "ttft_ms.p95\nop = "<"\nvalue = 1\n', 2, "not valid TOML"),
    ('[[slo]]\nmetric = "ttft_ms.p95"\nop = "<"\nvalue = 1\n\n[[slo]]\nmetric = "e2e_ms.p99"\nop = "=<"\nvalue = 3000\n',
     8, "unknown op '=<'"),
    ('[[slo]]\nmetric = "ttft_ms.p95"\nop = "<"\nvalue = 1\n[[slo]]\nmetric = "ttft_ms.p96"\nop = "<"\nvalue = 1\n',
     6, "unknown metric 'ttft_ms.p96' (did you mean 'ttft_ms.p9"),
    ('[[slo]]\nmetric = "latency"\nop = "<"\nvalue = 1\n', 2, "unknown metric 'latency'"),
    ('[[slo]]\nmetric = "requests / bogus.path"\nop = ">"\nvalue = 1\n', 2, "unknown metric 'bogus.path'"),
    ('[[slo]]\nmetric = "ttft_ms.p95"\nvalue = 1\n', 1, "[[slo]] has no 'op'"),
    ('[[slo]]\nmetric = "ttft_ms.p95"\nop = "<"\nvalue = "fast"\n', 4, "value must be a number or true/false"),
    ('[[slo]]\nmetirc = "ttft_ms.p95"\nop = "<"\nvalue = 1\n', 2, "unknown key 'metirc' in [[slo]]"),
    ('[[slo]]\nmodel = "gpt-4o-mini"\nmetric = "sink.dropped"\nop = "=="\nvalue = 0\n', 3,
     "metric 'sink.dropped' is run-wide: it cannot have model = 'gpt-4o-mini'"),
    ('threshold = 3\n[[slo]]\nmetric = "ttft_ms.p95"\nop = "<"\nvalue = 1\n', 1, "unknown top-level key 'threshold'"),
    ('[slo]\nmetric = "ttft_ms.p95"\nop = "<"\nvalue = 1\n', 1, "'slo' must be an array of tables"),
])
def test_malformed_file_names_line_and_reason(tmp_path, text, line, reason):
    path = tmp_path / "slo.toml"
    path.write_text(text)
    with pytest.raises(SLOError) as info:
        load_slos(path)
    message = str(info.value)
    assert f"{path}:{line}: " in message, message
    assert reason in message, message


def test_missing_file_is_an_slo_error(tmp_path):
    with pytest.raises(SLOError, match="SLO file .*: cannot be read"):
        load_slos(tmp_path / "nope.toml")


# --- the flag -------------------------------------------------------------------

@pytest.mark.parametrize("text, model, metric, op, value", [
    ("gpt-4o-mini:ttft_ms.p95<1000", "gpt-4o-mini", "ttft_ms.p95", "<", 1000.0),
    ("e2e_ms.p99 < 3000", None, "e2e_ms.p99", "<", 3000.0),
    ("success_rate>=0.997", None, "success_rate", ">=", 0.997),
    ("*: output_tokens_per_s >= 50", "*", "output_tokens_per_s", ">=", 50.0),
    ("llama3:8b:tpot_ms.p50 <= 40", "llama3:8b", "tpot_ms.p50", "<=", 40.0),
    ("rate_limit.responses_429 / requests < 0.01", None, "rate_limit.responses_429 / requests", "<", 0.01),
    ("sink.dropped == 0", None, "sink.dropped", "==", 0.0),
    ("trusted != false", None, "trusted", "!=", False),
    ("cost_per_success_usd > 0", None, "cost_per_success_usd", ">", 0.0),
])
def test_parse_slo_flag(text, model, metric, op, value):
    slo = parse_slo_flag(text)
    assert (slo.model, slo.metric, slo.op, slo.value) == (model, metric, op, value)


@pytest.mark.parametrize("text, reason", [
    ("ttft_ms.p95 ~ 1000", "expected '[model:]metric op value'"),
    ("ttft_ms.p95 < fast", "limit 'fast' is not a number"),
    ("ttft.p95 < 1000", "unknown metric 'ttft.p95'"),
    (":ttft_ms.p95 < 1000", "empty model name"),
])
def test_bad_flag_says_why(text, reason):
    with pytest.raises(SLOError, match="--slo-check") as info:
        parse_slo_flag(text)
    assert reason in str(info.value)


# --- exit codes -----------------------------------------------------------------

def test_exit_code_policy():
    summary = _summary()
    passed = {"passed": True, "checks": []}
    failed = {"passed": False, "checks": [{"name": "x", "limit": 1, "value": 2, "passed": False}]}
    assert exit_code(summary, passed) == 0
    assert exit_code(summary, failed) == 1
    assert exit_code(summary, passed, could_not_run=True) == 2
    assert exit_code(None, None) == 2
    assert exit_code(summary, passed, max_error_rate=0.001) == 1  # totals error rate 0.6 %
    assert exit_code(summary, passed, max_error_rate=0.01) == 0
    untrusted = copy.deepcopy(summary)
    untrusted["trusted"] = False
    assert exit_code(untrusted, failed) == 3
    # A lost worker the run was allowed to lose (--require-workers) is degraded, not untrusted:
    # only ``trusted`` (set by the master from --require-workers) decides exit code 3.
    lost = copy.deepcopy(summary)
    lost["workers"] = {"count": 2, "lost": [{"worker": "b"}], "required": 1}
    lost["degraded"] = True
    assert exit_code(lost, passed) == 0
    lost["trusted"] = False
    assert exit_code(lost, passed) == 3


def test_untrusted_exit_code_zero_informs_but_a_worker_shortfall_still_exits_3():
    summary = {"trusted": False, "totals": {"success_rate": 1.0}, "workers": {"count": 1}}
    passed = {"passed": True, "checks": []}
    assert exit_code(summary, passed, untrusted_exit_code=0) == 0  # generator fell behind: informational
    assert exit_code(summary, passed, untrusted_exit_code=7) == 7
    short = dict(summary, workers={"count": 2, "nodes": {}, "finished": 1, "required": 2})
    assert exit_code(short, passed, untrusted_exit_code=0) == 3  # --require-workers is the user's own gate
    enough = dict(summary, workers={"count": 2, "nodes": {}, "finished": 2, "required": 2})
    assert exit_code(enough, passed, untrusted_exit_code=0) == 0
