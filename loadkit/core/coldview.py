"""Cold starts judged from the whole run's view, not one worker's.

Each worker marks a request cold when *it* has not sent to the model for
``idle_s``; with several workers, the gateway only saw the model idle if *no*
worker sent to it. Workers therefore report, per model, the wall-clock seconds
in which they sent anything (as compact ``[first, last]`` runs) and the send
times of the requests they marked cold; :func:`cold_count_all_workers` keeps a
cold mark only when no worker was active in the ``idle_s`` before it
(1-second resolution).
"""

from __future__ import annotations

__all__ = ["ActivityLog", "cold_count_all_workers", "merge_runs"]


class ActivityLog:
    """Per model: seconds with at least one send, and the send times of cold-marked requests."""

    def __init__(self) -> None:
        self._active: dict[str, set[int]] = {}
        self.cold_events: dict[str, list[float]] = {}

    def note(self, model: str, wall_s: float, cold: bool) -> None:
        self._active.setdefault(model, set()).add(int(wall_s))
        if cold:
            self.cold_events.setdefault(model, []).append(wall_s)

    def to_dict(self) -> dict:
        return {"active": {m: merge_runs([[s, s] for s in secs]) for m, secs in self._active.items()},
                "cold_events": {m: list(v) for m, v in self.cold_events.items()}}


def merge_runs(runs: list[list[int]]) -> list[list[int]]:
    """Union of inclusive integer ranges ``[first, last]``, sorted, adjacent ranges joined."""
    out: list[list[int]] = []
    for first, last in sorted(runs):
        if out and first <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], last)
        else:
            out.append([first, last])
    return out


def _active_between(runs: list[list[int]], lo: int, hi: int) -> bool:
    """True when any second in ``[lo, hi]`` (inclusive) is active."""
    if hi < lo:
        return False
    return any(first <= hi and last >= lo for first, last in runs)


def cold_count_all_workers(logs: list[dict], idle_s: float) -> dict[str, int]:
    """Per model, how many cold marks remain cold when every worker's activity is considered."""
    models = {m for log in logs for m in log.get("cold_events", {})}
    out: dict[str, int] = {}
    for model in models:
        runs = merge_runs([r for log in logs for r in log.get("active", {}).get(model, [])])
        events = sorted(t for log in logs for t in log.get("cold_events", {}).get(model, []))
        count = 0
        for t in events:
            second = int(t)
            # activity strictly before this request's own second, within idle_s
            if not _active_between(runs, second - int(idle_s), second - 1) and not _earlier_event_same_second(events, t):
                count += 1
        out[model] = count
    return out


def _earlier_event_same_second(events: list[float], t: float) -> bool:
    """Another cold mark earlier in the same second: that one was the cold request, this one rode on it."""
    return any(other < t and int(other) == int(t) for other in events)
