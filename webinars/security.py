"""Security headers on every response, and requests refused before they reach the database."""

from flask import Flask, abort, request

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # Content items may show an image from the source's own site (always with its alt text).
        "img-src 'self' data: https:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


# Cross-origin requests get our origin only, never a path: enough for a partner's statistics.
SITE_REFERRER_POLICY = "strict-origin-when-cross-origin"
# Pages whose address is a key (a token from an email) and the organisers' area: no Referer at all
# leaves the site. Not "no-referrer": over HTTPS Flask-WTF refuses a POST without a same-origin
# Referer, so our own forms on these pages must still send one.
PRIVATE_REFERRER_POLICY = "same-origin"


def referrer_policy() -> str:
    """The Referrer-Policy for the current request's page."""
    if (request.view_args and "token" in request.view_args) or request.blueprint == "admin":
        return PRIVATE_REFERRER_POLICY
    return SITE_REFERRER_POLICY


def keep_private(response):
    """For the pages behind a personal link (its token is a key to someone's registration or
    subscription): never stored by a browser or a shared cache. Their Referrer-Policy comes from
    referrer_policy(), like every page whose address carries a token."""
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _carries_nul(values) -> bool:
    return any("\x00" in key or any("\x00" in value for value in values.getlist(key)) for key in values)


def register(app: Flask) -> None:
    @app.before_request
    def refuse_nul_bytes():
        # No address or query parameter of ours contains NUL, and PostgreSQL refuses it in any
        # string (it would otherwise answer differently from SQLite). Forms check their own fields,
        # so that the error shows beside the field; errors.py turns any NUL that still reaches the
        # database into a 400.
        if "\x00" in request.path or _carries_nul(request.args):
            abort(400)

    @app.after_request
    def add_security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", referrer_policy())
        headers.setdefault("X-Frame-Options", "DENY")
        if app.config.get("SESSION_COOKIE_SECURE"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
