"""Whether a run's numbers can be trusted: the one set of limits and the one judgement (DESIGN.md).

A load generator that falls behind its schedule, is starved of CPU or loses
workers measures itself as much as the gateway. :func:`judge` takes the
run's facts (all of them stored in summary.json, so ``report recompute``
reaches the same verdict) and says trusted or not, with one warning per
reason, plus whether the run is degraded (a worker lost that the run was
allowed to lose).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["MAX_SCHEDULE_LAG_P99_MS", "MAX_CPU_PERCENT", "MAX_CPU_BUSY_SHARE", "MAX_LOOP_LAG_P95_MS",
           "MAX_TIMING_ERROR_P99_MS", "MAX_TIMING_ERROR_SHARE", "MAX_LOOP_STAMPED_SHARE", "judged_clock",
           "timing_error_limit_ms", "kernel_timing_error_estimate_ms", "TrustFacts", "Verdict", "cpu_busy_share", "judge"]

# Past these the generator's numbers are not trusted.
MAX_SCHEDULE_LAG_P99_MS = 10.0
MAX_CPU_PERCENT = 90.0
MAX_CPU_BUSY_SHARE = 0.2  # share of 1 s CPU samples above MAX_CPU_PERCENT
# p95, not p99: a short run has few probes, and one hiccup must not condemn it; a generator late
# by > 10 ms for 5 % of the run is systematically starved, and its tail latencies carry that delay.
MAX_LOOP_LAG_P95_MS = 10.0
# The run's own TTFT timing error (how late its chunks were stamped, generator.timing_error_ms) may reach
# 1 ms, or 2 % of the TTFT it measures when that is more: a 5 ms error on a 400 ms TTFT moves no decision,
# on a 20 ms TTFT it is the tail. Judged only when chunks were stamped by the user-space (loop) clock: a
# kernel receive time is right however late the read.
MAX_TIMING_ERROR_P99_MS = 1.0
MAX_TIMING_ERROR_SHARE = 0.02
# A kernel-stamped read keeps the time its newest segment came, so its read lag is kept out; what is left is
# coalescing: a read that wakes late can hold a token that came earlier, and that token takes the later time.
# One stamp per read hides that error, but how late a read wakes is how late the loop runs anything, which the
# run measures (generator.loop_lag_ms, a timer probe): its p99 is the run's estimate of that error's p99. Checked
# against the simulator's own send log (bench/fidelity.py, 12 runs at 4-64 users): own TTFT error p99 / loop
# lag p99 was 0.66-1.96, median 1.0, where the read lag p99 (2.2-9.6 ms) and the back-to-the-previous-stamp
# bound (up to 35 ms) tracked it neither.


# A "mixed" run (a few connections' first bytes came unstamped) is judged as kernel-stamped while the
# loop-stamped attempts stay under this share of the stamped ones.
MAX_LOOP_STAMPED_SHARE = 0.05


def judged_clock(timing_error_ms: dict) -> str:
    """The clock a run's timing error is judged by: "kernel" when (nearly) every attempt had kernel stamps,
    else "loop" (``generator.timing_error_ms``: clock, kernel_stamped, loop_stamped)."""
    clock = timing_error_ms.get("clock", "loop")
    if clock != "mixed":
        return clock
    kernel, loop = timing_error_ms.get("kernel_stamped", 0) or 0, timing_error_ms.get("loop_stamped", 0) or 0
    return "kernel" if loop <= MAX_LOOP_STAMPED_SHARE * (kernel + loop) else "loop"


def timing_error_limit_ms(ttft_p50_ms: float | None) -> float:
    """How large the TTFT timing error p99 may be for a run whose warm TTFT p50 is ``ttft_p50_ms``."""
    return max(MAX_TIMING_ERROR_P99_MS, MAX_TIMING_ERROR_SHARE * (ttft_p50_ms or 0.0))


def kernel_timing_error_estimate_ms(facts: "TrustFacts") -> float | None:
    """The estimated TTFT error p99 of a kernel-stamped run (its loop lag p99); None for a loop-clock run, whose
    error is measured per chunk (``timing_error_p99_ms``), or without probes."""
    if facts.timing_clock != "kernel" or facts.loop_lag_p99_ms is None:
        return None
    return facts.loop_lag_p99_ms


def cpu_busy_share(samples_percent: Iterable[float]) -> float:
    """Share (0-1) of CPU samples above :data:`MAX_CPU_PERCENT` (0 without samples)."""
    samples = list(samples_percent)
    return sum(1 for c in samples if c > MAX_CPU_PERCENT) / len(samples) if samples else 0.0


@dataclass(frozen=True)
class TrustFacts:
    """What the judgement looks at; every field is in summary.json."""

    schedule_lag_p99_ms: float | None = None
    loop_lag_p95_ms: float | None = None
    cpu_busy_share: float = 0.0  # the highest of any process of the run
    workers_finished: int | None = None  # None: not a distributed run
    workers_required: int | None = None
    workers_lost: tuple[str, ...] = ()
    timing_error_p99_ms: float | None = None  # generator.timing_error_ms.ttft_ms.p99
    timing_clock: str = "loop"  # generator.timing_error_ms.clock: "loop", or "kernel" (stamps need no judging)
    ttft_p50_ms: float | None = None  # totals.ttft_ms.p50: what the error is a share of
    loop_lag_p99_ms: float | None = None  # generator.loop_lag_ms.p99: the kernel-stamped runs' error estimate


@dataclass(frozen=True)
class Verdict:
    trusted: bool
    degraded: bool
    warnings: list[str] = field(default_factory=list)


def judge(facts: TrustFacts) -> Verdict:
    warnings: list[str] = []
    lag = facts.schedule_lag_p99_ms
    if lag is not None and lag > MAX_SCHEDULE_LAG_P99_MS:
        warnings.append(f"generator schedule lag p99 {lag:.1f} ms > {MAX_SCHEDULE_LAG_P99_MS:.0f} ms: "
                        "the generator fell behind its schedule; add workers or lower the rate")
    loop = facts.loop_lag_p95_ms
    if loop is not None and loop > MAX_LOOP_LAG_P95_MS:
        warnings.append(f"generator event-loop lag p95 {loop:.1f} ms > {MAX_LOOP_LAG_P95_MS:.0f} ms: the generator "
                        "was busy or starved of CPU, and its timings include that delay; add workers or free the CPU")
    if facts.cpu_busy_share >= MAX_CPU_BUSY_SHARE:
        warnings.append(f"generator CPU above {MAX_CPU_PERCENT:.0f} % for {MAX_CPU_BUSY_SHARE:.0%} or more of the "
                        "run: timings include the generator's own queueing; add workers")
    err = facts.timing_error_p99_ms
    if err is not None and facts.timing_clock == "loop" and err > timing_error_limit_ms(facts.ttft_p50_ms):
        warnings.append(f"generator timing error p99 {err:.1f} ms > {timing_error_limit_ms(facts.ttft_p50_ms):.1f} ms "
                        f"(max of {MAX_TIMING_ERROR_P99_MS:g} ms and {MAX_TIMING_ERROR_SHARE:.0%} of TTFT p50): chunks "
                        "were read late, so TTFT/ITL tails carry the generator's own delay; add workers or lower the load")
    est, limit = kernel_timing_error_estimate_ms(facts), timing_error_limit_ms(facts.ttft_p50_ms)
    if est is not None and est > limit:
        warnings.append(f"generator timing error p99 about {est:.1f} ms > {limit:.1f} ms "
                        "(kernel receive times; estimated by the event-loop lag p99: a read that wakes late can hold "
                        "more than one token, and the earlier one takes the later one's time): TTFT/ITL tails carry "
                        "the generator's own delay; add workers or lower the load")
    trusted = not warnings
    lost = list(facts.workers_lost)
    if lost:
        warnings.append(
            f"{len(lost)} worker(s) lost during the run ({', '.join(lost)}); their last reports are included, "
            "what they did after them is not; the run is degraded")
    if facts.workers_finished is not None and facts.workers_required is not None \
            and facts.workers_finished < facts.workers_required:
        trusted = False
        warnings.append(f"{facts.workers_finished} worker(s) finished with a final report, {facts.workers_required} "
                        "required (--require-workers / LOADKIT_REQUIRE_WORKERS)")
    return Verdict(trusted=trusted, degraded=bool(lost), warnings=warnings)
