"""Cold tracking for the load path: which request met a cold model.

:class:`ColdTracker` is the rule one process uses to mark records cold
(first request to a model, or first after ``idle_s`` without activity); the
preflight's requests are activity too (:meth:`ColdTracker.seed`), so the run's
first request after a warm preflight is warm. :class:`ActivityLog` and
:func:`cold_count_all_workers` judge the marks from every worker's view
(:mod:`loadkit.core.coldview`).
"""

from __future__ import annotations

from loadkit.core.coldview import ActivityLog, cold_count_all_workers, merge_runs
from loadkit.errors import ConfigError

__all__ = ["ColdTracker", "ActivityLog", "cold_count_all_workers", "merge_runs"]


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


