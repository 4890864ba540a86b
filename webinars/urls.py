"""Public addresses for links that leave the site (emails, calendar files, feeds).

They are built from BASE_URL, never from the request's Host header, which a client controls.
"""

from urllib.parse import urlsplit

from flask import current_app, url_for


def external_url(endpoint: str, **values) -> str:
    """BASE_URL + the path of an endpoint; works inside and outside a request."""
    base = current_app.config["BASE_URL"].rstrip("/")
    with current_app.test_request_context("/"):
        path = url_for(endpoint, **values)
    return base + path


def webcal_url(endpoint: str, **values) -> str:
    """The same address with the webcal:// scheme that calendar apps subscribe to."""
    url = external_url(endpoint, **values)
    return "webcal://" + url.split("://", 1)[1]


def service_domain() -> str:
    return urlsplit(current_app.config["BASE_URL"]).hostname or "localhost"
