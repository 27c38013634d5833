"""Recording one attempt: stats, windows, Locust's request event and the sink, nothing else."""

from __future__ import annotations

import logging
import time
from typing import Any

from loadkit.core.metrics import e2e_ms
from loadkit.core.records import RequestRecord
from loadkit.core.stats import RunStats
from loadkit.core.windows import WindowStats

log = logging.getLogger("loadkit")

__all__ = ["Recorder", "LLMRequestFailed"]

_ERROR_LOG_EVERY_S = 10.0


class LLMRequestFailed(Exception):
    """What Locust's failure table shows: a stable ``<outcome>: <key>`` text, no raw server text."""


class Recorder:
    """Feeds every attempt record to the mergeable stats and windows, Locust's request event (name = model,
    so Locust's own tables and UI work) and the sink. Nothing here blocks on I/O."""

    def __init__(self) -> None:
        self.stats = RunStats()
        self.windows = WindowStats()
        self.request_event: Any = None
        self.sink: Any = None
        self._error_lines: dict[str, float] = {}

    def reset(self, stats: RunStats | None = None) -> None:
        """Numbers start again (a new run or Reset in the web UI)."""
        self.stats = stats if stats is not None else RunStats(self.stats.prices)
        self.windows = WindowStats(self.windows.window_s)

    def account(self, rec: RequestRecord) -> None:
        cost = self.stats.add(rec)
        self.windows.add(rec)
        if self.request_event is not None:
            exc = None
            if rec.outcome != "ok":
                exc = LLMRequestFailed(f"{rec.outcome}: {rec.error_key or rec.status}")
            self.request_event.fire(
                request_type="STREAM" if rec.stream else "CHAT", name=rec.model, response_time=e2e_ms(rec),
                response_length=rec.output_tokens, response=None, context={}, exception=exc,
                start_time=rec.started_wall_ns / 1e9, url=None,
            )
        if self.sink is not None:
            self.sink.submit(rec, cost)
        if rec.outcome not in ("ok", "rate_limited"):
            self._log_error_once(rec)

    def _log_error_once(self, rec: RequestRecord) -> None:
        """One line per error kind per 10 s, never a traceback per request."""
        key = f"{rec.model}:{rec.outcome}:{rec.error_key}"
        now = time.monotonic()
        if now - self._error_lines.get(key, -1e9) >= _ERROR_LOG_EVERY_S:
            self._error_lines[key] = now
            log.warning("%s request failed: %s (%s); further ones are counted, not logged, for 10 s",
                        rec.model, rec.outcome, rec.error_key)
