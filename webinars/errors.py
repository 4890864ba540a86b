"""Error pages in the site's layout, with a sentence a person understands and a way back."""

import logging

from flask import Flask, has_request_context, render_template, request
from flask.globals import request_ctx
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from .extensions import db
from .logs import redact

log = logging.getLogger(__name__)

MESSAGES = {
    400: (_l("Bad request"), _l("We could not understand that request. Please go back and try again.")),
    403: (_l("Not allowed"), _l("You do not have permission to see this page.")),
    404: (
        _l("Page not found"),
        _l("We could not find that page. It may have moved, or the link may be wrong."),
    ),
    405: (_l("Not allowed"), _l("That page cannot be used this way.")),
    409: (
        _l("Saved by someone else at the same moment"),
        _l(
            "Someone else saved the same thing at the same moment, so what you sent was not saved. "
            "Go back, check the page and send it again."
        ),
    ),
    410: (_l("Link expired"), _l("This link has expired or is no longer valid.")),
    413: (_l("Too large"), _l("What you sent is too large.")),
    429: (_l("Too many requests"), _l("You have tried this too often. Please wait a little and try again.")),
    500: (
        _l("Something went wrong"),
        _l("An unexpected error happened on our side. Please try again later."),
    ),
    503: (
        _l("Temporarily unavailable"),
        _l("The service is briefly unavailable. Nothing you sent was lost; please try again in a moment."),
    ),
}


def _plain(code: int, message) -> str:
    return f"<!doctype html><title>{code}</title><h1>{code}</h1><p>{escape(str(message))}</p>"


def render_error(code: int, message: str | None = None):
    title, default_message = MESSAGES.get(code, MESSAGES[500])
    if has_request_context() and request_ctx.url_adapter is None:
        # A Host outside TRUSTED_HOSTS: no URL can be built for this request, so no layout either.
        return _plain(code, default_message), code
    try:
        body = render_template("errors/error.html", code=code, title=title, message=message or default_message)
    except Exception:  # the error page must never fail itself (e.g. database down while rendering)
        log.exception("could not render error page")
        body = _plain(code, default_message)
    response = (body, code)
    return response


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_error(
            400,
            _l("This form has expired or was not sent from our site. Please reload the page and try again."),
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        response = render_error(error.code, getattr(error, "user_message", None))
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            return (*response, {"Allow": ", ".join(error.valid_methods)})
        if error.code == 429 and getattr(error, "retry_after", None):
            return (*response, {"Retry-After": str(error.retry_after)})
        return response

    @app.errorhandler(DataError)
    def invalid_data(error):
        # The database refused a value (a NUL byte, a number out of range): the request's fault,
        # and trying again will not help, so not a 503.
        log.warning("database refused data on %s %s: %s", request.method, redact(request.path), error.orig)
        try:
            db.session.rollback()
        except Exception:
            log.debug("rollback after refused data failed", exc_info=True)
        return render_error(400)

    @app.errorhandler(IntegrityError)
    def conflict(error):
        # A unique key taken between our check and our write (two organisers saving the same slug or
        # topic at once): the request lost a race, the database is fine, so a 409 rather than a 503.
        log.info("conflicting write on %s %s: %s", request.method, redact(request.path), error.orig)
        try:
            db.session.rollback()
        except Exception:
            log.debug("rollback after a conflicting write failed", exc_info=True)
        return render_error(409)

    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    def database_unavailable(error):
        log.warning("database error on %s %s: %s", request.method, redact(request.path), error)
        try:
            db.session.rollback()
        except Exception:  # the connection itself may be gone
            log.debug("rollback after database error failed", exc_info=True)
        return (*render_error(503), {"Retry-After": "5"})

    @app.errorhandler(Exception)
    def unexpected(error):
        log.exception("unhandled error on %s %s", request.method, redact(request.path))
        return render_error(500)
