"""ChatUser: a Locust user that sends chat traffic through loadkit's client.

Closed loop by default (each user waits for its reply, then ``think_time_s``).
Copy ``locustfiles/chat.py`` to start your own; subclass and override
:meth:`ChatUser.next_request` to shape traffic yourself.
"""

from __future__ import annotations

import random
import time

import gevent
from locust import User, task
from locust.exception import StopUser

from loadkit.client.chat import ChatClient, ChatRequest
from loadkit.client.retry import RetryPolicy
from loadkit.core.records import INTERRUPTED_IN_FLIGHT, INTERRUPTED_WAITING, RequestRecord
from loadkit.locust.runtime import get_runtime
from loadkit.transport import TransportOptions, make_transport
from loadkit.workload import tasks

__all__ = ["ChatUser"]


class ChatUser(User):
    """One simulated person talking to the gateway's chat endpoint."""

    abstract = True  # subclass it in a locustfile (subclasses are concrete)
    host = ""

    def wait_time(self) -> float:
        s = get_runtime().settings
        return s.think_time_s if s.arrival == "closed" else 0.0

    def on_start(self) -> None:
        # Clients are created per user here, never at import: --processes forks.
        rt = get_runtime()
        s = rt.settings
        base_url = s.host or self.environment.host or self.host
        options = TransportOptions(base_url, timeout_s=s.timeout_s, connect_timeout_s=s.connect_timeout_s,
                                   ca_bundle=s.ca_bundle, insecure=s.insecure)
        self.chat_client = ChatClient(make_transport(s.transport, options), api_key=s.api_key, worker=rt.worker,
                                      secrets=tuple(rt.secrets))
        self.rng = random.Random()
        self.policy = RetryPolicy(s.rate_limit_policy, s.max_retries, s.max_backoff_s)

    def on_stop(self) -> None:
        client = getattr(self, "chat_client", None)
        if client is not None:
            client.close()

    def next_request(self) -> ChatRequest:
        """The next request to send (model, messages, max_tokens, ...). Override to shape traffic."""
        return get_runtime().workload.next_request(self.rng)

    def intended_send_time(self) -> float | None:
        """Open loop: the perf_counter time this request is due (None: closed loop)."""
        return get_runtime().next_intended_at()

    def _pause_after_connect_errors(self, outcome: str) -> None:
        """A gateway that refuses connections answers in microseconds: without a pause each user would
        spin thousands of failures per second. Back off 50 ms, doubling to 1 s, until a request connects;
        every failure is still counted, and the run recovers by itself when the gateway is back."""
        if outcome != "connect_error":
            self._connect_failures = 0
            return
        self._connect_failures = getattr(self, "_connect_failures", 0) + 1
        gevent.sleep(min(1.0, 0.05 * 2 ** (self._connect_failures - 1)))

    def _budget_spent(self, rt) -> None:
        """--max-requests reached in this process: a local run ends once the last request has ended (a
        master ends a distributed run from the workers' reports); this user idles until then."""
        if rt.in_flight == 0 and rt.due_later == 0 and rt.role == "local" and not rt.budget.stop_sent:
            rt.budget.stop_sent = True
            runner = self.environment.runner
            headless = getattr(self.environment.parsed_options, "headless", True)
            gevent.spawn(runner.quit if headless else runner.stop)
        gevent.sleep(0.2)

    @staticmethod
    def _wait_until_due(rt, intended: float) -> None:
        """Sleep until an open-loop arrival is due; when the run starts to stop meanwhile, end this user at once
        and do not send it (it is due after the stop). A plain sleep in the task let Locust's graceful stop
        (``--stop-timeout``) wait for it: each free user holds one arrival ahead, up to users / rate seconds past
        the stop (a 4 s run of 16 users at 2/s lasted 12.3 s). Fewer users (a shape ramping down) is not a
        stop: the user sends the arrival it holds, then ends, so the schedule loses none."""
        delay = intended - time.perf_counter()
        if delay <= 0:
            return
        rt.due_later += 1  # taken from a --max-requests budget: the run may not end before it is sent
        try:
            stopping = rt.stopping.wait(delay)
        finally:
            rt.due_later -= 1
        if stopping:
            raise StopUser()

    @task
    def chat(self) -> None:
        rt = get_runtime()
        if not rt.take_request():
            self._budget_spent(rt)
            return
        req = self.next_request()
        mapped = rt.model_map.get(req.model)
        if mapped and mapped != req.model:
            original, req.model = req.model, mapped
        else:
            original = None
        intended = self.intended_send_time()
        if intended is not None:
            self._wait_until_due(rt, intended)
        cold = rt.mark_cold(req.model, time.perf_counter())
        attempts: list[RequestRecord] = []

        def account(rec: RequestRecord) -> None:
            # Each attempt is accounted as it ends, so a chain cut at stop has lost none of them.
            rec.cold = cold
            rec.fallback_from = original
            if rec.content is not None:
                tasks.apply(rec, req)
            if rt.timing is not None:
                rt.timing.stamp(rec)  # how late its chunks were read: the run's own timing error
            attempts.append(rec)
            rt.account(rec)

        rt.in_flight += 1
        try:
            self.chat_client.chat_with_retries(req, self.policy, intended_at=intended, sleep=gevent.sleep, rng=self.rng,
                                               on_attempt=account)
        except gevent.GreenletExit:
            # Locust stopped this user mid-request (no --stop-timeout): the gateway may have served it, so it
            # is recorded per model as outcome "interrupted" (and in generator.interrupted_requests).
            rt.interrupted += 1
            self._account_interrupted(rt, req, original, cold, attempts, self.chat_client.in_flight_since)
            raise
        finally:
            rt.in_flight -= 1
        rt.cold.mark_done(req.model, attempts[-1].done_at)
        # noted at the first attempt's recorded send time, so `report recompute` rebuilds the same log
        rt.activity.note(req.model, attempts[0].started_wall_ns / 1e9, cold)
        self._pause_after_connect_errors(attempts[-1].outcome)

    @staticmethod
    def _account_interrupted(rt, req: ChatRequest, original: str | None, cold: bool, attempts: list[RequestRecord],
                             in_flight_since: float | None) -> None:
        now = time.perf_counter()
        waiting = bool(attempts) and not attempts[-1].final  # cut during the wait before a retry
        rec = RequestRecord(model=req.model, category=req.category, stream=req.stream, worker=rt.worker,
                            attempt=len(attempts) + (0 if waiting else 1), outcome="interrupted",
                            error_key=INTERRUPTED_WAITING if waiting else INTERRUPTED_IN_FLIGHT, cold=cold,
                            fallback_from=original)
        if not waiting and in_flight_since is not None:
            rec.sent_at = in_flight_since
        else:
            rec.sent_at = attempts[-1].done_at if attempts else now
        rec.done_at = now
        rec.intended_at = rec.sent_at
        rec.started_wall_ns = time.time_ns()
        if attempts:
            rec.first_sent_at = attempts[0].sent_at
            rec.throttled_s = attempts[-1].throttled_s
        rt.account(rec)
