"""Signed tokens for links in emails (manage a registration, confirm or leave the newsletter).

A token is an itsdangerous URL-safe, timestamped signature of a small JSON payload, keyed by
LINK_SECRET_KEY (SECRET_KEY when unset) with one salt per purpose, so a token made for one purpose
is useless for another. Links live for months in mailboxes: they have their own key so that the
session key can be rotated without breaking them, and LINK_SECRET_KEY_FALLBACKS to rotate theirs.
Every way a token can be wrong (forged, garbled, expired, other purpose) raises one `BadToken`.
"""

from typing import Any

from flask import current_app
from itsdangerous import BadData, URLSafeSerializer, URLSafeTimedSerializer

SALT_PREFIX = "webinars."


class BadToken(Exception):
    """The token is forged, garbled, expired or was made for another purpose."""


def _serializer(purpose: str, timed: bool = True) -> URLSafeSerializer:
    if not purpose:
        raise ValueError("a token needs a purpose")
    config = current_app.config
    # Oldest first, the current key last: itsdangerous signs with the last and accepts any.
    keys = [*(config.get("LINK_SECRET_KEY_FALLBACKS") or []), config.get("LINK_SECRET_KEY") or config["SECRET_KEY"]]
    return (URLSafeTimedSerializer if timed else URLSafeSerializer)(keys, salt=SALT_PREFIX + purpose)


def make_token(purpose: str, payload: Any) -> str:
    """Sign `payload` (anything JSON can hold) for `purpose`; the result is safe in a URL path."""
    return _serializer(purpose).dumps(payload)


def make_stable_token(purpose: str, payload: Any) -> str:
    """A signature of `payload` without a timestamp: the same payload always gives the same token, so a
    page that carries one can be the same for every visitor who gets that payload."""
    return _serializer(purpose, timed=False).dumps(payload)


def read_stable_token(purpose: str, token: str) -> Any:
    """The payload of a token made by `make_stable_token(purpose, ...)`, or BadToken."""
    if not isinstance(token, str) or not token or len(token) > 2000:
        raise BadToken("missing or oversized token")
    try:
        return _serializer(purpose, timed=False).loads(token)
    except BadData as error:
        raise BadToken(str(error)) from error
    except (ValueError, TypeError, UnicodeError) as error:
        raise BadToken(str(error)) from error


def read_token(purpose: str, token: str, max_age: int | None = None) -> Any:
    """The payload of a token made by `make_token(purpose, ...)`, or BadToken.

    `max_age` in seconds refuses older tokens; None accepts any age.
    """
    if not isinstance(token, str) or not token or len(token) > 2000:
        raise BadToken("missing or oversized token")
    try:
        return _serializer(purpose).loads(token, max_age=max_age)
    except BadData as error:  # BadSignature, SignatureExpired, BadPayload, BadTimeSignature
        raise BadToken(str(error)) from error
    except (ValueError, TypeError, UnicodeError) as error:  # belt and braces: garbled base64/JSON
        raise BadToken(str(error)) from error
