"""Where a model's capacity lies: the step search and the knee of the latency curve.

Pure logic over one callable, ``run_step(level) -> passed``, where ``level``
is an offered rate (requests/s) or a number of concurrent users. Tested
without a server; driven by :class:`loadkit.studies.driver.StepDriver`.

Search (both stop at the first failing step: once the SLO is broken, more
load only costs the target):

- ``linear``: ``start, start + step, …`` up to ``max``; the answer is the
  last passing level, known to within ``step``.
- ``bisect``: the same coarse sweep, then bisection between the last passing
  and the first failing level until they are ``resolution`` apart (default
  ``step / 8``). A linear sweep at that resolution would have needed
  ``linear_equivalent_steps`` steps to reach the same first failing level;
  both numbers are reported.

Knee: Kneedle (Satopää et al., 2011) on the latency curve: levels and
latencies are normalised to [0, 1] and the knee is the level where
``x_norm - y_norm`` is largest — for a flat-then-rising (convex, increasing)
curve, the last level before latency takes off.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["SearchStep", "SearchResult", "search_capacity", "kneedle", "SEARCH_MODES"]

SEARCH_MODES = ("bisect", "linear")


@dataclass(frozen=True, slots=True)
class SearchStep:
    index: int
    phase: str  # "sweep" | "bisect"
    level: float
    passed: bool


@dataclass
class SearchResult:
    """The search's answer; levels in the unit of the search (requests/s or users)."""

    mode: str
    resolution: float
    steps: list[SearchStep] = field(default_factory=list)
    last_pass: float | None = None  # highest passing level (the max sustainable one)
    first_fail: float | None = None  # lowest failing level (None: never failed up to max)
    linear_equivalent_steps: int = 0

    @property
    def steps_taken(self) -> int:
        return len(self.steps)

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "resolution": self.resolution,
            "steps_taken": self.steps_taken,
            "linear_equivalent_steps": self.linear_equivalent_steps,
            "last_pass": self.last_pass,
            "first_fail": self.first_fail,
        }


def _levels(start: float, stop: float, step: float, integer: bool) -> list[float]:
    out: list[float] = []
    k = 0
    while True:
        level = start + k * step
        if integer:
            level = float(round(level))
        if level > stop * (1 + 1e-9):
            break
        if not out or level != out[-1]:
            out.append(level)
        k += 1
    if out and out[-1] < stop * (1 - 1e-9):
        out.append(float(round(stop)) if integer else float(stop))  # always try the maximum asked for
    return out


def search_capacity(
    run_step: Callable[[float], bool],
    *,
    start: float,
    stop: float,
    step: float,
    mode: str = "bisect",
    resolution: float | None = None,
    integer: bool = False,
) -> SearchResult:
    """Find the highest level whose step passes; returns every step run and the bracket found.

    ``integer`` rounds levels (concurrency steps). Raises ValueError on a bad range."""
    if mode not in SEARCH_MODES:
        raise ValueError(f"search mode {mode!r} is not one of {', '.join(SEARCH_MODES)}")
    if not (0 < start <= stop) or not step > 0 or math.isinf(stop):
        raise ValueError(f"need 0 < start <= max and step > 0 (got start={start}, max={stop}, step={step})")
    if resolution is None:
        resolution = step if mode == "linear" else step / 8.0
    if integer:
        resolution = max(1.0, float(round(resolution)))
    if not resolution > 0:
        raise ValueError(f"resolution must be > 0 (got {resolution})")
    result = SearchResult(mode=mode, resolution=resolution)

    def run(phase: str, level: float) -> bool:
        passed = bool(run_step(level))
        result.steps.append(SearchStep(len(result.steps), phase, level, passed))
        return passed

    for level in _levels(start, stop, step, integer):
        if run("sweep", level):
            result.last_pass = level
        else:
            result.first_fail = level
            break
    if mode == "bisect" and result.first_fail is not None and result.last_pass is not None:
        low, high = result.last_pass, result.first_fail
        while high - low > resolution * (1 + 1e-9):
            mid = (low + high) / 2.0
            if integer:
                mid = float(math.floor(mid))
                if mid <= low:
                    break
            if run("bisect", mid):
                low = mid
            else:
                high = mid
        result.last_pass, result.first_fail = low, high
    # Steps a linear sweep at this resolution would have run to reach the same first failing level.
    end = result.first_fail if result.first_fail is not None else (result.last_pass or start)
    result.linear_equivalent_steps = int(math.floor((end - start) / resolution + 1e-9)) + 1
    return result


def kneedle(levels: Sequence[float], values: Sequence[float | None]) -> int | None:
    """Index (into ``levels``) of the knee of an increasing convex curve, or None.

    None when fewer than 3 usable points or the curve has no knee (it never
    rises faster than linearly, so ``x_norm - y_norm`` never exceeds 0)."""
    points = sorted((x, y, i) for i, (x, y) in enumerate(zip(levels, values)) if y is not None)
    if len(points) < 3:
        return None
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x_span, y_span = xs[-1] - xs[0], max(ys) - min(ys)
    if x_span <= 0 or y_span <= 0:
        return None
    y0 = min(ys)
    best_index, best_gap = None, 0.0
    for x, y, index in points:
        gap = (x - xs[0]) / x_span - (y - y0) / y_span
        if gap > best_gap + 1e-12:
            best_index, best_gap = index, gap
    return best_index
