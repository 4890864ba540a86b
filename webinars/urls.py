"""Public addresses for links that leave the site (emails, calendar files, feeds).

They are built from BASE_URL, never from the request's Host header, which a client controls.
"""

from urllib.parse import urlsplit

from flask import Flask, current_app, url_for
from werkzeug.routing import IntegerConverter, MapAdapter

from .database import MAX_ID


def external_url(endpoint: str, **values) -> str:
    """BASE_URL + the path of an endpoint; works inside and outside a request."""
    base = current_app.config["BASE_URL"].rstrip("/")
    if any(key.startswith("_") for key in values):  # url_for's own options (_anchor, _method...)
        with current_app.test_request_context("/"):
            return base + url_for(endpoint, **values)
    # One adapter per app instead of a test request context per call (the feed asks 1,000 times). The
    # path is what url_for gives in a request for "/": the same map, the same script root, no host.
    return base + _path_adapter(current_app._get_current_object()).build(endpoint, values)


def _path_adapter(app: Flask) -> MapAdapter:
    adapter = app.extensions.get("webinars.path_adapter")
    if adapter is None:
        adapter = app.url_map.bind(
            app.config.get("SERVER_NAME") or "localhost",
            script_name=app.config.get("APPLICATION_ROOT") or "/",
            url_scheme=app.config.get("PREFERRED_URL_SCHEME") or "http",
        )
        app.extensions["webinars.path_adapter"] = adapter
    return adapter


def webcal_url(endpoint: str, **values) -> str:
    """The same address with the webcal:// scheme that calendar apps subscribe to."""
    url = external_url(endpoint, **values)
    return "webcal://" + url.split("://", 1)[1]


def service_domain() -> str:
    return urlsplit(current_app.config["BASE_URL"]).hostname or "localhost"


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` in every route: a number up to MAX_ID (a PostgreSQL integer); a larger one is a 404,
    not an overflow in the database driver."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = None, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=MAX_ID if max is None else max, signed=signed)
