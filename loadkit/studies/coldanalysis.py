"""Cold-start analysis: probe settings, samples, and the warm/cold verdict per model.

Pure functions over :class:`ProbeSample` lists (no I/O), so a saved probe is
re-judged without a server. How a gap is judged is in
:mod:`loadkit.studies.coldstart`'s docstring; the penalty's confidence
interval comes from the one bootstrap (:mod:`loadkit.core.bootstrap`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from loadkit.client.chat import ChatRequest
from loadkit.core import values
from loadkit.core.records import RequestRecord
from loadkit.errors import ConfigError
from loadkit.core.bootstrap import Estimate, bootstrap_median_difference

__all__ = ["DEFAULT_GAPS_S", "ColdStartSettings", "GapResult", "ProbeSample", "ModelColdStart", "ConnectionCost",
           "ColdStartReport", "parse_duration_s", "parse_gaps", "default_probe_request", "analyse_model"]

DEFAULT_GAPS_S: tuple[float, ...] = (0.0, 30.0, 120.0, 300.0, 900.0)
MAD_TO_SD = 1.4826  # 1.4826 * MAD estimates a normal sample's standard deviation


def parse_duration_s(text: str) -> float:
    """Seconds in ``"0"``, ``"0.3"``, ``"300ms"``, ``"30s"``, ``"2m"``, ``"1h30m"``; raises ConfigError.

    The one duration parser of loadkit (:func:`loadkit.core.values.parse_duration_s`), as a ConfigError."""
    try:
        return values.parse_duration_s(text)
    except ValueError as exc:
        raise ConfigError(f"invalid duration {text!r}: {exc}") from None


def parse_gaps(text: str) -> tuple[float, ...]:
    """Idle gaps from a comma-separated list (``"0,30s,2m,5m,15m"``), sorted, in seconds."""
    gaps = tuple(sorted({parse_duration_s(part) for part in text.split(",") if part.strip()}))
    if not gaps:
        raise ConfigError(f"invalid --gaps {text!r}: give a comma-separated list like 0,30s,2m,5m,15m")
    return gaps


@dataclass(frozen=True)
class ColdStartSettings:
    """What the probe does and how it judges; validated on creation."""

    gaps_s: tuple[float, ...] = DEFAULT_GAPS_S
    repeats: int = 3
    followups: int = 2  # warm requests sent right after each probe (the warm baseline)
    mad_factor: float = 3.0
    min_penalty_ms: float = 20.0
    touch_connection: bool = True
    connection_pairs: int = 5
    resamples: int = 2000
    confidence: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.gaps_s or any(g < 0 for g in self.gaps_s):
            raise ConfigError(f"gaps_s must be a non-empty list of seconds >= 0, got {self.gaps_s!r}")
        object.__setattr__(self, "gaps_s", tuple(sorted(set(self.gaps_s))))
        if self.repeats < 1:
            raise ConfigError(f"repeats must be >= 1, got {self.repeats!r}")
        if self.followups < 0 or self.connection_pairs < 0:
            raise ConfigError("followups and connection_pairs must be >= 0")
        if not 0.5 <= self.confidence < 1.0:
            raise ConfigError(f"confidence must be in [0.5, 1), got {self.confidence!r}")
        if self.resamples < 100:
            raise ConfigError(f"resamples must be >= 100, got {self.resamples!r}")


@dataclass
class ProbeSample:
    """One request of the probe. ``kind``: first | probe | followup."""

    model: str
    kind: str
    gap_s: float
    idle_s: float | None  # measured idle of the model before the send (None: first request)
    ttft_ms: float | None
    e2e_ms: float
    outcome: str
    repeat: int
    record: RequestRecord = field(repr=False)


@dataclass
class GapResult:
    gap_s: float
    n: int
    failures: int
    idle_s_min: float | None
    ttft_median_ms: float | None
    e2e_median_ms: float | None
    ttft_ms: list[float]
    e2e_ms: list[float]
    cold: bool
    cold_share: float  # share of this gap's probes with TTFT above the cold cut


@dataclass
class ModelColdStart:
    model: str
    first_ttft_ms: float | None
    warm_ttft_median_ms: float | None
    warm_e2e_median_ms: float | None
    warm_ttft_spread_ms: float  # 1.4826 * MAD
    cold_cut_ms: float | None
    cold_after_s: float | None  # first cold gap; None when no gap was cold
    warm_up_to_s: float | None  # largest gap below it that stayed warm
    penalty_basis: str
    ttft_penalty: Estimate | None
    e2e_penalty: Estimate | None
    gaps: list[GapResult]
    warnings: list[str]
    samples: list[ProbeSample] = field(repr=False, default_factory=list)


@dataclass
class ConnectionCost:
    """TTFB on a new connection minus TTFB on the reused one, paired, ms."""

    model: str
    new_ttfb_ms: list[float]
    reused_ttfb_ms: list[float]
    ttfb_cost: Estimate | None
    failures: int


@dataclass
class ColdStartReport:
    settings: ColdStartSettings
    models: dict[str, ModelColdStart]
    connection: ConnectionCost | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able report (records left out; samples kept as numbers)."""
        models = {}
        for name, result in self.models.items():
            data = asdict(result)
            data["samples"] = [
                {k: v for k, v in asdict(s).items() if k != "record"} | {"cold_marked": s.record.cold}
                for s in result.samples
            ]
            models[name] = data
        settings = asdict(self.settings)
        settings["gaps_s"] = list(self.settings.gaps_s)
        return {"settings": settings, "models": models,
                "connection": asdict(self.connection) if self.connection else None}


def default_probe_request(model: str) -> ChatRequest:
    """A short streaming request: the probe wants TTFT, not long answers."""
    return ChatRequest(model, [{"role": "user", "content": "Reply with one short sentence."}], max_tokens=16)


def _median(values: Sequence[float]) -> float | None:
    return float(np.median(values)) if len(values) else None


def analyse_model(model: str, samples: Sequence[ProbeSample], settings: ColdStartSettings) -> ModelColdStart:
    """Judge warm baseline, cold threshold and penalty from a model's probe samples."""
    ok = [s for s in samples if s.outcome == "ok" and s.ttft_ms is not None]
    first = next((s.ttft_ms for s in samples if s.kind == "first"), None)
    warm = [s for s in ok if s.kind == "followup" or (s.kind == "probe" and s.gap_s == 0.0)]
    warnings: list[str] = []
    warm_ttft = [s.ttft_ms for s in warm]
    warm_median = _median(warm_ttft)
    spread = float(MAD_TO_SD * np.median(np.abs(np.asarray(warm_ttft) - warm_median))) if warm_ttft else 0.0
    cut = None if warm_median is None else warm_median + max(settings.mad_factor * spread, settings.min_penalty_ms)
    gaps: list[GapResult] = []
    for gap in settings.gaps_s:
        probes = [s for s in samples if s.kind == "probe" and s.gap_s == gap]
        good = [s for s in probes if s.outcome == "ok" and s.ttft_ms is not None]
        ttft = [s.ttft_ms for s in good]
        e2e = [s.e2e_ms for s in good]
        median = _median(ttft)
        cold = cut is not None and median is not None and median > cut
        share = sum(t > cut for t in ttft) / len(ttft) if ttft and cut is not None else 0.0
        idles = [s.idle_s for s in probes if s.idle_s is not None]
        gaps.append(GapResult(gap, len(probes), len(probes) - len(good), min(idles) if idles else None,
                              median, _median(e2e), ttft, e2e, cold, share))
    if warm_median is None:
        warnings.append("no successful warm request: cannot judge cold starts")
    cold_gaps = [g for g in gaps if g.cold]
    threshold = cold_gaps[0].gap_s if cold_gaps else None
    warm_up_to = None
    if threshold is not None:
        below = [g.gap_s for g in gaps if g.gap_s < threshold]
        warm_up_to = below[-1] if below else None
        later_warm = [g.gap_s for g in gaps if g.gap_s > threshold and not g.cold]
        if later_warm:
            warnings.append(f"gaps {later_warm} were warm although {threshold:g} s was cold: "
                            "the threshold is not monotone (noise, or a keep-warm policy); add repeats")
    if threshold is not None:
        cold_set = [s for s in ok if s.kind == "probe" and s.gap_s >= threshold]
        basis = f"probes after idle >= {threshold:g} s vs warm requests"
    else:
        largest = settings.gaps_s[-1]
        cold_set = [s for s in ok if s.kind == "probe" and s.gap_s == largest]
        basis = f"no gap was cold: largest gap {largest:g} s vs warm requests"
    ttft_penalty = e2e_penalty = None
    if cold_set and warm:
        kw = dict(resamples=settings.resamples, confidence=settings.confidence, seed=settings.seed)
        ttft_penalty = bootstrap_median_difference([s.ttft_ms for s in cold_set], warm_ttft, **kw)
        e2e_penalty = bootstrap_median_difference([s.e2e_ms for s in cold_set], [s.e2e_ms for s in warm], **kw)
    return ModelColdStart(
        model=model,
        first_ttft_ms=first,
        warm_ttft_median_ms=warm_median,
        warm_e2e_median_ms=_median([s.e2e_ms for s in warm]),
        warm_ttft_spread_ms=spread,
        cold_cut_ms=cut,
        cold_after_s=threshold,
        warm_up_to_s=warm_up_to,
        penalty_basis=basis,
        ttft_penalty=ttft_penalty,
        e2e_penalty=e2e_penalty,
        gaps=gaps,
        warnings=warnings,
        samples=list(samples),
    )


