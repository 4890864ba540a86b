"""Helpers for posting forms the way a browser does: with the CSRF token from the rendered page."""

from __future__ import annotations

import html
import re

_INPUT = re.compile(r"<input\b[^>]*>", re.IGNORECASE)
_NAME = re.compile(r"""\bname\s*=\s*["']csrf_token["']""", re.IGNORECASE)
_VALUE = re.compile(r"""\bvalue\s*=\s*["']([^"']*)["']""", re.IGNORECASE)


def csrf_token_from_html(page: str) -> str:
    """The value of the first `<input name="csrf_token" value="...">` in `page`."""
    for tag in _INPUT.findall(page):
        if _NAME.search(tag) and (value := _VALUE.search(tag)):
            return html.unescape(value.group(1))
    raise AssertionError("no csrf_token input in the page")


def csrf_token(client, url: str) -> str:
    """GET `url` with the test client (which keeps the session cookie) and return its CSRF token."""
    response = client.get(url)
    assert response.status_code == 200, f"GET {url} answered {response.status_code}"
    return csrf_token_from_html(response.get_data(as_text=True))


def post_form(client, url: str, data: dict | None = None, *, form_url: str | None = None, **kwargs):
    """POST `data` to `url` with the CSRF token read from the form page `form_url` (default: `url`)."""
    data = dict(data or {})
    data.setdefault("csrf_token", csrf_token(client, form_url or url))
    return client.post(url, data=data, **kwargs)
