"""loadkit: load testing for OpenAI-compatible LLM gateways.

The core (this package minus ``loadkit.locust``) imports neither Locust nor
gevent and works from a plain script::

    from loadkit import ChatClient, ChatRequest, make_transport, TransportOptions
    client = ChatClient(make_transport("httpx", TransportOptions("http://127.0.0.1:8000/v1")))
    record = client.chat(ChatRequest("gpt-4o-mini", [{"role": "user", "content": "hi"}]))
"""

from .client import ChatClient, ChatRequest
from .config import Settings, load_settings
from .errors import ConfigError, GatewayError, LoadkitError, SinkError, SLOError
from .metrics import LatencyHistogram
from .pricing import PriceTable
from .records import OUTCOMES, RequestRecord
from .sse import ServerSentEvent, SSEDecoder
from .stats import RunStats
from .transports import TransportOptions, make_transport

__version__ = "0.1.0"

__all__ = [
    "ChatClient",
    "ChatRequest",
    "ConfigError",
    "GatewayError",
    "LatencyHistogram",
    "LoadkitError",
    "OUTCOMES",
    "PriceTable",
    "RequestRecord",
    "RunStats",
    "SLOError",
    "SSEDecoder",
    "ServerSentEvent",
    "Settings",
    "SinkError",
    "TransportOptions",
    "load_settings",
    "make_transport",
]
