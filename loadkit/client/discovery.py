"""Model discovery: which of the wanted models the gateway offers, and fallbacks.

``GET /v1/models`` at start gives the offered ids. A wanted model that is not
offered either falls back to a configured alternative (counted and reported
per model) or, the default, stops the run before any load with a
:class:`~loadkit.errors.GatewayError` that names it and lists what the gateway
offers.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from loadkit.errors import GatewayError

__all__ = ["resolve_models", "parse_models_response"]


def parse_models_response(body: bytes) -> list[str]:
    """Model ids of an OpenAI ``/v1/models`` body (``{"data": [{"id": ...}]}``; a bare list also works)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise GatewayError(f"/models did not return JSON (got {body[:120]!r}); is the host the API's base URL?") from None
    items = data.get("data", data.get("models")) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise GatewayError(f"/models returned no model list (keys: {sorted(data) if isinstance(data, dict) else type(data).__name__})")
    ids = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            ids.append(item["id"])
        elif isinstance(item, str):
            ids.append(item)
    return ids


def resolve_models(
    offered: list[str], wanted: list[str], fallback: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Map each wanted model to the model actually used.

    Returns ``(used, fallbacks)``: ``used[wanted] = model sent to the gateway``
    and ``fallbacks[wanted] = fallback`` for every model that fell back.
    Raises GatewayError naming every unknown model without an offered fallback.
    """
    offered_set = set(offered)
    used: dict[str, str] = {}
    fallbacks: dict[str, str] = {}
    problems: list[str] = []
    for model in wanted:
        if model in offered_set:
            used[model] = model
            continue
        alt = fallback.get(model)
        if alt is None:
            problems.append(f"{model!r} is not offered and has no fallback")
        elif alt not in offered_set:
            problems.append(f"{model!r} is not offered and its fallback {alt!r} is not offered either")
        else:
            used[model] = alt
            fallbacks[model] = alt
    if problems:
        listing = ", ".join(sorted(offered)) if offered else "(no models)"
        raise GatewayError(
            "; ".join(problems)
            + f". The gateway offers: {listing}. Fix --models or set --model-fallback model=alternative."
        )
    return used, fallbacks
