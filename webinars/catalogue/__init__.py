"""Webinars, topics, speakers and partners: the public catalogue, webinar pages and calendar files.

It imports no part that builds on it: what other parts add to a webinar page, and what they do when
a webinar changes, comes and goes through webinars/signals.py.
"""

from flask import Flask


def init_app(app: Flask) -> None:
    from . import routes

    app.register_blueprint(routes.blueprint)
