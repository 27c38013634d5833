"""Mixed two-model chat traffic: claude-4-haiku and gpt-4o-mini through one gateway.

Run it with the web UI:
    LOADKIT_API_KEY=sk-... locust -f locustfiles/chat.py --host https://gateway.example/v1
or headless through loadkit (starts the embedded simulator when no --host is given):
    loadkit run -f locustfiles/chat.py --users 20 --run-time 5m

Settings come from LOADKIT_* environment variables (see `loadkit run --help`):
LOADKIT_MODELS, LOADKIT_MODEL_WEIGHTS, LOADKIT_STREAM, LOADKIT_MAX_TOKENS, ...
"""

from loadkit.locust import ChatUser


class MixedChatUser(ChatUser):
    """Each user sends one chat request after another (closed loop)."""

    # Uncomment to shape traffic yourself instead of using LOADKIT_* settings:
    # def next_request(self):
    #     from loadkit import ChatRequest
    #     return ChatRequest("gpt-4o-mini", [{"role": "user", "content": "Hello!"}], max_tokens=64)

