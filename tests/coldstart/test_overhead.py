"""Gateway overhead, paired and interleaved, against simulators with known overhead.

One direct simulator (fixed timing), a pass-through gateway simulator in front
of it (``--overhead-ms 0``) and one adding N(30, 5) ms. The gateway simulator's
own forwarding (one more process and HTTP hop) costs ~1-2 ms on this machine,
which is real overhead and is measured as such; so the knob's 30 ms is checked
against the pass-through gateway (both halves pay the hop) and the hop itself
against the direct simulator. CIs in the assertions are 99 %: a 95 % CI misses
the truth in 1 run of 20 by design, and a test must not.
"""

import subprocess
import sys

import pytest

from loadkit.studies.overhead import OverheadSettings, measure_overhead, resolve_direct_urls
from loadkit.errors import ConfigError
from tests.support.simproc import REPO_ROOT, start_simulator

FIXED = ("--profile", "fixed", "--fixed", "ttft_ms=20,itl_ms=2,tokens=5", "--cold-start-ms", "0",
         "--models", "gpt-4o-mini")
PAIRS = 60
TOL_MS = 3.0


def _settings() -> OverheadSettings:
    return OverheadSettings(n_pairs=PAIRS, confidence=0.99, seed=1)


@pytest.fixture(scope="module")
def sims():
    with start_simulator(*FIXED) as direct, \
            start_simulator(*FIXED, "--upstream", direct.url, "--overhead-ms", "0") as passthrough, \
            start_simulator(*FIXED, "--upstream", direct.url, "--overhead-ms", "30", "--overhead-jitter-ms", "5",
                            "--seed", "7") as gateway30:
        yield direct, passthrough, gateway30


def test_overhead_knob_of_30ms_is_measured_within_3ms(sims):
    _direct, passthrough, gateway30 = sims
    report = measure_overhead(gateway30.base_url, passthrough.base_url, ["gpt-4o-mini"], _settings())
    m = report.models["gpt-4o-mini"]
    assert m.pairs == PAIRS and m.failed_pairs == 0
    assert 0 < m.gateway_first < PAIRS  # the order within pairs is randomised
    for metric in (m.ttft, m.e2e):
        assert abs(metric.median_diff.value_ms - 30.0) <= TOL_MS, metric
        assert metric.median_diff.contains(30.0), metric
    assert m.claim_holds


def test_overhead_against_the_direct_endpoint_includes_the_gateway_hop(sims):
    direct, passthrough, gateway30 = sims
    hop = measure_overhead(passthrough.base_url, direct.base_url, ["gpt-4o-mini"], _settings()).models["gpt-4o-mini"]
    assert abs(hop.ttft.median_diff.value_ms) <= TOL_MS, hop.ttft
    assert hop.claim_holds and hop.ttft.verdict == "holds"
    full = measure_overhead(gateway30.base_url, direct.base_url, ["gpt-4o-mini"], _settings()).models["gpt-4o-mini"]
    assert 30.0 - TOL_MS <= full.ttft.median_diff.value_ms <= 30.0 + TOL_MS + max(hop.ttft.median_diff.ci_high_ms, 0)


def test_zero_overhead_ci_contains_zero(sims):
    # A/A: the same pass-through gateway on both sides (two clients, two connections).
    _direct, passthrough, _gateway30 = sims
    m = measure_overhead(passthrough.base_url, passthrough.base_url, ["gpt-4o-mini"], _settings()).models["gpt-4o-mini"]
    for metric in (m.ttft, m.e2e):
        assert metric.median_diff.contains(0.0), metric
        assert abs(metric.median_diff.value_ms) <= TOL_MS


def test_claim_verdict_fails_when_overhead_exceeds_the_claim(sims):
    _direct, passthrough, gateway30 = sims
    settings = OverheadSettings(n_pairs=20, claim_ms=10.0, seed=2)
    m = measure_overhead(gateway30.base_url, passthrough.base_url, ["gpt-4o-mini"], settings).models["gpt-4o-mini"]
    assert m.ttft.verdict == "fails" and not m.claim_holds


def test_direct_urls_resolve_per_model_or_shared():
    assert resolve_direct_urls("http://a/v1", ["x", "y"]) == {"x": "http://a/v1", "y": "http://a/v1"}
    assert resolve_direct_urls("http://a/v1,http://b/v1", ["x", "y"]) == {"x": "http://a/v1", "y": "http://b/v1"}
    assert resolve_direct_urls({"x": "https://a/v1"}, ["x"]) == {"x": "https://a/v1"}
    with pytest.raises(ConfigError, match="3 direct URLs for 2 models"):
        resolve_direct_urls(["http://a", "http://b", "http://c"], ["x", "y"])
    with pytest.raises(ConfigError, match="no direct URL for model"):
        resolve_direct_urls({"x": "http://a"}, ["x", "y"])


def test_cli_errors_are_one_line_and_exit_2():
    cmd = [sys.executable, "-m", "loadkit.cli.coldstart", "overhead", "--gateway", "http://127.0.0.1:9/v1",
           "--direct", "http://127.0.0.1:9/v1", "--direct-api-key-env", "LOADKIT_TEST_SURELY_UNSET"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "LOADKIT_TEST_SURELY_UNSET is not set" in done.stderr
    done = subprocess.run([sys.executable, "-m", "loadkit.cli.coldstart", "coldstart", "--host", "http://x/v1",
                           "--gaps", "0,soon"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert done.returncode == 2 and "not a duration: 'soon'" in done.stderr
