"""Bad input a user really makes: one `loadkit:` line naming the problem and the fix, exit 2, no traceback, no results.

Through `python -m loadkit.cli run` as a subprocess. The cases already in
tests/e2e/test_headless_run.py (wrong key, unknown model, closed port,
malformed config, users -3, host ending in /chat/completions) are not repeated.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import run_loadkit
from tests.support.servers import free_port, influx  # noqa: F401  (fixture)
from tests.support.simproc import start_simulator

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-hardening-key-7311"


@pytest.fixture(scope="module")
def sim():
    with start_simulator("--profile", "zero", "--api-key", KEY) as s:
        yield s


def write(tmp: Path, name: str, text: str) -> str:
    p = tmp / name
    p.write_text(text)
    return str(p)


# name -> (build(tmp, host) -> (args, env changes), words the line must contain)
CASES = {
    "empty_key": (lambda t, h: ([], {"LOADKIT_API_KEY": ""}), ["401", "LOADKIT_API_KEY"]),
    "key_with_trailing_newline": (lambda t, h: ([], {"LOADKIT_API_KEY": KEY + "\n"}), ["whitespace", "LOADKIT_API_KEY"]),
    "key_with_space": (lambda t, h: ([], {"LOADKIT_API_KEY": "sk-abc def"}), ["whitespace", "LOADKIT_API_KEY"]),
    "host_without_scheme": (lambda t, h: (["--host", h.split("://", 1)[1]], {}), ["no http:// or https:// scheme"]),
    "host_with_completions": (lambda t, h: (["--host", h + "/completions"], {}), ["already ends with /completions", "e.g. http://127.0.0.1"]),
    "users_zero": (lambda t, h: (["--users", "0"], {}), ["users = '0'", "positive"]),
    "users_not_a_number": (lambda t, h: (["--users", "ten"], {}), ["users = 'ten'"]),
    "run_time_zero": (lambda t, h: (["--run-time", "0"], {}), ["run_time = '0'", "positive duration"]),
    "run_time_bad_string": (lambda t, h: (["--run-time", "5 minutes"], {}), ["run_time = '5 minutes'"]),
    "timeout_negative": (lambda t, h: (["--timeout-s", "-1"], {}), ["timeout_s = '-1'"]),
    "spawn_rate_negative": (lambda t, h: (["--spawn-rate", "-2"], {}), ["spawn_rate = '-2'"]),
    "max_error_rate_percent": (lambda t, h: (["--max-error-rate", "5"], {}), ["max_error_rate = '5'", "between 0 and 1"]),
    "slo_unknown_metric": (lambda t, h: (["--slo-check", "ttft_p95<1000"], {}), ["ttft_p95"]),
    "slo_file_malformed": (lambda t, h: (["--slo", write(t, "slo.toml", "[[slo]\nmetric = \n")], {}), ["slo.toml"]),
    "slo_file_missing": (lambda t, h: (["--slo", str(t / "nope-slo.toml")], {}), ["nope-slo.toml"]),
    "config_file_missing": (lambda t, h: (["--config", str(t / "nope.toml")], {}), ["nope.toml", "cannot be read"]),
    "api_key_in_config_file": (lambda t, h: (["--config", write(t, "cfg.toml", f'api_key = "{KEY}"\n')], {}),
                               ["api_key must not be in a config file", "LOADKIT_API_KEY"]),
    "unknown_setting_in_config": (lambda t, h: (["--config", write(t, "cfg2.toml", "user = 3\n")], {}), ["unknown setting 'user'"]),
    "api_key_file_missing": (lambda t, h: (["--api-key-file", str(t / "no-key")], {"LOADKIT_API_KEY": ""}),
                             ["no-key", "cannot be read"]),
    "ca_bundle_missing": (lambda t, h: (["--ca-bundle", str(t / "ca.pem")], {}), ["ca.pem", "no such file"]),
    "workload_missing": (lambda t, h: (["--workload", str(t / "wl.toml")], {}), ["wl.toml", "no such file"]),
    "workload_prompts_file_missing": (
        lambda t, h: (["--workload", write(t, "wl2.toml", '[workload]\nprompts_file = "missing-prompts.jsonl"\n')], {}),
        ["missing-prompts.jsonl"]),
    "unknown_transport": (lambda t, h: (["--transport", "requests"], {}), ["transport = 'requests'", "fasthttp"]),
    "model_weights_colon": (lambda t, h: (["--model-weights", "gpt-4o-mini:2"], {}), ["model_weights", "model=weight"]),
    "model_weights_unknown_model": (lambda t, h: (["--model-weights", "gpt-5=1"], {}), ["gpt-5", "--models"]),
    "model_weights_not_a_number": (lambda t, h: (["--model-weights", "gpt-4o-mini=lots"], {}), ["model_weights"]),
    "empty_models": (lambda t, h: (["--models", " , "], {}), ["models is empty"]),
    "poisson_without_rate": (lambda t, h: (["--arrival", "poisson"], {}), ["--rate-per-s"]),
    "influx_url_port_typo": (lambda t, h: (["--influx-url", f"http://127.0.0.1:{free_port()}", "--influx-db", "x"], {}),
                             ["unreachable", "LOADKIT_INFLUX_URL", "--influx-optional"]),
    "influx_url_without_bucket": (lambda t, h: (["--influx-url", "http://127.0.0.1:8086"], {}), ["LOADKIT_INFLUX_BUCKET"]),
    "influx_url_without_scheme": (lambda t, h: (["--influx-url", "localhost:8086", "--influx-db", "x"], {}),
                                  ["localhost:8086", "http"]),
    "results_folder_exists": (lambda t, h: (["--run-id", "taken"], {}), ["taken", "already exists", "--run-id"]),
}


def run_cli(args: list[str], env_extra: dict[str, str], results: Path, timeout: float = 60):
    return run_loadkit(args, results, {"LOADKIT_API_KEY": KEY, **env_extra}, timeout_s=timeout)


def listing(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gives_one_line_with_the_fix_exit_2_and_no_results(case, sim, tmp_path):
    build, words = CASES[case]
    args, env = build(tmp_path, sim.base_url)
    results = tmp_path / "results"
    if case == "results_folder_exists":
        (results / "taken").mkdir(parents=True)
        (results / "taken" / "summary.json").write_text("{}")
    before = listing(results)
    base = ["--host", sim.base_url, "--users", "1", "--run-time", "2s"]
    # the case's own flags come last, so they win over the base ones
    proc = run_cli([*base, *args], env, results)
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-800:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("loadkit: "), proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert KEY not in proc.stderr + proc.stdout
    assert listing(results) == before  # nothing half-written


def test_influx_database_missing_is_one_line_naming_the_database(sim, influx, tmp_path):  # noqa: F811
    proc = run_cli(["--host", sim.base_url, "--users", "1", "--run-time", "2s", "--influx-url", influx.url,
                    "--influx-db", "no_such_db"], {}, tmp_path / "results")
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no_such_db" in lines[0] and "CREATE DATABASE" in lines[0], lines
    assert listing(tmp_path / "results") == []


def test_a_busy_web_ui_port_is_one_line_and_exit_2_not_a_bind_traceback(sim, tmp_path):
    """Plain Locust prints a 60-line greenlet traceback for a taken --web-port; loadkit's hook says it in one line."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = dict(os.environ, LOADKIT_API_KEY=KEY, LOADKIT_RESULTS_DIR=str(tmp_path / "results"))
        proc = subprocess.run([sys.executable, "-m", "locust", "-f", "loadkit/locustfiles/chat.py", "--host", sim.base_url,
                               "--web-host", "127.0.0.1", "--web-port", str(port)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [ln for ln in proc.stderr.splitlines() if "ERROR" in ln]
    assert len(errors) == 1 and f"port {port} is in use" in errors[0] and "--web-port" in errors[0], proc.stderr
    assert listing(tmp_path / "results") == []

