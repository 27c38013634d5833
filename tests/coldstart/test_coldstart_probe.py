"""The idle-gap probe against a fixed-timing simulator with a known cold start.

Simulator: TTFT 20 ms, cold start +150 ms for gpt-4o-mini after 0.5 s idle.
Probe gaps 0, 0.3, 0.6, 1.2 s: the model must go cold between 0.3 and 0.6 s,
with a penalty of 150 +- 5 ms, and exactly 1 (first) + 2 per repeat requests
are cold — by the probe's verdict, by ColdTracker, in RunStats and at the
simulator.
"""

import pytest

from loadkit.studies.coldstart import (
    ColdStartSettings,
    ColdTracker,
    bootstrap_median_difference,
    parse_gaps,
    probe_cold_start,
)
from loadkit.errors import ConfigError
from loadkit.core.stats import RunStats
from loadkit.transport import TransportOptions, make_transport
from tests.support.simproc import start_simulator

COLD_MS = 150.0
IDLE_S = 0.5
GAPS_S = (0.0, 0.3, 0.6, 1.2)
REPEATS = 3


def test_probe_finds_threshold_penalty_and_exact_cold_counts():
    with start_simulator("--profile", "fixed", "--fixed", "ttft_ms=20,itl_ms=2,tokens=5", "--idle-s", str(IDLE_S),
                         "--cold-start-ms", f"gpt-4o-mini={COLD_MS:g}", "--models", "gpt-4o-mini") as sim:
        report = probe_cold_start(
            ["gpt-4o-mini"],
            lambda: make_transport("httpx", TransportOptions(sim.base_url)),
            ColdStartSettings(gaps_s=GAPS_S, repeats=REPEATS, connection_pairs=0),
            idle_s_for_marking=IDLE_S,
        )
        sim_cold = sim.stats()["cold_starts"]["gpt-4o-mini"]
    result = report.models["gpt-4o-mini"]
    assert result.warnings == []
    assert (result.warm_up_to_s, result.cold_after_s) == (0.3, 0.6)
    assert [g.cold for g in result.gaps] == [False, False, True, True]
    assert abs(result.ttft_penalty.value_ms - COLD_MS) <= 5.0, result.ttft_penalty
    assert result.ttft_penalty.ci_low_ms <= result.ttft_penalty.value_ms <= result.ttft_penalty.ci_high_ms
    assert abs(result.e2e_penalty.value_ms - COLD_MS) <= 5.0, result.e2e_penalty

    expected_cold = 1 + 2 * REPEATS  # the first request, then the 0.6 s and 1.2 s probes of each repeat
    samples = result.samples
    assert len(samples) == 1 + REPEATS * len(GAPS_S) * 3
    assert all(s.outcome == "ok" for s in samples)
    marked = [s.record.cold for s in samples]
    judged = [s.kind == "first" or s.ttft_ms > result.cold_cut_ms for s in samples]
    assert marked == judged  # the idle rule and the TTFT verdict agree request by request
    assert sum(marked) == expected_cold == sim_cold

    stats = RunStats()
    for s in samples:
        stats.add(s.record)
    model = stats.models["gpt-4o-mini"]
    assert model.cold_count == expected_cold
    assert model.h["cold_ttft_ms"].count == expected_cold
    assert model.h["ttft_ms"].count == len(samples) - expected_cold


def test_cold_tracker_without_done_is_runtime_mark_cold():
    # Runtime.mark_cold: first send, or now - last send >= idle_s.
    tracker = ColdTracker(idle_s=1.0)
    sends = [0.0, 0.5, 1.49, 2.49, 2.5, 10.0]
    assert [tracker.mark_send("m", t) for t in sends] == [True, False, False, True, False, True]
    assert tracker.mark_send("other", 10.0) is True


def test_cold_tracker_measures_idle_from_the_end_of_the_last_request():
    tracker = ColdTracker(idle_s=1.0)
    assert tracker.mark_send("m", 0.0) is True
    tracker.mark_done("m", 3.0)  # a 3 s request: the model was busy, not idle
    assert tracker.mark_send("m", 3.5) is False
    assert tracker.mark_send("m", 4.6) is True


def test_gaps_parse_units_and_reject_nonsense():
    assert parse_gaps("0,30s,2m,5m,15m") == (0.0, 30.0, 120.0, 300.0, 900.0)
    assert parse_gaps("1.2, 300ms,0") == (0.0, 0.3, 1.2)
    for bad in ("", "x", "-1", "5 minutes"):
        with pytest.raises(ConfigError):
            parse_gaps(bad)


def test_bootstrap_ci_is_seeded_and_brackets_the_shift():
    warm = [20.0 + (i % 5) * 0.5 for i in range(20)]
    cold = [w + 100.0 for w in warm]
    a = bootstrap_median_difference(cold, warm, seed=3)
    b = bootstrap_median_difference(cold, warm, seed=3)
    assert a == b
    assert a.value_ms == pytest.approx(100.0)
    assert a.ci_low_ms <= 100.0 <= a.ci_high_ms
    paired = bootstrap_median_difference([1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 2.0, 3.0], paired=True)
    assert (paired.value_ms, paired.ci_low_ms, paired.ci_high_ms) == (1.0, 1.0, 1.0)
