"""Logging: one line per record on stderr, with its level and the id of the request it belongs to,
and never a token from a link in an email.

The links in emails carry signed tokens in their path (/registrations/<token>,
/newsletter/confirm|preferences|unsubscribe/<token>); whoever reads a log must not be able to
cancel someone's registration or unsubscribe them. Every line the app, werkzeug's development
server and gunicorn write goes through `RedactTokens`: werkzeug's access log through the root
logger configured here, gunicorn's access and error logs through `GunicornLogger` (see
webinars/gunicorn_conf.py and the README's production command).
"""

from __future__ import annotations

import logging
import re
import secrets
import sys

from flask import Flask, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
REDACTED = "[redacted]"

# The paths whose segment after the prefix is a key to someone's registration, subscription or account
# (tests/test_logging.py checks that every route with a <token> is covered).
TOKEN_PATH = re.compile(
    r"(/registrations/|/newsletter/(?:confirm|preferences|unsubscribe)/|/admin/password/reset/)[^/?#\s\"'<>]+"
)
# Anything shaped like an itsdangerous token (base64 JSON payload, timestamp, signature), wherever
# it turns up (a Referer header, an exception message).
SIGNED_TOKEN = re.compile(r"\beyJ[A-Za-z0-9_\-]{2,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{8,}")
# A request id that a trusted reverse proxy passes on: short, and nothing that could forge a log line.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._\-]{1,64}")


def redact(text: str) -> str:
    """`text` with every token from a personal link replaced by [redacted]."""
    return SIGNED_TOKEN.sub(REDACTED, TOKEN_PATH.sub(rf"\1{REDACTED}", text))


class RedactTokens(logging.Filter):
    """Rewrites a record whose message carries a token (the message is formatted once, here)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logging module's to report
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class RequestId(logging.Filter):
    """Adds `request_id` to every record: the current request's, or "-" outside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the moment (a test's capture, a reopened stream)."""

    def __init__(self) -> None:
        super().__init__()
        self._webinars = True

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _handler() -> logging.Handler:
    root = logging.getLogger()
    for handler in root.handlers:
        if getattr(handler, "_webinars", False):
            return handler
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RequestId())
    handler.addFilter(RedactTokens())
    root.addHandler(handler)
    return handler


def current_request_id() -> str:
    return g.get("request_id", "-") if has_request_context() else "-"


def configure_logging(app: Flask) -> None:
    """Log to stderr at LOG_LEVEL through one root handler (installed once per process), and give
    every request an id: the trusted proxy's X-Request-ID or a new one, echoed in the response."""
    from flask.logging import default_handler

    level = app.config["LOG_LEVEL"]
    handler = _handler()
    handler.setLevel(level)
    logging.getLogger().setLevel(level)
    # Flask adds its own handler to the app's logger ("webinars") unless one is found above it: with
    # the root handler in place, records of webinars.* would otherwise be written twice.
    app.logger.removeHandler(default_handler)

    trust_incoming = bool(app.config.get("PROXY_COUNT"))

    @app.before_request
    def assign_request_id():
        incoming = request.headers.get(REQUEST_ID_HEADER, "") if trust_incoming else ""
        g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else secrets.token_hex(8)

    @app.after_request
    def echo_request_id(response):
        if "request_id" in g:
            response.headers[REQUEST_ID_HEADER] = g.request_id
        return response


try:  # gunicorn is a dependency, but the module must import without it (e.g. in a bare script)
    from gunicorn.glogging import Logger as _GunicornBaseLogger
except ImportError:  # pragma: no cover
    _GunicornBaseLogger = object


class GunicornLogger(_GunicornBaseLogger):
    """gunicorn's own logger, with tokens redacted from its access and error logs."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.addFilter(RedactTokens())
