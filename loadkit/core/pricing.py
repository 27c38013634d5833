"""Prices and cost: tokens x USD per million tokens.

The reference table is the published one from DESIGN.md. Users override or
extend it with ``[prices]`` in the config file (``model = [input, output]``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Price", "REFERENCE_PRICES", "PriceTable", "monthly_projection"]


@dataclass(frozen=True, slots=True)
class Price:
    input_usd_per_mtok: float
    output_usd_per_mtok: float

    def cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        """Cost in USD of one request with these token counts."""
        return (input_tokens * self.input_usd_per_mtok + output_tokens * self.output_usd_per_mtok) / 1_000_000


REFERENCE_PRICES: dict[str, Price] = {
    "claude-4-haiku": Price(0.80, 4.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4.1": Price(2.00, 8.00),
    "claude-4-sonnet": Price(3.00, 15.00),
    "claude-sonnet-4.5": Price(3.00, 15.00),
    "gemini-2.5-flash": Price(0.30, 2.50),
    "deepseek-v3.2": Price(0.28, 0.42),
}


class PriceTable:
    """Model name -> Price, with user overrides on top of the reference table."""

    def __init__(self, overrides: dict[str, Price] | None = None) -> None:
        self._prices = dict(REFERENCE_PRICES)
        if overrides:
            self._prices.update(overrides)

    def get(self, model: str) -> Price | None:
        return self._prices.get(model)

    def cost_usd(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        """Cost in USD, or None when the model has no price (reported, not guessed)."""
        price = self._prices.get(model)
        if price is None:
            return None
        return price.cost_usd(input_tokens, output_tokens)

    def as_dict(self) -> dict[str, list[float]]:
        return {m: [p.input_usd_per_mtok, p.output_usd_per_mtok] for m, p in self._prices.items()}


def monthly_projection(cost_per_request_usd: float, calls_per_day: float, days_per_month: float = 30.0) -> float:
    """USD per month for ``calls_per_day`` requests at the given mean cost per request."""
    return cost_per_request_usd * calls_per_day * days_per_month
