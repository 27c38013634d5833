"""The sink: a bounded buffer fed by the request path, drained by a flusher.

``submit()`` only appends a tuple to a deque: no formatting, no I/O, no
waiting. Two background threads (greenlets under Locust, since gevent patches
``threading``) do the rest:

- the *drainer* wakes every second (and at stop), turns queued records into
  ``records.jsonl.gz`` lines and line-protocol points in time slices of at
  most ``_SLICE_S`` and sleeps ``_YIELD_S`` between slices. Measured under
  Locust (issue 17, greenlet switch tracer, 16 users, ~290 streams/s): a whole
  flush formatted before yielding held the gevent loop 17-20 ms of CPU once a
  second (line protocol ~30 us, gzip ~10 us, record_to_dict ~5 us per record),
  and those stalls were the TTFT-error clusters spaced ~1 s apart. The yield is
  a real (timer) sleep, not ``sleep(0)``: gevent runs ``sleep(0)`` callbacks
  back to back for up to the switch interval (5 ms) without polling sockets;
- the *writer* sends points in batches and, when the target is down or slow,
  keeps the failed batch and retries with exponential backoff.

The points held (queued, formatted, in flight) are bounded by
``settings.sink_buffer``; past it the oldest are dropped and counted, so
``written + dropped`` equals what was submitted once :meth:`Sink.stop`
returns.
"""

from __future__ import annotations

import gzip
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from loadkit.core.records import RequestRecord, record_to_dict
from loadkit.sinks.lineprotocol import (
    RUN_MEASUREMENT,
    WORKER_MEASUREMENT,
    RequestPointFormatter,
    UniqueClock,
    format_fields,
    format_point,
)
from loadkit.sinks.writers import RejectedWriteError, RetryableWriteError, Writer

__all__ = ["Sink"]

log = logging.getLogger(__name__)

_RECORD = 0
_LINE = 1
# Longest run of formatting between two yields: well under the 1 ms timing budget (DESIGN.md step 5).
_SLICE_S = 0.0003
# A timer sleep lets the loop poll sockets before the next slice (gevent: sleep(0) does not).
_YIELD_S = 0.0001
# At stop nothing is timed: long slices (a saturated run's 13,665-point backlog outlasted stop's 10 s in 0.3 ms ones).
_FINAL_SLICE_S = 0.05
# Points per write call: joining and sending 1,000 lines takes ~0.3 ms on the loop; 5,000 took 1.5-3 ms.
_BATCH = 1000


def _percentiles_ms(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    s = sorted(values)

    def at(p: float) -> float:
        return round(s[min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))], 3)

    return {"p50": at(50), "p95": at(95), "p99": at(99), "max": round(s[-1], 3)}


def _in_place(fn: Callable[..., Any], args: tuple) -> Any:
    return fn(*args)


class Sink:
    """Records file + points target behind one bounded, never-blocking buffer."""

    def __init__(
        self,
        writer: Writer,
        records_path: Path | None,
        run_id: str,
        worker: str,
        buffer_points: int = 100_000,
        flush_interval_s: float = 1.0,
        backoff_initial_s: float = 0.25,
        backoff_max_s: float = 4.0,
        run_io: Callable[..., Any] | None = None,
    ) -> None:
        self.writer = writer
        # run_io(fn, args): runs fn(*args) where it cannot hold up requests (the locust layer passes gevent's
        # thread pool: zlib and the file write release the GIL, so compressing records.jsonl.gz runs beside the
        # event loop, not on it); by default in place
        self._run_io = run_io or _in_place
        self.run_id = run_id
        self.worker = worker
        self.bound = max(1, int(buffer_points))
        self.flush_interval_s = flush_interval_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self._records_path = Path(records_path) if records_path else None
        self._records_file = None
        self._formatter = RequestPointFormatter(run_id, worker)
        self._worker_clock = UniqueClock()
        self._run_clock = UniqueClock()
        # request path -> drainer
        self._queue: deque = deque()
        self._queue_lock = threading.Lock()
        # drainer -> writer
        self._pending: deque[str] = deque()
        self._inflight: list[str] = []
        self._pending_lock = threading.Lock()
        self._wake_writer = threading.Event()
        self._stop_drainer = threading.Event()
        self._stop_writer = threading.Event()
        self._drainer: threading.Thread | None = None
        self._writer_thread: threading.Thread | None = None
        self._started = False
        self._stopped = False
        # counters
        self.submitted = 0
        self.written = 0
        # one counter per lock, so threads never race on the same integer
        self._dropped_queue = 0
        self._dropped_buffer = 0
        self.buffered_peak = 0
        self.failed_flushes = 0
        self.records_written = 0
        self._flush_ms: deque[float] = deque(maxlen=10_000)
        self._last_error = ""

    # -- request path ---------------------------------------------------------

    def submit(self, record: RequestRecord, cost_usd: float | None) -> None:
        """Queue one attempt; O(1), never blocks on I/O, never raises."""
        try:
            with self._queue_lock:
                self.submitted += 1
                q = self._queue
                q.append((_RECORD, record, cost_usd))
                # --sink-buffer bounds everything held (queued + formatted + in flight), not each part
                if len(q) + len(self._pending) + len(self._inflight) > self.bound:
                    q.popleft()
                    self._dropped_queue += 1
        except Exception:  # pragma: no cover - the request path must survive anything
            pass

    def _submit_line(self, line: str) -> None:
        with self._queue_lock:
            self.submitted += 1
            q = self._queue
            q.append((_LINE, line, None))
            if len(q) + len(self._pending) + len(self._inflight) > self.bound:
                q.popleft()
                self._dropped_queue += 1

    def submit_worker(self, fields: dict[str, float | int]) -> None:
        """One ``loadkit_worker`` point (now), with ``sink_buffered`` and ``sink_dropped`` added."""
        try:
            values = {k: v for k, v in fields.items() if not isinstance(v, str)}
            values["sink_buffered"] = self.buffered()
            values["sink_dropped"] = self.dropped
            line = format_point(
                WORKER_MEASUREMENT,
                {"run_id": self.run_id, "worker": self.worker},
                format_fields(values),
                self._worker_clock.next(time.time_ns()),
            )
            self._submit_line(line)
        except Exception:
            log.exception("loadkit_worker point not recorded")

    def submit_run_event(self, event: str, fields: dict) -> None:
        """One ``loadkit_run`` point (now) tagged ``event`` = start|spawn|stop."""
        try:
            values = {"marker": 1.0}
            values.update(fields)
            line = format_point(
                RUN_MEASUREMENT,
                {"run_id": self.run_id, "worker": self.worker, "event": event},
                format_fields(values),
                self._run_clock.next(time.time_ns()),
            )
            self._submit_line(line)
        except Exception:
            log.exception("loadkit_run point not recorded")

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> None:
        """Open the records file and start the drainer and writer threads."""
        if self._started:
            return
        self._started = True
        if self._records_path is not None:
            self._records_path.parent.mkdir(parents=True, exist_ok=True)
            self._records_file = gzip.open(self._records_path, "ab", compresslevel=3)
        self._drainer = threading.Thread(target=self._drain_loop, name="loadkit-sink-drain", daemon=True)
        self._writer_thread = threading.Thread(target=self._write_loop, name="loadkit-sink-write", daemon=True)
        self._drainer.start()
        self._writer_thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Drain, write what the target accepts within ``timeout_s``, count the rest as dropped."""
        if self._stopped:
            return
        self._stopped = True
        deadline = time.monotonic() + timeout_s
        if not self._started:
            self._drain_once()
            self._flush_pending(deadline)
        else:
            self._stop_drainer.set()
            self._drainer.join(max(0.1, deadline - time.monotonic()))
            # The drainer has done its final pass, but other greenlets may have
            # submitted while we waited for it (a last worker point, the stop
            # event): drain those here, then let the writer empty the rest.
            while time.monotonic() < deadline:
                if self._queue:
                    self._safe_drain(_FINAL_SLICE_S)
                with self._pending_lock:
                    if not self._pending and not self._inflight and not self._queue:
                        break
                self._wake_writer.set()
                time.sleep(0.02)
            self._stop_writer.set()
            self._wake_writer.set()
            self._writer_thread.join(max(0.1, deadline - time.monotonic()) + 1.0)
        with self._pending_lock:
            lost = len(self._pending) + len(self._inflight)
            self._pending.clear()
            self._inflight = []
        with self._queue_lock:
            lost += len(self._queue)
            self._queue.clear()
        if lost:
            self._dropped_buffer += lost
            log.warning("sink stopped with %d points not written to %s", lost, self.writer.url)
        try:
            self.writer.close()
        except Exception:
            log.debug("closing writer failed", exc_info=True)
        if self._records_file is not None:
            self._records_file.close()
            self._records_file = None

    # -- background -----------------------------------------------------------

    @property
    def dropped(self) -> int:
        """Points that will never reach the target (overflow, rejected, left at stop)."""
        return self._dropped_queue + self._dropped_buffer

    def buffered(self) -> int:
        """Points held now (queued + formatted + in flight)."""
        return len(self._queue) + len(self._pending) + len(self._inflight)

    def _drain_loop(self) -> None:
        while not self._stop_drainer.wait(self.flush_interval_s):
            self._safe_drain()
        self._safe_drain(_FINAL_SLICE_S)

    def _safe_drain(self, slice_s: float = _SLICE_S) -> None:
        try:
            self._drain_once(slice_s)
        except Exception:
            log.exception("sink drain failed")

    def _drain_once(self, slice_s: float = _SLICE_S) -> None:
        with self._queue_lock:
            taken, self._queue = self._queue, deque()
        held = len(taken) + len(self._pending) + len(self._inflight)
        if held > self.buffered_peak:
            self.buffered_peak = held
        fmt = self._formatter.format
        records_file = self._records_file
        clock = time.perf_counter
        while taken:
            slice_end = clock() + slice_s
            lines = []
            json_lines = []
            while taken and clock() < slice_end:
                kind, item, cost = taken.popleft()
                if kind == _RECORD:
                    try:
                        lines.append(fmt(item, cost))
                    except Exception:
                        with self._pending_lock:
                            self._dropped_buffer += 1
                        log.exception("record could not be formatted; dropped")
                        continue
                    if records_file is not None:
                        d = record_to_dict(item)
                        d["cost_usd"] = cost
                        json_lines.append(orjson.dumps(d, option=orjson.OPT_SERIALIZE_NUMPY))
                else:
                    lines.append(item)
            if json_lines:
                self._run_io(records_file.write, (b"\n".join(json_lines) + b"\n",))
                self.records_written += len(json_lines)
            self._add_pending(lines)
            if taken:
                time.sleep(_YIELD_S)  # let requests run between slices (gevent: a timer, so sockets are polled)
        if records_file is not None:
            self._run_io(records_file.flush, ())
        self._wake_writer.set()  # once per pass: one write of many slices, not one per slice

    def _add_pending(self, lines: list[str]) -> None:
        with self._pending_lock:
            self._pending.extend(lines)
            excess = len(self._pending) + len(self._inflight) - self.bound
            if excess > 0:
                for _ in range(min(excess, len(self._pending))):
                    self._pending.popleft()
                self._dropped_buffer += excess

    def _take_batch(self) -> list[str]:
        with self._pending_lock:
            if self._inflight:
                return self._inflight
            n = min(_BATCH, len(self._pending))
            self._inflight = [self._pending.popleft() for _ in range(n)]
            return self._inflight

    def _write_loop(self) -> None:
        attempt = 0
        while True:
            self._wake_writer.wait(self.flush_interval_s)
            self._wake_writer.clear()
            while True:
                batch = self._take_batch()
                if not batch:
                    break
                if self._write_batch(batch):
                    attempt = 0
                    continue
                attempt += 1
                delay = min(self.backoff_max_s, self.backoff_initial_s * 2 ** (attempt - 1))
                if self._stop_writer.wait(delay * random.uniform(0.5, 1.0)):
                    return
            if self._stop_writer.is_set():
                return

    def _write_batch(self, batch: list[str]) -> bool:
        started = time.perf_counter()
        try:
            self.writer.write(batch)
        except RejectedWriteError as exc:
            self._record_failure(exc)
            with self._pending_lock:
                self._dropped_buffer += len(batch)
                self._inflight = []
            return True  # nothing to retry
        except Exception as exc:  # RetryableWriteError and anything unexpected
            self._record_failure(exc)
            return False
        finally:
            self._flush_ms.append((time.perf_counter() - started) * 1000.0)
        with self._pending_lock:
            self.written += len(batch)
            self._inflight = []
        return True

    def _record_failure(self, exc: Exception) -> None:
        self.failed_flushes += 1
        message = str(exc) if isinstance(exc, (RetryableWriteError, RejectedWriteError)) else type(exc).__name__
        if message != self._last_error:
            log.warning("sink write failed (will %s): %s",
                        "drop the batch" if isinstance(exc, RejectedWriteError) else "retry", message)
            self._last_error = message

    def _flush_pending(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            batch = self._take_batch()
            if not batch:
                return
            if not self._write_batch(batch):
                time.sleep(min(self.backoff_initial_s, max(0.0, deadline - time.monotonic())))

    # -- report ---------------------------------------------------------------

    def stats(self) -> dict:
        """Counters for summary.json: written/dropped points, peak buffered,
        write-call time percentiles in ms, failed writes, target and URL (no secrets)."""
        return {
            "written": self.written,
            "dropped": self.dropped,
            "buffered_peak": self.buffered_peak,
            "flush_ms": _percentiles_ms(list(self._flush_ms)),
            "failed_flushes": self.failed_flushes,
            "target": self.writer.target,
            "url": self.writer.url,
            "records_written": self.records_written,
        }
