"""The one bootstrap: percentile confidence intervals by resampling, seeded numpy.

Used by the cold-start probe, the overhead study and (through
:func:`resample_statistic`) ``compare``. A statistic is a percentile ``q`` in
[0, 100], or the mean when ``q < 0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Estimate", "statistic", "resample_statistic", "bootstrap_median_difference"]

# Resample in batches of at most this many values, so a long run's sample never allocates resamples x n at once.
MAX_BATCH_VALUES = 4_000_000


@dataclass
class Estimate:
    """A point estimate in ms with its bootstrap confidence interval."""

    value_ms: float
    ci_low_ms: float
    ci_high_ms: float
    confidence: float
    n: int

    def contains(self, value_ms: float) -> bool:
        return self.ci_low_ms <= value_ms <= self.ci_high_ms


def statistic(values: np.ndarray, q: float, axis: int | None = None) -> np.ndarray | float:
    """The mean (``q < 0``) or the ``q``-th percentile of ``values`` along ``axis``."""
    return values.mean(axis=axis) if q < 0 else np.percentile(values, q, axis=axis)


def resample_statistic(values: np.ndarray, q: float, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``resamples`` bootstrap replicates of :func:`statistic` (``q``) over ``values``, drawn from ``rng``."""
    n = len(values)
    out = np.empty(resamples)
    batch = max(1, MAX_BATCH_VALUES // max(n, 1))
    for start in range(0, resamples, batch):
        stop = min(resamples, start + batch)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = statistic(values[idx], q, axis=1)
    return out


def bootstrap_median_difference(
    a_ms: Sequence[float],
    b_ms: Sequence[float] | None = None,
    *,
    paired: bool = False,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Median difference ``a - b`` in ms with a percentile bootstrap CI (seeded numpy).

    ``paired``: ``a`` and ``b`` are pairs; the statistic is the median of the
    per-pair differences and pairs are resampled together. Unpaired: the
    statistic is ``median(a) - median(b)``, each sample resampled on its own.
    ``b`` omitted: the median of ``a`` itself.
    """
    a = np.asarray(a_ms, dtype=float)
    if b_ms is None:
        b = np.zeros_like(a)
        paired = True
    else:
        b = np.asarray(b_ms, dtype=float)
    if a.size == 0 or b.size == 0:
        raise ValueError("bootstrap needs at least one value on each side")
    rng = np.random.default_rng(seed)
    tail = (1.0 - confidence) / 2.0 * 100.0
    if paired:
        if a.size != b.size:
            raise ValueError(f"paired samples differ in length: {a.size} != {b.size}")
        diff = a - b
        value = float(np.median(diff))
        stats = resample_statistic(diff, 50.0, resamples, rng)
        n = int(diff.size)
    else:
        value = float(np.median(a) - np.median(b))
        stats = resample_statistic(a, 50.0, resamples, rng) - resample_statistic(b, 50.0, resamples, rng)
        n = int(min(a.size, b.size))
    low, high = np.percentile(stats, [tail, 100.0 - tail])
    return Estimate(value, float(low), float(high), confidence, n)
