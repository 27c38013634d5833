"""Default workload of `loadkit run`: ChatUser driven by LOADKIT_* settings.

The annotated example for users to copy is locustfiles/chat.py in the repository.
"""

from loadkit.locust import ChatUser


class DefaultChatUser(ChatUser):
    pass
