"""A locustfile with Locust's web login configured (flask-login user loader), for the auth test."""

from flask_login import UserMixin
from locust import events

from loadkit.locust import ChatUser


class AuthChatUser(ChatUser):
    pass


class _Operator(UserMixin):
    def __init__(self, user_id):
        self.id = user_id


@events.init.add_listener
def _configure_login(environment, **_kw):
    if environment.web_ui:
        environment.web_ui.app.config["SECRET_KEY"] = "test-only-secret"
        environment.web_ui.login_manager.user_loader(lambda user_id: _Operator(user_id) if user_id == "operator" else None)
