"""The only part of loadkit that imports Locust: users, hooks, merge, web UI.

``from loadkit.locust import ChatUser`` imports Locust and registers loadkit's
event hooks (Locust's own pattern for plugins). The names are resolved lazily
(PEP 562) so that ``loadkit.locust.commands`` — the command lines shared by
the tests, Docker Compose and Kubernetes — can be imported without importing
Locust, whose import monkey-patches the whole process with gevent.
"""

__all__ = ["ChatUser", "get_runtime"]


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module 'loadkit.locust' has no attribute {name!r}")
    from loadkit.locust import hooks
    from loadkit.locust.runtime import get_runtime
    from loadkit.locust.user import ChatUser

    hooks.install()
    globals().update(ChatUser=ChatUser, get_runtime=get_runtime)
    return globals()[name]
