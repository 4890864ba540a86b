"""The organisers' area: sign-in and sessions, roles, and screens composed from each part's queries and
operations (it reads no other part's tables itself)."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the organisers' pages: each view module adds its own to the one blueprint."""
    from ..outbox import register_renderer
    from . import accounts, auth, campaign_tools, registrants, routes, subscribers, webinar_tools  # noqa: F401
    from .blueprint import blueprint
    from .organisers import RESET_KIND, render_password_reset

    auth.init_login(app)
    app.register_blueprint(blueprint)
    register_renderer(app, RESET_KIND, render_password_reset)
