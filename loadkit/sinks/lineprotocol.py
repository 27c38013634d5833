"""InfluxDB line protocol: escaping and the three loadkit measurements.

Pure functions, no I/O. ``llm_request`` points are formatted from a
RequestRecord by :class:`RequestPointFormatter`, which also makes timestamps
unique per worker: two points with the same series and timestamp overwrite each
other in InfluxDB, so a timestamp at or before the last one used becomes
``last + 1`` ns. The shift is at most the spread of start times among requests
that finish out of order (a request's duration), and it makes every point of a
worker distinct, which also makes retried writes idempotent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from loadkit.core import metrics
from loadkit.core.records import RequestRecord

__all__ = [
    "escape_measurement",
    "escape_tag",
    "escape_field_string",
    "format_fields",
    "format_point",
    "UniqueClock",
    "RequestPointFormatter",
    "REQUEST_MEASUREMENT",
    "WORKER_MEASUREMENT",
    "RUN_MEASUREMENT",
]

REQUEST_MEASUREMENT = "llm_request"
WORKER_MEASUREMENT = "loadkit_worker"
RUN_MEASUREMENT = "loadkit_run"

_MEASUREMENT_TABLE = str.maketrans({",": "\\,", " ": "\\ ", "\n": " ", "\r": " "})
_TAG_TABLE = str.maketrans({",": "\\,", " ": "\\ ", "=": "\\=", "\n": "\\ ", "\r": "\\ "})


def escape_measurement(name: str) -> str:
    """Measurement name with commas and spaces escaped."""
    return name.translate(_MEASUREMENT_TABLE)


def escape_tag(text: str) -> str:
    """Tag key, tag value or field key with commas, spaces and ``=`` escaped.

    Line protocol cannot carry a newline in a key or tag, so it becomes a
    space; a trailing backslash would escape the separator after it, so it is
    doubled."""
    out = text.translate(_TAG_TABLE)
    if out.endswith("\\") and not out.endswith("\\\\"):
        out += "\\"
    return out


def escape_field_string(text: str) -> str:
    """A string field value, quoted, with backslashes and quotes escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _finite(value: float) -> bool:
    return value == value and value not in (math.inf, -math.inf)


def format_fields(fields: Mapping[str, object], ints: frozenset[str] = frozenset()) -> str:
    """``k=v,...``: floats as floats, names in ``ints`` as ``Ni``, bools and
    strings as such; None, NaN and infinities are left out (line protocol has
    no null)."""
    parts = []
    for key, value in fields.items():
        if value is None:
            continue
        k = escape_tag(key)
        if isinstance(value, bool):
            parts.append(f"{k}={'true' if value else 'false'}")
        elif isinstance(value, str):
            parts.append(f"{k}={escape_field_string(value)}")
        elif key in ints:
            parts.append(f"{k}={int(value)}i")
        else:
            v = float(value)
            if _finite(v):
                parts.append(f"{k}={v!r}")
    return ",".join(parts)


def format_point(measurement: str, tags: Mapping[str, str], fields_text: str, timestamp_ns: int) -> str:
    """One line (no newline) from a measurement, tags (empty values left out,
    keys sorted as InfluxDB prefers), pre-formatted fields and a timestamp."""
    tag_text = "".join(
        f",{escape_tag(str(k))}={escape_tag(str(v))}" for k, v in sorted(tags.items()) if v is not None and str(v) != ""
    )
    return f"{escape_measurement(measurement)}{tag_text} {fields_text} {timestamp_ns}"


class UniqueClock:
    """Strictly increasing nanosecond timestamps: ``next(ts)`` is ``ts`` unless
    that is not after the last one handed out, then ``last + 1``."""

    __slots__ = ("last_ns",)

    def __init__(self) -> None:
        self.last_ns = 0

    def next(self, timestamp_ns: int) -> int:
        if timestamp_ns <= self.last_ns:
            timestamp_ns = self.last_ns + 1
        self.last_ns = timestamp_ns
        return timestamp_ns


def _fmt(value: float | None) -> str | None:
    if value is None or not _finite(value):
        return None
    return repr(float(value))


class RequestPointFormatter:
    """Formats ``llm_request`` lines for one run and one worker.

    The tag set of a record repeats across thousands of requests, so its
    escaped text is cached by the raw values."""

    def __init__(self, run_id: str, worker: str) -> None:
        self.run_id = run_id
        self.worker = worker
        self.clock = UniqueClock()
        self._tag_cache: dict[tuple, str] = {}

    def _tags(self, r: RequestRecord) -> str:
        key = (r.model, r.category, r.outcome, r.target, r.stream, r.cold)
        text = self._tag_cache.get(key)
        if text is None:
            tags = {
                "run_id": self.run_id,
                "model": r.model,
                "category": r.category,
                "outcome": r.outcome,
                "worker": self.worker,
                "target": r.target,
                "stream": "true" if r.stream else "false",
                "cold": "true" if r.cold else "false",
            }
            text = format_point(REQUEST_MEASUREMENT, tags, "", 0).rsplit(" ", 2)[0]
            if len(self._tag_cache) < 10_000:
                self._tag_cache[key] = text
        return text

    def format(self, r: RequestRecord, cost_usd: float | None) -> str:
        """One ``llm_request`` line (no newline) for an attempt."""
        parts = [f"e2e_ms={metrics.e2e_ms(r)!r}", f"e2e_from_intended_ms={metrics.e2e_from_intended_ms(r)!r}"]
        ttft = metrics.ttft_ms(r)
        if ttft is not None:
            parts.append(f"ttft_ms={ttft!r}")
        ttfb = metrics.ttfb_ms(r)
        if ttfb is not None:
            parts.append(f"ttfb_ms={ttfb!r}")
        for name, value in (
            ("tpot_ms", metrics.tpot_ms(r)),
            ("itl_mean_ms", metrics.itl_mean_ms(r)),
            ("itl_max_ms", metrics.itl_max_ms(r) if len(r.token_times) > 1 else None),
        ):
            v = _fmt(value)
            if v is not None:
                parts.append(f"{name}={v}")
        if r.status is not None:
            parts.append(f"status={int(r.status)}i")
        parts.append(f"attempt={int(r.attempt)}i")
        parts.append(f"throttled_ms={r.throttled_s * 1000.0!r}")
        parts.append(f"input_tokens={float(r.input_tokens)!r}")
        parts.append(f"output_tokens={float(r.output_tokens)!r}")
        cost = _fmt(cost_usd)
        if cost is not None:
            parts.append(f"cost_usd={cost}")
        parts.append(f"schedule_lag_ms={metrics.schedule_lag_ms(r)!r}")
        # A NaN/inf from a broken clock would make InfluxDB reject the whole batch.
        fields = ",".join(p for p in parts if not p.endswith(("nan", "inf")))
        return f"{self._tags(r)} {fields} {self.clock.next(int(r.started_wall_ns))}"
