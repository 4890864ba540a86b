"""The organisers' area: sign-in and sessions, and screens composed from each part's queries and
operations (it reads no other part's tables itself)."""

from flask import Flask


def init_app(app: Flask) -> None:
    from . import auth, routes

    auth.init_login(app)
    app.register_blueprint(routes.blueprint)
