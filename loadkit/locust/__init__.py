"""The only part of loadkit that imports Locust: users, hooks, merge, web UI.

Importing this package registers loadkit's event hooks (Locust's own pattern
for plugins); a locustfile only needs ``from loadkit.locust import ChatUser``.
"""

from . import hooks
from .runtime import get_runtime
from .user import ChatUser

hooks.install()

__all__ = ["ChatUser", "get_runtime"]
