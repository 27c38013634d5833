"""Counters served at ``GET /_sim/stats`` and zeroed by ``POST /_sim/reset``."""

from __future__ import annotations


class SimulatorStats:
    """Counts every chat request received, by model and status, and tokens sent."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        """Zero every counter (``in_flight`` is live state and is kept)."""
        self.chat_requests: dict[str, int] = {}
        self.by_status: dict[str, int] = {}
        self.by_model_status: dict[str, dict[str, int]] = {}
        self.tokens_out: dict[str, int] = {}
        self.cold_starts: dict[str, int] = {}
        self.max_in_flight = self.in_flight

    def request_started(self) -> None:
        """Mark one chat request in flight."""
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight

    def request_finished(self, model: str, status: int) -> None:
        """Count a chat request by model and HTTP status when its response is done."""
        self.in_flight -= 1
        key = str(status)
        self.chat_requests[model] = self.chat_requests.get(model, 0) + 1
        self.by_status[key] = self.by_status.get(key, 0) + 1
        per_model = self.by_model_status.setdefault(model, {})
        per_model[key] = per_model.get(key, 0) + 1

    def add_tokens(self, model: str, tokens: int) -> None:
        """Add output tokens sent for a model."""
        self.tokens_out[model] = self.tokens_out.get(model, 0) + tokens

    def add_cold_start(self, model: str) -> None:
        """Count one cold start of a model."""
        self.cold_starts[model] = self.cold_starts.get(model, 0) + 1

    def snapshot(self) -> dict:
        """Return the counters as the ``/_sim/stats`` JSON object."""
        return {
            "chat_requests": dict(self.chat_requests),
            "chat_requests_total": sum(self.chat_requests.values()),
            "by_status": dict(self.by_status),
            "by_model_status": {m: dict(s) for m, s in self.by_model_status.items()},
            "tokens_out": dict(self.tokens_out),
            "cold_starts": dict(self.cold_starts),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
        }
