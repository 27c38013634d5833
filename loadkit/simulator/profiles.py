"""Latency, length and task-success profiles of the simulated models.

The `reference` profile is calibrated to the published gateway review in
DESIGN.md: end-to-end latency of an uncut answer is log-normal with the
table's median and p95 (sigma = ln(p95 / median) / 1.645).  35 % of that
end-to-end time is time to first token; the rest is spread evenly over the
remaining tokens, so an answer cut short by ``max_tokens`` simply finishes
earlier.  `fixed` uses exact timings from ``--fixed``; `zero` never sleeps.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

DEFAULT_MODELS: tuple[str, ...] = (
    "claude-4-haiku",
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1",
    "claude-4-sonnet",
    "claude-sonnet-4.5",
    "gemini-2.5-flash",
    "deepseek-v3.2",
)

CATEGORIES: tuple[str, ...] = ("code", "summarization", "factual", "creative", "math")

# (median_ms, p95_ms) of end-to-end latency for a typical answer.
REFERENCE_E2E_MS: dict[str, tuple[float, float]] = {
    "claude-4-haiku": (820.0, 1450.0),
    "gpt-4o-mini": (580.0, 980.0),
    "gpt-4o": (900.0, 1600.0),
    "gpt-4.1": (950.0, 1700.0),
    "claude-4-sonnet": (1300.0, 2300.0),
    "claude-sonnet-4.5": (1400.0, 2500.0),
    "gemini-2.5-flash": (500.0, 900.0),
    "deepseek-v3.2": (1100.0, 2200.0),
}
OTHER_MODEL_E2E_MS = (800.0, 1400.0)
TTFT_SHARE = 0.35

# DESIGN.md's cold start, read as what loadkit reports for it: a cold request's time to first token.
REFERENCE_COLD_TTFT_MS: dict[str, float] = {"claude-4-haiku": 2100.0, "gpt-4o-mini": 1400.0}
# Extra delay before the first token of a cold request: the reference cold start minus the median warm
# TTFT (TTFT_SHARE of the median latency), so a cold request's median TTFT is the table's cold start:
# claude-4-haiku 2100 - 287 = 1813 ms, gpt-4o-mini 1400 - 203 = 1197 ms.
DEFAULT_COLD_START_MS: dict[str, float] = {
    model: round(cold_ttft_ms - TTFT_SHARE * REFERENCE_E2E_MS[model][0], 1)
    for model, cold_ttft_ms in REFERENCE_COLD_TTFT_MS.items()
}
OTHER_MODEL_COLD_START_MS = 600.0

# Median output length in tokens per task category; log-normal, sigma 0.4.
LENGTH_MEDIAN_TOKENS: dict[str, float] = {
    "code": 180.0,
    "summarization": 90.0,
    "factual": 60.0,
    "creative": 200.0,
    "math": 80.0,
    "": 120.0,
}
LENGTH_SIGMA = 0.4
MAX_SAMPLED_TOKENS = 4096

DEFAULT_TASK_SUCCESS: dict[str, dict[str, float]] = {
    "claude-4-haiku": {
        "code": 0.784,
        "summarization": 0.912,
        "factual": 0.846,
        "creative": 0.873,
        "math": 0.718,
    },
    "gpt-4o-mini": {
        "code": 0.821,
        "summarization": 0.887,
        "factual": 0.863,
        "creative": 0.829,
        "math": 0.762,
    },
}
OTHER_TASK_SUCCESS = 0.8


@dataclass(frozen=True)
class FixedTiming:
    """Exact timings of the `fixed` profile; ``tokens`` None means sampled length."""

    ttft_ms: float = 0.0
    itl_ms: float = 0.0
    tokens: int | None = None


@dataclass(frozen=True)
class Timing:
    """Timing plan of one answer, relative to the start of service, in ms."""

    ttft_ms: float
    itl_ms: float


def lognormal_sigma(median_ms: float, p95_ms: float) -> float:
    """Return the log-normal sigma whose median and p95 are the given values."""
    return math.log(p95_ms / median_ms) / 1.645


def sample_length(rng: random.Random, category: str) -> int:
    """Return a sampled uncut answer length in tokens for a task category."""
    median = LENGTH_MEDIAN_TOKENS.get(category, LENGTH_MEDIAN_TOKENS[""])
    tokens = int(round(rng.lognormvariate(math.log(median), LENGTH_SIGMA)))
    return max(1, min(MAX_SAMPLED_TOKENS, tokens))


def sample_reference_timing(rng: random.Random, model: str, uncut_tokens: int) -> Timing:
    """Return the reference-profile timing of an answer of ``uncut_tokens`` tokens."""
    median_ms, p95_ms = REFERENCE_E2E_MS.get(model, OTHER_MODEL_E2E_MS)
    e2e_ms = rng.lognormvariate(math.log(median_ms), lognormal_sigma(median_ms, p95_ms))
    ttft_ms = TTFT_SHARE * e2e_ms
    itl_ms = (e2e_ms - ttft_ms) / max(1, uncut_tokens - 1)
    return Timing(ttft_ms=ttft_ms, itl_ms=itl_ms)


def default_cold_start_ms(model: str) -> float:
    """Return the default cold-start penalty of a model in ms."""
    return DEFAULT_COLD_START_MS.get(model, OTHER_MODEL_COLD_START_MS)


def default_task_success(model: str, category: str) -> float:
    """Return the default probability that an answer of this model/category passes."""
    return DEFAULT_TASK_SUCCESS.get(model, {}).get(category, OTHER_TASK_SUCCESS)
