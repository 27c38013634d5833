"""loadkit's ChatUser for bench/overhead.py (transport and stream from LOADKIT_TRANSPORT / LOADKIT_STREAM).

The request is fixed (gpt-4o-mini, max_tokens 60, generic category) so the
simulator returns the same answer lengths as for the plain users in
_overhead_users.py; what is measured is loadkit's client, timing and
accounting path, not traffic shaping.
"""

from __future__ import annotations

from loadkit.client.chat import ChatRequest
from loadkit.locust import ChatUser, get_runtime

_MESSAGES = [{"role": "user", "content": "Say something short about load testing."}]


class BenchChatUser(ChatUser):
    def next_request(self) -> ChatRequest:
        s = get_runtime().settings
        return ChatRequest("gpt-4o-mini", _MESSAGES, max_tokens=s.max_tokens, stream=s.stream)
