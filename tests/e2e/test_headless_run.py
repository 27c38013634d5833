"""`loadkit run` end to end: real Locust subprocess, real simulator, exact counts, exit codes, no key leaks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import run_loadkit as run_cli
from tests.support.servers import free_port
from tests.support.simproc import start_simulator

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-loadkit-secret-4242"


def run_loadkit(args, tmp_path, env_extra=None, timeout=120):
    return run_cli(args, tmp_path / "results", env_extra, timeout_s=timeout)


def only_summary(tmp_path):
    found = list((tmp_path / "results").glob("*/summary.json"))
    assert len(found) == 1, found
    return json.loads(found[0].read_text()), found[0].parent


def all_text_under(path: Path) -> str:
    import gzip

    chunks = []
    for p in path.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            if p.suffix == ".gz":
                data = gzip.decompress(data)
            chunks.append(data.decode("utf-8", "replace"))
    return "\n".join(chunks)


def test_headless_run_counts_match_the_gateway_exactly_and_key_never_leaks(tmp_path):
    with start_simulator("--profile", "fixed", "--fixed", "ttft_ms=20,itl_ms=5,tokens=8", "--api-key", KEY,
                         "--cold-start-ms", "0") as sim:
        proc = run_loadkit(["--host", sim.base_url, "--users", "6", "--spawn-rate", "6", "--run-time", "5s"], tmp_path,
                           {"LOADKIT_API_KEY": KEY})
        served = sim.stats()
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary, run_dir = only_summary(tmp_path)
    attempts = {m: b["attempts"] for m, b in summary["models"].items()}
    preflight = summary["preflight"]["requests_by_model"]
    for model, n in served["chat_requests"].items():
        assert attempts.get(model, 0) + preflight.get(model, 0) == n, (model, attempts, preflight, served)
    assert summary["totals"]["requests"] > 100
    assert summary["totals"]["success_rate"] == 1.0
    assert set(summary["models"]) == {"claude-4-haiku", "gpt-4o-mini"}
    assert summary["models"]["gpt-4o-mini"]["ttft_ms"]["p50"] == pytest.approx(20, abs=5)
    for model, out_tokens in served["tokens_out"].items():
        # preflight asks for max_tokens=1: one token each
        assert summary["models"][model]["tokens"]["output"] + preflight.get(model, 0) == out_tokens
    for text in (proc.stdout, proc.stderr, all_text_under(run_dir)):
        assert KEY not in text
    assert "claude-4-haiku" in proc.stdout and "TTFT" in proc.stdout


def test_failures_above_max_error_rate_exit_1(tmp_path):
    # Fixed timings keep the generator's CPU low: a saturated generator would (rightly) exit 3, untrusted.
    with start_simulator("--profile", "fixed", "--fixed", "ttft_ms=10,itl_ms=2,tokens=5", "--error-every", "10") as sim:
        proc = run_loadkit(["--host", sim.base_url, "--users", "2", "--run-time", "3s", "--max-error-rate", "0.05"], tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    summary, _ = only_summary(tmp_path)
    assert summary["totals"]["outcomes"]["upstream_error"] > 0
    assert summary["totals"]["error_rate"] == pytest.approx(0.1, abs=0.02)


@pytest.mark.parametrize("case", ["wrong_key", "unknown_model", "closed_port", "malformed_config", "bad_users", "host_with_path"])
def test_bad_input_gives_one_clear_line_exit_2_and_no_results(case, tmp_path):
    with start_simulator("--profile", "zero", "--api-key", KEY) as sim:
        env = {"LOADKIT_API_KEY": KEY}
        args = ["--host", sim.base_url, "--users", "1", "--run-time", "2s"]
        expect = ""
        if case == "wrong_key":
            env["LOADKIT_API_KEY"] = "sk-wrong-key-999"
            expect = "401 from http://127.0.0.1"
        elif case == "unknown_model":
            args += ["--models", "gpt-5-ultra"]
            expect = "'gpt-5-ultra' is not offered"
        elif case == "closed_port":
            args[1] = f"http://127.0.0.1:{free_port()}/v1"
            expect = "cannot reach http://127.0.0.1"
        elif case == "malformed_config":
            cfg = tmp_path / "bad.toml"
            cfg.write_text("users = [oops\n")
            args += ["--config", str(cfg)]
            expect = "not valid TOML"
        elif case == "bad_users":
            args[3] = "-3"
            expect = "users = '-3' is invalid"
        elif case == "host_with_path":
            args[1] = sim.base_url + "/chat/completions"
            expect = "already ends with /chat/completions"
        proc = run_loadkit(args, tmp_path, env)
        served = sim.stats()["chat_requests_total"]
    assert proc.returncode == 2, (proc.stdout[-1000:], proc.stderr[-2000:])
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("loadkit:")]
    assert len(lines) == 1 and expect in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert KEY not in proc.stderr + proc.stdout and "sk-wrong-key-999" not in proc.stderr + proc.stdout
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("*.json"))
    if case in ("wrong_key", "unknown_model"):
        assert served <= 2  # preflight only: no load was sent


def test_plain_locust_with_the_example_locustfile_writes_a_summary(tmp_path):
    with start_simulator("--profile", "fixed", "--fixed", "ttft_ms=10,itl_ms=2,tokens=5") as sim:
        env = dict(os.environ, LOADKIT_RESULTS_DIR=str(tmp_path / "results"), LOADKIT_RUN_ID="plain")
        proc = subprocess.run([sys.executable, "-m", "locust", "-f", "locustfiles/chat.py", "--headless", "-u", "2", "-r", "2",
                               "-t", "3s", "--host", sim.base_url, "--stop-timeout", "5", "--only-summary"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
        served = sim.stats()["chat_requests_total"]
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / "results" / "plain" / "summary.json").read_text())
    assert summary["totals"]["attempts"] + sum(summary["preflight"]["requests_by_model"].values()) == served


def test_an_impossible_slo_exits_1_with_a_failing_junit_testcase(tmp_path):
    with start_simulator("--profile", "fixed", "--fixed", "ttft_ms=10,itl_ms=2,tokens=5", "--cold-start-ms", "0") as sim:
        proc = run_loadkit(["--host", sim.base_url, "--users", "2", "--run-time", "3s",
                            "--slo-check", "ttft_ms.p95 < 0.001; success_rate >= 0.5"], tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    summary, run_dir = only_summary(tmp_path)
    checks = {c["name"]: c["passed"] for c in summary["slo"]["checks"]}
    assert list(checks.values()).count(False) == 1 and list(checks.values()).count(True) == 1
    junit = (run_dir / "junit.xml").read_text()
    assert junit.count("<testcase") == 2 and junit.count("<failure") == 1
    assert "SLO FAIL" in proc.stdout
