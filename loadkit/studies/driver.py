"""The one step driver: load on one model, measured, from plain threads.

Every study sends through it: capacity (rate and concurrency steps), the
rate-limit ramp (:class:`loadkit.studies.ramp.ChatStepRunner` is a
:class:`StepDriver` whose steps are counted as 429s), the cold-start probe and
the overhead study (:func:`send_at`: one request at a planned time on a given
client). :func:`run_open_loop` is the one absolute-schedule loop; Locust is the
only other load engine (``loadkit run``).

No gevent, no Locust: a pool of threads, each with its own
:class:`~loadkit.client.chat.ChatClient` over the httpx transport (never shared:
DESIGN.md). Two kinds of step:

- **rate** (open loop): a request is due every ``1 / rate`` s on an absolute
  schedule; a slow answer never delays the next send, so a saturated target
  meets a growing queue as real traffic would. If the requests in flight
  reach ``max_in_flight`` the step stops sending at once (``aborted``): the
  target is clearly not keeping up and more load would only pile up.
- **concurrency** (closed loop): ``users`` threads send back to back.

Each step is ``warmup_s + step_s`` long; only requests *due* (rate) or
*sent* (concurrency) in the last ``step_s`` are measured. The step waits
for every answer before it returns, so a queue built at the target drains
before the next step starts.

The generator's own cost is measured in the same run: CPU seconds of this
process (``time.process_time``, all threads) over the step, and the
requests answered in it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from loadkit.client.chat import ChatClient, ChatRequest
from loadkit.core.records import RequestRecord

__all__ = ["StepMeasure", "StepDriver", "run_open_loop", "send_at"]


@dataclass
class StepMeasure:
    """What one step measured; ``records`` are those of the measured window only."""

    model: str
    kind: str  # "rate" | "concurrency"
    level: float  # requests/s offered, or concurrent users
    step_s: float
    warmup_s: float
    window_s: float  # measured length (shorter than step_s when aborted)
    records: list[RequestRecord] = field(default_factory=list)
    sent_total: int = 0  # warm-up included
    answered_total: int = 0
    peak_in_flight: int = 0
    aborted: str | None = None
    cpu_s: float = 0.0  # this process's CPU seconds over the whole step
    wall_s: float = 0.0


def run_open_loop(
    submit: Callable[[float], object],
    rate_per_s: float,
    start: float,
    end: float,
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    admit: Callable[[], bool] = lambda: True,
) -> tuple[list, bool]:
    """Call ``submit(due)`` for every due time ``start + i / rate_per_s`` before ``end`` (seconds).

    Due times come from the index, so they never drift; a late loop sends at
    once rather than skipping. ``admit()`` is asked before each send: False
    stops the loop (the step is aborted). Returns what ``submit`` returned, in
    order, and whether the loop was stopped by ``admit``.
    """
    submitted: list = []
    index = 0
    while True:
        due = start + index / rate_per_s
        if due >= end:
            return submitted, False
        delay = due - clock()
        if delay > 0:
            sleep(delay)
        if not admit():
            return submitted, True
        submitted.append(submit(due))
        index += 1


def send_at(
    client: ChatClient,
    request: ChatRequest,
    due_at: float | None = None,
    *,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
) -> RequestRecord:
    """One request on ``client``, sent at ``due_at`` (``clock`` seconds; None: now); returns its record.

    The sequential studies (cold-start probe, overhead pairs) send this way so
    that their timing and the capacity steps' share one path.
    """
    if due_at is not None:
        delay = due_at - clock()
        if delay > 0:
            sleep(delay)
    return client.chat(request, due_at) if due_at is not None else client.chat(request)


class StepDriver:
    """Runs steps against one gateway. ``make_client()`` is called once per thread."""

    def __init__(
        self,
        make_client: Callable[[], ChatClient],
        make_request: Callable[[str], ChatRequest],
        *,
        max_in_flight: int = 128,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
        cpu_clock: Callable[[], float] = time.process_time,
        on_record: Callable[[RequestRecord], object] | None = None,
        thread_name: str = "loadkit-step",
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1 (got {max_in_flight})")
        self._make_client = make_client
        self._make_request = make_request
        self.max_in_flight = max_in_flight
        self._clock, self._sleep, self._cpu_clock = clock, sleep, cpu_clock
        self._local = threading.local()
        self._clients: list[ChatClient] = []
        self._lock = threading.Lock()
        self._on_record = on_record  # sees every record, warm-up included, from the sending threads
        self._pool = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix=thread_name)

    def _client(self) -> ChatClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._make_client()
            with self._lock:
                self._clients.append(client)
        return client

    def _request(self, model: str) -> ChatRequest:
        with self._lock:  # make_request may share a Workload and its rng
            return self._make_request(model)

    def _chat(self, model: str, intended_at: float | None = None) -> RequestRecord:
        req = self._request(model)
        rec = self._client().chat(req) if intended_at is None else self._client().chat(req, intended_at)
        if self._on_record is not None:
            self._on_record(rec)
        return rec

    def send_one(self, model: str) -> RequestRecord:
        """One request now, on a pool thread (e.g. to take a cold start out before the steps)."""
        return self._pool.submit(self._chat, model).result()

    def rate_step(self, model: str, rate_per_s: float, step_s: float, warmup_s: float) -> StepMeasure:
        """Open-loop step at ``rate_per_s`` requests/s; see the module docstring."""
        if not rate_per_s > 0 or step_s <= 0 or warmup_s < 0:
            raise ValueError(f"need rate > 0, step_s > 0, warmup_s >= 0 (got {rate_per_s}, {step_s}, {warmup_s})")
        clock = self._clock
        measure = StepMeasure(model, "rate", rate_per_s, step_s, warmup_s, step_s)
        state = {"in_flight": 0}
        done: list[RequestRecord] = []

        def one(intended_at: float) -> None:
            try:
                rec = self._chat(model, intended_at)
            finally:
                with self._lock:
                    state["in_flight"] -= 1
            with self._lock:
                done.append(rec)

        def admit() -> bool:
            with self._lock:
                if state["in_flight"] >= self.max_in_flight:
                    measure.aborted = (f"{self.max_in_flight} requests in flight at {rate_per_s:g}/s: "
                                       "the target is not keeping up")
                    return False
                state["in_flight"] += 1
                measure.peak_in_flight = max(measure.peak_in_flight, state["in_flight"])
                return True

        cpu0, wall0 = self._cpu_clock(), clock()
        start = wall0 + 0.005
        window_start, end = start + warmup_s, start + warmup_s + step_s
        futures, _stopped = run_open_loop(lambda due: self._pool.submit(one, due), rate_per_s, start, end,
                                          clock=clock, sleep=self._sleep, admit=admit)
        if measure.aborted:
            measure.window_s = max(0.0, min(end, clock()) - window_start)
        wait(futures)
        measure.sent_total = len(futures)
        measure.answered_total = len(done)
        measure.records = [r for r in done if window_start <= r.intended_at < window_start + measure.window_s]
        measure.cpu_s = self._cpu_clock() - cpu0
        measure.wall_s = clock() - wall0
        return measure

    def concurrency_step(self, model: str, users: int, step_s: float, warmup_s: float) -> StepMeasure:
        """Closed-loop step: ``users`` threads each send back to back for ``warmup_s + step_s``."""
        users = int(users)
        if not 1 <= users <= self.max_in_flight or step_s <= 0 or warmup_s < 0:
            raise ValueError(f"need 1 <= users <= max_in_flight ({self.max_in_flight}), step_s > 0 and "
                             f"warmup_s >= 0 (got {users}, {step_s}, {warmup_s})")
        clock = self._clock
        measure = StepMeasure(model, "concurrency", float(users), step_s, warmup_s, step_s, peak_in_flight=users)
        done: list[list[RequestRecord]] = [[] for _ in range(users)]
        cpu0, wall0 = self._cpu_clock(), clock()
        window_start, end = wall0 + warmup_s, wall0 + warmup_s + step_s

        def user(mine: list[RequestRecord]) -> None:
            while clock() < end:
                mine.append(self._chat(model))

        wait([self._pool.submit(user, mine) for mine in done])
        everything = [r for mine in done for r in mine]
        measure.sent_total = measure.answered_total = len(everything)
        measure.records = [r for r in everything if window_start <= r.sent_at < end]
        measure.cpu_s = self._cpu_clock() - cpu0
        measure.wall_s = clock() - wall0
        return measure

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for client in self._clients:
            client.close()

    def __enter__(self) -> "StepDriver":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
