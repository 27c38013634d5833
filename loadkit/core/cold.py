"""Cold tracking for the load path: which request met a cold model.

:class:`ColdTracker` is the rule one process uses to mark records cold
(first request to a model, or first after ``idle_s`` without activity); the
preflight's requests are activity too (:meth:`ColdTracker.seed`), so the run's
first request after a warm preflight is warm. :class:`ActivityLog` and
:func:`cold_count_all_workers` judge the marks from every worker's view
(:mod:`loadkit.core.coldview`).
"""

from __future__ import annotations

from collections.abc import Mapping

from loadkit.core.coldview import ActivityLog, cold_count_all_workers, merge_runs
from loadkit.core.stats import RunStats
from loadkit.errors import ConfigError

__all__ = ["ColdTracker", "ActivityLog", "cold_count_all_workers", "merge_runs", "PREFLIGHT_E2E_NOTE",
           "preflight_cold_samples", "seed_from_preflight", "with_preflight_cold", "cold_source"]

PREFLIGHT_E2E_NOTE = "preflight-sized answer (1 token): not comparable with the run's e2e"


class ColdTracker:
    """Marks a request cold: the model's first, or first after ``idle_s`` without activity.

    Activity is a send (:meth:`mark_send`) and, when the caller reports it, a
    finished request (:meth:`mark_done`). Without :meth:`mark_done` this is
    exactly ``Runtime.mark_cold`` (idle measured from the last send); with it,
    idle is measured from the end of the last request, as the simulator does.
    """

    def __init__(self, idle_s: float) -> None:
        if idle_s < 0:
            raise ConfigError(f"idle_s must be >= 0, got {idle_s!r}")
        self.idle_s = idle_s
        self._last_activity: dict[str, float] = {}

    def mark_send(self, model: str, now: float) -> bool:
        """Record a send to ``model`` at ``now`` (seconds); True when that send is cold."""
        last = self._last_activity.get(model)
        self._last_activity[model] = now
        return last is None or now - last >= self.idle_s

    def mark_done(self, model: str, now: float) -> None:
        """Record that a request to ``model`` finished at ``now`` (seconds)."""
        last = self._last_activity.get(model)
        if last is None or now > last:
            self._last_activity[model] = now



    def seed(self, model: str, at: float) -> None:
        """Activity that is not a run request (the preflight's) at ``at`` (seconds, the tracker's clock)."""
        self.mark_done(model, at)


def preflight_cold_samples(preflight: Mapping | None) -> dict[str, dict]:
    """The preflight's successful first request per model (``cold_samples`` of its result), or {}."""
    samples = (preflight or {}).get("cold_samples") or {}
    return {model: s for model, s in samples.items() if s.get("ok") and s.get("ttft_ms") is not None}


def seed_from_preflight(tracker: ColdTracker, activity: ActivityLog | None, preflight: Mapping | None, *,
                        now_s: float, now_unix_s: float) -> list[str]:
    """Tell the tracker (clock ``now_s``) and the activity log when each model's preflight request ended.

    The preflight's request is the model's first, so it met the cold start;
    the run's first request after it is cold only if it comes ``idle_s``
    later. Returns the models seeded.
    """
    seeded = []
    for model, sample in preflight_cold_samples(preflight).items():
        ended_unix_s = float(sample["ended_unix_s"])
        tracker.seed(model, now_s - (now_unix_s - ended_unix_s))
        if activity is not None:
            activity.note(model, ended_unix_s, False)
        seeded.append(model)
    return seeded


def with_preflight_cold(stats: RunStats, preflight: Mapping | None) -> RunStats:
    """A copy of ``stats`` with each model's preflight cold sample in its cold histograms.

    The sample is a cold start, not a request of the run: it adds to
    ``cold_count`` and the ``cold_ttft_ms`` / ``cold_e2e_ms`` histograms only
    (its e2e is a one-token answer: :data:`PREFLIGHT_E2E_NOTE`), so request
    counts and warm percentiles are unchanged.
    """
    # only models the run loaded: a preflighted model the run never sent to (e.g. a web UI model mix
    # without it) is not one of the run's models
    samples = {m: v for m, v in preflight_cold_samples(preflight).items() if m in stats.models}
    if not samples:
        return stats
    out = RunStats(stats.prices)
    out.merge(stats)
    for model, sample in samples.items():
        block = out.models[model]
        block.cold_count += 1
        block.h["cold_ttft_ms"].record(float(sample["ttft_ms"]))
        block.h["cold_e2e_ms"].record(float(sample["e2e_ms"]))
    return out


def cold_source(preflight: Mapping | None, model: str) -> str:
    """``"preflight"`` when the model's cold sample is the preflight's request, else ``"run"``
    (for a model of the run's summary: :func:`with_preflight_cold` adds samples of those only)."""
    return "preflight" if model in preflight_cold_samples(preflight) else "run"
