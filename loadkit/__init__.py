"""loadkit: load testing for OpenAI-compatible LLM gateways.

The core (this package minus ``loadkit.locust``) imports neither Locust nor
gevent and works from a plain script::

    from loadkit import ChatClient, ChatRequest, make_transport, TransportOptions
    client = ChatClient(make_transport("httpx", TransportOptions("http://127.0.0.1:8000/v1")))
    record = client.chat(ChatRequest("gpt-4o-mini", [{"role": "user", "content": "hi"}]))

Names are imported lazily (PEP 562), so ``python -m loadkit.simulator`` loads
the simulator alone and never the client code it exists to test.
"""

from importlib import import_module

from loadkit import _aliases

_aliases.install()

__version__ = "0.1.0"

_EXPORTS = {
    "ChatClient": "client.chat",
    "ChatRequest": "client.chat",
    "ConfigError": "errors",
    "GatewayError": "errors",
    "LatencyHistogram": "core.metrics",
    "LoadkitError": "errors",
    "OUTCOMES": "core.records",
    "PriceTable": "core.pricing",
    "RequestRecord": "core.records",
    "RunStats": "core.stats",
    "SLOError": "errors",
    "SSEDecoder": "protocol.sse",
    "ServerSentEvent": "protocol.sse",
    "Settings": "settings",
    "SinkError": "errors",
    "TransportOptions": "transport",
    "load_settings": "settings",
    "make_transport": "transport",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'loadkit' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
