"""The organisers' area: sign-in and sessions, roles, and screens composed from each part's queries and
operations (it reads no other part's tables itself)."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the organisers' pages: each view module adds its own to the one blueprint."""
    from . import accounts, auth, registrants, routes, subscribers, webinar_tools  # noqa: F401  (their views)
    from .blueprint import blueprint

    auth.init_login(app)
    app.register_blueprint(blueprint)
