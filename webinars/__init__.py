"""The webinars service: catalogue, calendars, registrations, newsletter and the organisers' area."""

import os
import secrets
import tempfile
from contextlib import suppress
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from flask import Flask
from werkzeug.routing import RequestRedirect

from .extensions import babel, csrf, db, login_manager, migrate
from .logs import configure_logging

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = PROJECT_ROOT / "translations"
# Written by `make run` (scripts/run-dev): the address it serves, read by every process without BASE_URL.
RECORDED_BASE_URL = "base-url"


class WebinarsFlask(Flask):
    def raise_routing_exception(self, request):
        # Werkzeug builds the redirect of a missing trailing slash (/admin -> /admin/) from the Host
        # header, which the client chose: redirect to the path alone, on whatever host was asked.
        error = request.routing_exception
        if isinstance(error, RequestRedirect):
            parts = urlsplit(error.new_url)
            raise RequestRedirect(urlunsplit(("", "", parts.path, parts.query, ""))) from None
        super().raise_routing_exception(request)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the application: settings, extensions, blueprints, error pages, commands.

    `test_config`: settings given in code (tests, benchmarks), applied over the environment's."""
    from config import instance_path

    app = WebinarsFlask(
        __name__,
        # The instance folder holds the SQLite file, the development mail and the recorded base URL.
        instance_path=instance_path(),
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    configure(app, test_config)
    configure_logging(app)
    register_extensions(app)
    register_parts(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    register_security_headers(app)
    register_commands(app)
    return app


def configure(app: Flask, test_config: dict | None) -> None:
    from config import config_class, signing_keys

    app.config.from_object(config_class(default=default_environment(test_config)))
    app.config.update(signing_keys())
    if test_config:
        app.config.update(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = instance_secret_key(app.instance_path)
    uri = app.config.get("SQLALCHEMY_DATABASE_URI")
    if not uri:
        uri = "sqlite:///" + os.path.join(app.instance_path, "webinars.db")
    # Hosting platforms hand out postgres:// URLs; SQLAlchemy wants the driver named.
    for prefix in ("postgres://", "postgresql://"):
        if uri.startswith(prefix):
            uri = "postgresql+psycopg://" + uri[len(prefix) :]
    app.config["SQLALCHEMY_DATABASE_URI"] = uri
    if not app.config.get("MAIL_OUTBOX_DIR"):
        app.config["MAIL_OUTBOX_DIR"] = os.path.join(app.instance_path, "mail")
    configure_keys(app)
    base_url = app.config.get("BASE_URL") or default_base_url(app.instance_path, app.config.get("PORT") or 5000)
    app.config["BASE_URL"] = base_url.rstrip("/")
    if app.config.get("TRUSTED_HOSTS") is None and app.config.get("WEBINARS_ENV") == "production":
        # A request naming another host (a forged Host header) gets a 400, never links built from it.
        app.config["TRUSTED_HOSTS"] = [urlsplit(app.config["BASE_URL"]).hostname or "localhost"]
    proxies = int(app.config.get("PROXY_COUNT") or 0)
    if proxies:
        # Behind nginx the client's address (for login throttling) and https come from its headers.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)


def default_environment(test_config: dict | None) -> str:
    """The environment when WEBINARS_ENV is unset: development for the `flask` command (the development
    server of `make run` and the commands a developer runs beside it) and for an app given its settings
    in code (the tests); production for anything else (gunicorn), so that a forgotten WEBINARS_ENV
    fails closed: no start without a real SECRET_KEY, rather than a site signed with a known key."""
    import click
    from flask.cli import FlaskGroup

    context = click.get_current_context(silent=True)
    if test_config is not None or (context is not None and isinstance(context.find_root().command, FlaskGroup)):
        return "development"
    return "production"


SECRET_KEY_FILE = "secret-key"


def instance_secret_key(instance_path: str) -> str:
    """Development without SECRET_KEY: a random key made once per instance folder and kept there
    (readable by its owner only), so that the web server, the mail worker and every command sign
    alike and sessions survive a restart, while no key anyone can read in the repository opens the site.
    Several processes may start at once: the first file linked into place wins, the others read it."""
    path = os.path.join(instance_path, SECRET_KEY_FILE)
    try:
        with open(path, encoding="utf-8") as stored:
            key = stored.read().strip()
        if key:
            return key
    except FileNotFoundError:
        pass
    fd, draft = tempfile.mkstemp(dir=instance_path, prefix=".secret-key-")  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_hex(32) + "\n")
        with suppress(FileExistsError):  # another process was first: its key stays, never replaced
            os.link(draft, path)
    finally:
        os.unlink(draft)
    with open(path, encoding="utf-8") as stored:
        return stored.read().strip()


def configure_keys(app: Flask) -> None:
    """Sessions and CSRF tokens: SECRET_KEY, with SECRET_KEY_FALLBACKS still accepted (Flask reads them
    for sessions; Flask-WTF takes a list of keys, newest last). Links in emails: LINK_SECRET_KEY, which
    defaults to SECRET_KEY so that links sent before it existed keep working (see tokens.py)."""
    if not app.config.get("LINK_SECRET_KEY"):
        app.config["LINK_SECRET_KEY"] = app.config["SECRET_KEY"]
    fallbacks = list(app.config.get("SECRET_KEY_FALLBACKS") or [])
    if fallbacks and not app.config.get("WTF_CSRF_SECRET_KEY"):
        app.config["WTF_CSRF_SECRET_KEY"] = [*fallbacks, app.config["SECRET_KEY"]]


def default_base_url(instance_path: str, port: int) -> str:
    """Without BASE_URL: what `make run` recorded (so that the web server, its mail worker and any
    command agree), else the development server's address on PORT."""
    try:
        with open(os.path.join(instance_path, RECORDED_BASE_URL), encoding="utf-8") as recorded:
            url = recorded.readline().strip()
    except OSError:
        url = ""
    return url or f"http://127.0.0.1:{port}"


def register_extensions(app: Flask) -> None:
    from . import models  # noqa: F401  (the whole schema, for Alembic and relationships)
    from .database import configure_engine_events

    db.init_app(app)
    configure_engine_events()
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    # Catalogues live beside templates/ and static/ (translations/fr/LC_MESSAGES/messages.po).
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)


def select_locale() -> str:
    from .language import select_locale

    return select_locale()


def register_parts(app: Flask) -> None:
    """Each part plugs itself in (its pages, the renderers of its mail, its idle-time housekeeping,
    its answers to other parts' signals); this is the one place that knows them all."""
    from . import admin, catalogue, content, newsletter, registrations
    from .language import register as register_language
    from .outbox import register_idle_hook
    from .ratelimit import forget_stale
    from .urls import DatabaseIdConverter

    # Before any route is added: every <int:...> is bounded to what a database id can be.
    app.url_map.converters["int"] = DatabaseIdConverter
    for part in (catalogue, registrations, newsletter, content, admin):
        part.init_app(app)
    # Rate-limit counters older than any window are forgotten while the mail worker is idle.
    register_idle_hook(app, forget_stale)
    register_language(app, TRANSLATIONS)


def register_errorhandlers(app: Flask) -> None:
    from .errors import register

    register(app)


def register_template_helpers(app: Flask) -> None:
    from .templating import register

    register(app)


def register_security_headers(app: Flask) -> None:
    from .security import register

    register(app)


def register_commands(app: Flask) -> None:
    from .cli import register

    register(app)
