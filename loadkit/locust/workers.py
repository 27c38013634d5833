"""The master's view of its workers: their newest snapshots, who joined, who was lost, the final round."""

from __future__ import annotations

import logging
import time
from typing import Any

from loadkit.core.snapshot import MergedView, WorkerSnapshot, merge

log = logging.getLogger("loadkit")

__all__ = ["WorkerView"]


class WorkerView:
    def __init__(self) -> None:
        self.snapshots: dict[str, WorkerSnapshot] = {}  # client id -> newest snapshot
        self.joined: dict[str, float] = {}
        self.lost: dict[str, dict] = {}
        self.watcher: Any = None
        self.final_collected: list[str] | None = None  # ids that never sent a final report
        self._version = 0  # bumped by every snapshot received
        self._cached: tuple[Any, int, MergedView] | None = None

    def reset(self) -> None:
        self.snapshots, self.lost, self.final_collected = {}, {}, None

    def receive(self, client_id: str, data: dict[str, Any]) -> None:
        """A worker's snapshot (periodic or final) arrived."""
        snap = WorkerSnapshot.from_wire(data)
        self.snapshots[client_id] = snap.newer(self.snapshots.get(client_id))
        self._version += 1

    def is_final(self, client_id: str) -> bool:
        snap = self.snapshots.get(client_id)
        return bool(snap and snap.final)

    def merged(self, own: WorkerSnapshot | None = None) -> MergedView:
        """The merge of the newest snapshots (plus ``own``). Without ``own`` it is cached until the next snapshot
        arrives: the LLM tab's summary and charts, refreshed every 2 s, share one merge per report. Read-only."""
        if own is not None:
            return merge(list(self.snapshots.values()), own)
        cached = self._cached
        if cached is not None and cached[0] is self.snapshots and cached[1] == self._version:
            return cached[2]
        view = merge(list(self.snapshots.values()))
        self._cached = (self.snapshots, self._version, view)
        return view

    def note_lost(self, client_id: str, reason: str, after_s: float) -> None:
        last = self.snapshots.get(client_id)
        self.lost[client_id] = {"lost_at": time.time(), "lost_after_s": round(after_s, 3), "reason": reason,
                                "last_report_at": last.sent_at if last else None}
        log.warning("worker %s lost (%s) %.1f s into the run; its last report (%s requests) is kept",
                    client_id, reason, after_s, last.requests if last else 0)

    def section(self, silent: list[str], require_workers: int) -> dict[str, Any]:
        """summary.json ``workers`` of a master.

        A worker is lost when it went missing (heartbeats stopped) or sent no final report; its last
        periodic snapshot stays in the merge, so only what it did after that report is missing. The
        trust judgement of finished vs required is core/trust.py's."""
        lost_ids = sorted(set(silent) | set(self.lost))
        nodes: dict[str, Any] = {}
        for cid in sorted(set(self.snapshots) | set(self.joined) | set(lost_ids)):
            s = self.snapshots.get(cid)
            lag = s.stats.totals().h["schedule_lag_ms"].summary() if s else None
            node = {
                "worker": s.worker if s else None,
                "requests": s.requests if s else 0,
                "rps": s.requests / s.duration_s if s and s.duration_s else None,
                "cpu_percent_mean": s.cpu_percent_mean if s else None,
                "cpu_percent_max": s.cpu_percent_max if s else None,
                "schedule_lag_ms": {k: lag[k] for k in ("p50", "p99", "max")} if lag else None,
                "sink_dropped": s.sink.get("dropped", 0) if s else 0,
                "final": bool(s and s.final),
                "last_report_at": s.sent_at if s else None,
                "state": "lost" if cid in lost_ids else "finished",
            }
            if cid in self.lost:
                node.update({k: self.lost[cid][k] for k in ("lost_at", "lost_after_s", "reason")})
            elif cid in silent:
                node.update({"lost_at": None, "lost_after_s": None, "reason": "no final report"})
            nodes[cid] = node
        finished = sum(1 for n in nodes.values() if n["final"])
        section: dict[str, Any] = {"count": len(nodes), "finished": finished,
                                   "required": require_workers or len(nodes), "nodes": nodes}
        if lost_ids:
            section["lost"] = lost_ids
        return section
