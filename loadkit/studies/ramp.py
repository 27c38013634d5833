"""Rate-limit ramp: find the request rate at which a model's 429s begin.

Pure logic over one callable, ``run_step(rate_per_s, duration_s) ->
StepResult``, so it is tested without a server and driven by anything (the
threads of :func:`open_loop_step`, a Locust user). Phases:

1. **drain** — send at ``max_rate_per_s`` until 429s appear. A token bucket
   starts full (a whole minute of burst on a requests-per-minute limit); left
   alone, that burst would hide the limit for the first minute.
2. **up** — from ``start_rate_per_s``, multiply the rate by ``step_factor``
   each step until a step is limited (429s in more than ``onset_fraction`` of
   its requests). Clean steps below the limit refill the bucket, so this
   onset is an upper bound.
3. **saturated** — the same rate again, now from an empty bucket: if it is
   limited too, its successful requests per second are the sustained
   throughput under the limit (if not, the 429s were a transient and the
   ramp goes on up).
4. **down** — from ``refine_start`` x the sustained throughput, lower the
   rate by ``refine_factor`` per step until a step is clean. Every step
   starts from the empty bucket the limited step before it left, so the
   lowest limited rate is where 429s begin.

A step resolves a rate excess of about one request per step, and pauses
between steps refill a bucket a little: give steps ~30 requests at the
limit (``step_duration_s`` >= 30 / expected limit per second) for a 10 %
answer.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from loadkit.client.chat import ChatClient, ChatRequest
from loadkit.core.records import RequestRecord
from loadkit.studies.driver import StepDriver, StepMeasure, run_open_loop

__all__ = ["StepResult", "RampStep", "RampResult", "find_rate_limit", "open_loop_step", "ChatStepRunner"]


@dataclass(frozen=True, slots=True)
class StepResult:
    sent: int
    ok: int
    n429: int
    duration_s: float | None = None  # the step's length when it differs from the one asked for


@dataclass(frozen=True, slots=True)
class RampStep:
    phase: str  # drain | up | saturated | down
    rate_per_s: float
    duration_s: float
    result: StepResult
    limited: bool

    @property
    def ok_per_s(self) -> float:
        return self.result.ok / self.duration_s if self.duration_s > 0 else 0.0


@dataclass
class RampResult:
    """What the ramp found; rates in requests per second (``*_per_min`` for the per-minute view)."""

    onset_rate_per_s: float | None = None  # lowest offered rate that drew 429s
    last_clean_rate_per_s: float | None = None  # highest offered rate below it without 429s
    sustained_ok_per_s: float | None = None  # successful requests/s while limited
    steps: list[RampStep] = field(default_factory=list)

    @property
    def onset_per_min(self) -> float | None:
        return None if self.onset_rate_per_s is None else self.onset_rate_per_s * 60.0

    @property
    def sustained_ok_per_min(self) -> float | None:
        return None if self.sustained_ok_per_s is None else self.sustained_ok_per_s * 60.0

    def to_dict(self) -> dict:
        return {
            "onset_rate_per_s": self.onset_rate_per_s,
            "onset_per_min": self.onset_per_min,
            "last_clean_rate_per_s": self.last_clean_rate_per_s,
            "sustained_ok_per_s": self.sustained_ok_per_s,
            "sustained_ok_per_min": self.sustained_ok_per_min,
            "steps": [
                {"phase": s.phase, "rate_per_s": s.rate_per_s, "duration_s": s.duration_s, "sent": s.result.sent,
                 "ok": s.result.ok, "n429": s.result.n429, "limited": s.limited}
                for s in self.steps
            ],
        }


def find_rate_limit(
    run_step: Callable[[float, float], StepResult],
    *,
    start_rate_per_s: float,
    max_rate_per_s: float,
    step_duration_s: float,
    step_factor: float = 1.5,
    refine_factor: float = 0.97,
    refine_start: float = 1.06,
    onset_fraction: float = 0.02,
    drain: bool = True,
    drain_step_s: float | None = None,
    max_drain_steps: int = 30,
    max_refine_steps: int = 8,
    sleep: Callable[[float], None] = time.sleep,
) -> RampResult:
    """Ramp the rate until 429s begin; returns the onset, last clean rate and sustained throughput.

    All three are None when no step up to ``max_rate_per_s`` drew 429s.
    Drain steps last ``drain_step_s`` (default half a step) so the drain
    stops soon after the burst is spent.
    """
    if not 0 < start_rate_per_s <= max_rate_per_s:
        raise ValueError(f"need 0 < start_rate_per_s <= max_rate_per_s (got {start_rate_per_s}, {max_rate_per_s})")
    if step_factor <= 1 or not 0 < refine_factor < 1 or step_duration_s <= 0:
        raise ValueError("need step_factor > 1, 0 < refine_factor < 1 and step_duration_s > 0")
    out = RampResult()

    def step(phase: str, rate: float, duration_s: float = step_duration_s) -> RampStep:
        res = run_step(rate, duration_s)
        duration = res.duration_s if res.duration_s else duration_s
        limited = res.n429 > 0 and res.n429 > onset_fraction * max(res.sent, 1)
        s = RampStep(phase, rate, duration, res, limited)
        out.steps.append(s)
        return s

    if drain:
        for _ in range(max_drain_steps):
            if step("drain", max_rate_per_s, drain_step_s or step_duration_s / 2).limited:
                break
        else:
            return out  # no 429 even at the highest rate: no limit below max_rate_per_s
        # The drain leaves the bucket empty: without a pause the first request of the next
        # step would draw a 429 at any rate. Two requests' worth of refill at the start rate.
        sleep(2.0 / start_rate_per_s)
    rate = start_rate_per_s
    saturated = None
    while rate <= max_rate_per_s * (1 + 1e-9):
        if step("up", rate).limited:
            # Repeat the rate from the now-empty bucket: a limited repeat confirms the onset and
            # measures the sustained throughput; a clean one means the 429s were a transient
            # (e.g. the bucket the drain left empty) and the ramp goes on.
            confirm = step("saturated", rate)
            if confirm.limited:
                saturated = confirm
                break
        out.last_clean_rate_per_s = rate
        rate *= step_factor
    if saturated is None:
        return out
    out.sustained_ok_per_s = saturated.ok_per_s
    out.onset_rate_per_s = saturated.rate_per_s
    # Start just above the sustained rate: the limit lies there, not at the burst-inflated onset.
    rate = min(saturated.rate_per_s * refine_factor, saturated.ok_per_s * refine_start)
    for _ in range(max_refine_steps):
        s = step("down", rate)
        if not s.limited:
            out.last_clean_rate_per_s = rate
            break
        out.onset_rate_per_s = min(out.onset_rate_per_s, rate)
        rate *= refine_factor
    return out


def open_loop_step(
    send: Callable[[], int],
    rate_per_s: float,
    duration_s: float,
    *,
    pool: ThreadPoolExecutor | None = None,
    max_in_flight: int = 32,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> StepResult:
    """Call ``send()`` (returns an HTTP status, 0 for no response) at a constant ``rate_per_s`` for ``duration_s``.

    Sends are due by the step driver's absolute schedule
    (:func:`loadkit.studies.driver.run_open_loop`) and run on up to
    ``max_in_flight`` threads (``pool``, or a new one of ``max_in_flight``
    threads), so a slow answer does not delay the next send; the step waits
    for every answer before it returns. ``rng`` is kept for callers; a
    constant rate draws nothing from it.
    """
    counts = {"sent": 0, "ok": 0, "n429": 0}
    lock = threading.Lock()

    def one() -> None:
        try:
            status = send()
        except Exception:  # a crashed send counts as sent without an answer
            status = 0
        with lock:
            counts["sent"] += 1
            if status == 200:
                counts["ok"] += 1
            elif status == 429:
                counts["n429"] += 1

    start = clock()
    own_pool = pool is None
    if pool is None:
        pool = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="loadkit-ramp")
    try:
        futures, _ = run_open_loop(lambda _due: pool.submit(one), rate_per_s, start, start + duration_s,
                                   clock=clock, sleep=sleep)
        wait(futures)
    finally:
        if own_pool:
            pool.shutdown(wait=True)
    return StepResult(counts["sent"], counts["ok"], counts["n429"], duration_s)


def step_result(measure: StepMeasure) -> StepResult:
    """A driver step counted as the ramp counts it: sent, 200 and 429, over the step's measured length."""
    statuses = [r.status or 0 for r in measure.records]
    return StepResult(len(statuses), statuses.count(200), statuses.count(429), measure.window_s)


class ChatStepRunner(StepDriver):
    """``run_step`` for :func:`find_rate_limit` over real chat requests: the step driver, counted in 429s.

    ``make_request()`` gives each request (e.g. a Workload's with the model
    fixed); ``on_record(record)`` sees every record (e.g. ``RunStats.add``),
    from the sending threads. No retries: a ramp counts raw 429s. A step that
    reaches ``max_in_flight`` requests in flight stops sending (the driver's
    abort) and is counted over the time it ran.
    """

    def __init__(
        self,
        make_client: Callable[[], ChatClient],
        make_request: Callable[[], ChatRequest],
        *,
        max_in_flight: int = 32,
        on_record: Callable[[RequestRecord], object] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ):
        super().__init__(make_client, lambda _model: make_request(), max_in_flight=max_in_flight,
                         on_record=on_record, clock=clock, sleep=sleep, thread_name="loadkit-ramp")

    def run_step(self, rate_per_s: float, duration_s: float) -> StepResult:
        """Send at ``rate_per_s`` for ``duration_s`` seconds; counts of sent, 200 and 429."""
        return step_result(self.rate_step("", rate_per_s, duration_s, 0.0))
