"""RequestRecord: the raw facts of one request attempt.

Timestamps are ``time.perf_counter()`` seconds (monotonic, same clock for every
record of a process); ``started_wall_ns`` anchors them to the wall clock for
InfluxDB. Nothing here is derived: every metric is a pure function in
:mod:`loadkit.core.metrics`, so a metric can be fixed and recomputed from saved
records.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["RequestRecord", "OUTCOMES", "INTERRUPTED_IN_FLIGHT", "INTERRUPTED_WAITING", "record_to_dict",
           "record_from_dict"]

# The closed set of outcomes (DESIGN.md "Measurements").
OUTCOMES = (
    "ok",
    "rate_limited",
    "client_error",
    "upstream_error",
    "in_stream_error",
    "truncated",
    "timeout",
    "connect_error",
    # the gateway answered 200 but withheld the answer (finish_reason "content_filter")
    "content_filter",
    # the run stopped while the request was in flight (or waiting to retry): the gateway may have served it
    "interrupted",
)

# Error keys of an ``interrupted`` record: cut while its attempt was with the gateway (an attempt, maybe
# served), or while waiting to retry a 429 (no attempt: the chain's attempts so far are already accounted).
INTERRUPTED_IN_FLIGHT = "interrupted_in_flight"
INTERRUPTED_WAITING = "interrupted_waiting"


@dataclass(slots=True)
class RequestRecord:
    model: str
    category: str = "generic"
    stream: bool = True
    target: str = "gateway"
    worker: str = "local"
    attempt: int = 1
    # perf_counter seconds
    intended_at: float = 0.0
    sent_at: float = 0.0
    headers_at: float | None = None
    first_event_at: float | None = None
    first_token_at: float | None = None
    done_at: float = 0.0
    token_times: list[float] = field(default_factory=list)
    # wall clock at sent_at, nanoseconds since the epoch (for sinks)
    started_wall_ns: int = 0
    status: int | None = None
    outcome: str = "ok"
    error_key: str | None = None
    finish_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    usage_reported: bool = False
    estimated_output_tokens: int = 0
    # 429 accounting: time this request spent waiting before this attempt
    throttled_s: float = 0.0
    # perf_counter of the first attempt's send (None: this is the first attempt)
    first_sent_at: float | None = None
    retry_after_s: float | None = None
    ratelimit_remaining_requests: int | None = None
    ratelimit_remaining_tokens: int | None = None
    final: bool = True
    cold: bool = False
    fallback_from: str | None = None
    task_ok: bool | None = None
    content: str | None = None
    # The generator's own error (issue 17): how late this attempt's chunks were read, ms. ``timing_clock``
    # says which clock stamped its chunks and how the lag is known: "loop" (the read's own time; the lag
    # is an upper bound from late wakes of the event-loop probe, loadkit.core.readlag), "kernel" (the
    # kernel's receive time, SO_TIMESTAMPNS on the gevent transport; the lag is measured: read time minus
    # arrival, and is not in the timings), None: not measured (no monitor, e.g. plain ChatClient use).
    first_token_read_lag_ms: float | None = None
    read_lag_ms: float | None = None
    timing_clock: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.outcome == "ok"


_FIELD_NAMES = None


def record_to_dict(record: RequestRecord, *, include_content: bool = False) -> dict[str, Any]:
    """Plain dict of a record (for JSONL); ``content`` only when asked."""
    global _FIELD_NAMES
    if _FIELD_NAMES is None:
        _FIELD_NAMES = [f.name for f in fields(RequestRecord)]
    out = {name: getattr(record, name) for name in _FIELD_NAMES}
    if not include_content:
        out.pop("content", None)
    return out


def record_from_dict(data: dict[str, Any]) -> RequestRecord:
    """Inverse of :func:`record_to_dict`; unknown keys are ignored (newer files)."""
    global _FIELD_NAMES
    if _FIELD_NAMES is None:
        _FIELD_NAMES = [f.name for f in fields(RequestRecord)]
    return RequestRecord(**{k: v for k, v in data.items() if k in _FIELD_NAMES})
