"""The chat client: a transport plus the protocol parsers give one RequestRecord per attempt."""

from loadkit.client.chat import ChatClient, ChatRequest

__all__ = ["ChatClient", "ChatRequest"]
