"""From a found capacity to a plan: peak load, concurrency, headroom, cost, workers.

Pure arithmetic, every figure in its unit:

- ``average_rps = calls_per_day / 86 400``; ``peak_rps = average_rps × peak_ratio``;
- ``concurrency = peak_rps × latency_s`` (Little's law: requests in flight =
  arrival rate × time in system), with the mean e2e latency measured at the
  highest passing step (and the p95 one as a conservative figure);
- ``headroom = max_sustainable_rps / peak_rps`` (> 1: the peak fits);
- ``monthly_cost_usd = calls_per_day × days_per_month × (mean_input_tokens ×
  input price + mean_output_tokens × output price) / 1e6``;
- gateway rate limit needed at the peak: ``peak_rps × 60`` requests/min and
  ``peak_rps × 60 × (mean_input + mean_output)`` tokens/min;
- ``workers_needed = ceil(peak_rps × (1 + margin) / generator_rps_per_core)``:
  load-generator cores (one Locust worker each) to drive the peak, from the
  generator's own requests per CPU-second measured in the same run;
  with a calibration (``loadkit calibrate``: the highest concurrency one
  process keeps with TTFT error p99 < 1 ms), ``workers_needed =
  ceil(concurrency × (1 + margin) / users_per_process)`` instead, with the
  p95 concurrency (else the mean): a worker is then one that still measures
  truly, not one that merely keeps up (``workers_basis`` says which).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from loadkit.core.pricing import Price

__all__ = ["Projection", "project", "SECONDS_PER_DAY"]

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Projection:
    calls_per_day: float
    peak_ratio: float
    average_rps: float
    peak_rps: float
    mean_latency_s: float | None
    concurrency_mean: float | None  # Little's law with the mean latency
    concurrency_p95: float | None  # the same with the p95 latency (a planning upper figure)
    max_sustainable_rps: float | None
    headroom: float | None  # max_sustainable_rps / peak_rps
    mean_input_tokens: float | None
    mean_output_tokens: float | None
    cost_per_call_usd: float | None
    monthly_cost_usd: float | None
    rpm_needed: float
    tpm_needed: float | None
    generator_rps_per_core: float | None
    worker_margin: float
    workers_needed: int | None
    users_per_process: int | None = None  # from `loadkit calibrate`
    workers_basis: str | None = None  # "calibrated concurrency" | "requests per CPU-second" | None

    def to_dict(self) -> dict:
        return asdict(self)


def project(
    *,
    calls_per_day: float,
    peak_ratio: float,
    mean_latency_s: float | None,
    p95_latency_s: float | None = None,
    max_sustainable_rps: float | None,
    mean_input_tokens: float | None,
    mean_output_tokens: float | None,
    price: Price | None,
    generator_rps_per_core: float | None,
    worker_margin: float = 0.5,
    days_per_month: float = 30.0,
    users_per_process: int | None = None,
) -> Projection:
    """The plan for ``calls_per_day`` at ``peak_ratio`` (peak / average); see the module docstring."""
    if calls_per_day < 0 or peak_ratio < 1:
        raise ValueError(f"need calls_per_day >= 0 and peak_ratio >= 1 (got {calls_per_day}, {peak_ratio})")
    average_rps = calls_per_day / SECONDS_PER_DAY
    peak_rps = average_rps * peak_ratio
    concurrency_mean = None if mean_latency_s is None else peak_rps * mean_latency_s
    concurrency_p95 = None if p95_latency_s is None else peak_rps * p95_latency_s
    headroom = (max_sustainable_rps / peak_rps) if (max_sustainable_rps is not None and peak_rps > 0) else None
    cost_per_call = None
    if price is not None and mean_input_tokens is not None and mean_output_tokens is not None:
        cost_per_call = price.cost_usd(mean_input_tokens, mean_output_tokens)  # type: ignore[arg-type]
    monthly = None if cost_per_call is None else cost_per_call * calls_per_day * days_per_month
    tpm = None
    if mean_input_tokens is not None and mean_output_tokens is not None:
        tpm = peak_rps * 60.0 * (mean_input_tokens + mean_output_tokens)
    workers, basis = None, None
    concurrency = concurrency_p95 if concurrency_p95 is not None else concurrency_mean
    if users_per_process and concurrency is not None:
        workers = max(1, math.ceil(concurrency * (1.0 + worker_margin) / users_per_process - 1e-9))
        basis = "calibrated concurrency"
    elif generator_rps_per_core:
        workers = max(1, math.ceil(peak_rps * (1.0 + worker_margin) / generator_rps_per_core - 1e-9))
        basis = "requests per CPU-second"
    return Projection(
        calls_per_day=calls_per_day, peak_ratio=peak_ratio, average_rps=average_rps, peak_rps=peak_rps,
        mean_latency_s=mean_latency_s, concurrency_mean=concurrency_mean, concurrency_p95=concurrency_p95,
        max_sustainable_rps=max_sustainable_rps, headroom=headroom, mean_input_tokens=mean_input_tokens,
        mean_output_tokens=mean_output_tokens, cost_per_call_usd=cost_per_call, monthly_cost_usd=monthly,
        rpm_needed=peak_rps * 60.0, tpm_needed=tpm, generator_rps_per_core=generator_rps_per_core,
        worker_margin=worker_margin, workers_needed=workers, users_per_process=users_per_process,
        workers_basis=basis,
    )
