"""Model discovery: offered vs wanted, fallbacks, fail fast."""

import pytest

from loadkit.client.discovery import parse_models_response, resolve_models
from loadkit.errors import GatewayError

OFFERED = ["gpt-4o-mini", "claude-4-haiku", "gpt-4o"]


def test_all_offered_maps_to_itself_without_fallbacks():
    used, fallbacks = resolve_models(OFFERED, ["gpt-4o-mini", "claude-4-haiku"], {})
    assert used == {"gpt-4o-mini": "gpt-4o-mini", "claude-4-haiku": "claude-4-haiku"} and fallbacks == {}


def test_unknown_model_with_offered_fallback_is_used_and_counted():
    used, fallbacks = resolve_models(OFFERED, ["gpt-4.1", "gpt-4o-mini"], {"gpt-4.1": "gpt-4o"})
    assert used == {"gpt-4.1": "gpt-4o", "gpt-4o-mini": "gpt-4o-mini"}
    assert fallbacks == {"gpt-4.1": "gpt-4o"}


def test_unknown_model_without_fallback_fails_fast_naming_it_and_the_offer():
    with pytest.raises(GatewayError) as err:
        resolve_models(OFFERED, ["gpt-4o-mini", "gemini-2.5-flash"], {})
    msg = str(err.value)
    assert "'gemini-2.5-flash' is not offered" in msg
    assert "claude-4-haiku, gpt-4o, gpt-4o-mini" in msg and "--model-fallback" in msg


def test_fallback_that_is_not_offered_either_fails():
    with pytest.raises(GatewayError, match="its fallback 'deepseek-v3.2' is not offered"):
        resolve_models(OFFERED, ["gpt-4.1"], {"gpt-4.1": "deepseek-v3.2"})


def test_models_response_shapes():
    assert parse_models_response(b'{"object":"list","data":[{"id":"a"},{"id":"b"}]}') == ["a", "b"]
    assert parse_models_response(b'["a", "b"]') == ["a", "b"]
    with pytest.raises(GatewayError, match="not return JSON"):
        parse_models_response(b"<html>")
    with pytest.raises(GatewayError, match="no model list"):
        parse_models_response(b'{"error": "nope"}')
