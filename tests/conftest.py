"""Shared fixtures: the app on real SQLite and real PostgreSQL, a real SMTP server, CLI and client.

Databases
    postgres_cluster (session) -> tests._support.postgres.PostgresCluster
        A throwaway PostgreSQL cluster (initdb + pg_ctl, fsync=off) on a free port of 127.0.0.1,
        run as the `postgres` user when we are root. One per pytest-xdist worker, so workers never
        share a database. Skips the test when PostgreSQL is not installed, fails instead when CI=true.
        .url(dbname), .dsn(dbname), .connect(dbname) (autocommit psycopg), .create_database(name,
        template=None), .drop_database(name), .port. WEBINARS_PG_BINDIR picks the binaries.
    postgres_url -> str (one database for the whole session)
        `postgresql+psycopg://...` URL of an empty database on that cluster (no schema).

Apps (each gets a fresh database whose schema was built by running the migrations)
    app -> Flask                 parametrized: ids `sqlite` and `postgresql`
    sqlite_app -> Flask          SQLite file in tmp_path (a file, not :memory:: tests use threads)
    pg_app -> Flask              PostgreSQL only
    client -> FlaskClient        app.test_client() of `app`
    runner -> FlaskCliRunner     app.test_cli_runner() of `app`
    A test using two app fixtures (say sqlite_app and pg_app) gets two separate databases.

    The migrations run once per session per database kind (per xdist worker). SQLite: each test
    gets a copy of the migrated file. PostgreSQL: each app gets a database cloned once from the
    migrated template and wiped (DELETE, seed rows and sequences restored) before reuse; a test
    that changes the schema gets its database dropped instead. Either way every test starts from
    exactly what `flask db upgrade` produces, seed rows included, with ids starting at 1.

    Config: TESTING, SECRET_KEY="test-secret", BASE_URL="http://webinars.test", MAIL_SERVER and
    MAIL_PORT of `smtp_server`, MAIL_DEFAULT_SENDER="Webinars <webinars@webinars.test>",
    MAIL_RATE_LIMIT=0. CSRF stays ENABLED: post forms with tests._support.forms.post_form() or
    csrf_token(client, url). Override config per test with a marker:
        @pytest.mark.app_config(WTF_CSRF_ENABLED=False)

Mail
    smtp_server -> tests._support.smtp.SMTPTestServer
        A real aiosmtpd server on 127.0.0.1 (one per session, reset before each test).
        .messages (list of ReceivedMessage: mail_from, rcpt_tos, data, message, subject, body()),
        .clear(), .wait_for(count, timeout=5.0), .messages_to(address), .stop() / .start() (same
        port), .refuse_rcpt(address_or_predicate, code=550, times=None) (a 4xx code is a temporary
        refusal), .defer_rcpt(address, code=451, times=1), .refuse_data(code=451, times=1),
        .offer_smtputf8(True|False) (off unless asked; each message records .smtputf8, whether the
        client used it), .reset(), .running, .host, .port.

Helpers: tests._support.forms (csrf_token, csrf_token_from_html, post_form).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests._support.live_server import base_test_config
from tests._support.postgres import DatabasePool, PostgresCluster, PostgresUnavailable
from tests._support.smtp import SMTPTestServer

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "migrations"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "app_config(**overrides): extra config for the app fixtures of this test")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


# -- mail --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _smtp_server_session() -> Iterator[SMTPTestServer]:
    server = SMTPTestServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server(_smtp_server_session: SMTPTestServer) -> SMTPTestServer:
    """The session's SMTP server, listening, accepting everyone, with no messages yet."""
    _smtp_server_session.reset()
    return _smtp_server_session


# -- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _postgres_cluster_or_error() -> Iterator[PostgresCluster | PostgresUnavailable]:
    # Started once per worker process, and only if some test asks for PostgreSQL.
    try:
        cluster = PostgresCluster()
        cluster.start()
    except PostgresUnavailable as exc:
        yield exc
        return
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_cluster(_postgres_cluster_or_error) -> PostgresCluster:
    """The worker's PostgreSQL cluster; skips (or fails when CI=true) if it cannot run here."""
    if isinstance(_postgres_cluster_or_error, PostgresUnavailable):
        message = f"PostgreSQL unavailable: {_postgres_cluster_or_error}"
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return _postgres_cluster_or_error


@pytest.fixture(scope="session")
def _postgres_url(_postgres_cluster_or_error) -> str | None:
    if isinstance(_postgres_cluster_or_error, PostgresUnavailable):
        return None
    return _postgres_cluster_or_error.create_database("webinars")


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster, _postgres_url: str) -> str:
    """URL of an empty database `webinars` on the worker's cluster (shared by the session)."""
    return _postgres_url


# -- schema templates --------------------------------------------------------------------------


@contextmanager
def _logging_kept() -> Iterator[None]:
    """Undo what alembic's env.py does to logging (fileConfig disables existing loggers)."""
    root = logging.getLogger()
    saved_root = (root.level, list(root.handlers))
    loggers = [lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    saved = [(lg, lg.level, lg.disabled, list(lg.handlers), lg.propagate) for lg in loggers]
    try:
        yield
    finally:
        root.setLevel(saved_root[0])
        root.handlers[:] = saved_root[1]
        for lg, level, disabled, handlers, propagate in saved:
            lg.setLevel(level)
            lg.disabled = disabled
            lg.handlers[:] = handlers
            lg.propagate = propagate
        for lg in logging.Logger.manager.loggerDict.values():
            if isinstance(lg, logging.Logger) and lg not in loggers:
                lg.handlers[:] = []  # e.g. alembic's own console handler
                lg.propagate = True


def _base_config(database_url: str, smtp_port: int) -> dict:
    return {"TESTING": True, **base_test_config(database_url, smtp_port)}


def _dispose(app) -> None:
    """Close every pooled connection of the app (no ResourceWarning, no connection left on PG)."""
    from webinars.extensions import db

    with app.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


def _run_migrations(database_url: str) -> None:
    """Build the schema with `flask db upgrade`, exactly as production does."""
    from flask_migrate import upgrade

    from webinars import create_app

    # Port 9 (discard): nothing should send mail while migrating.
    app = create_app(_base_config(database_url, 9))
    try:
        with app.app_context(), _logging_kept():
            upgrade(directory=str(MIGRATIONS))
    finally:
        _dispose(app)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    _run_migrations(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_pool(_postgres_cluster_or_error) -> DatabasePool:
    cluster = _postgres_cluster_or_error
    assert isinstance(cluster, PostgresCluster)  # callers go through postgres_cluster first
    cluster.create_database("webinars_template")
    _run_migrations(cluster.url("webinars_template"))
    return DatabasePool(cluster, "webinars_template")


@contextmanager
def _database(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh copy of the migrated schema; yields its URL and removes it afterwards."""
    if kind == "sqlite":
        path = tmp_path / "webinars.sqlite3"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    pool: DatabasePool = request.getfixturevalue("_postgres_pool")
    name = pool.acquire()
    try:
        yield cluster.url(name)
    finally:
        pool.release(name)


def _make_app(kind: str, request: pytest.FixtureRequest, tmp_path: Path, smtp_server: SMTPTestServer):
    from webinars import create_app

    with _database(kind, request, tmp_path) as url:
        config = _base_config(url, smtp_server.port)
        for marker in reversed(list(request.node.iter_markers("app_config"))):
            config.update(marker.kwargs)  # the marker closest to the test wins
        app = create_app(config)
        try:
            yield app
        finally:
            _dispose(app)


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, tmp_path: Path, smtp_server: SMTPTestServer):
    """The app on a freshly migrated database, once on SQLite and once on PostgreSQL."""
    yield from _make_app(request.param, request, tmp_path, smtp_server)


@pytest.fixture
def sqlite_app(request: pytest.FixtureRequest, tmp_path: Path, smtp_server: SMTPTestServer):
    """The app on a freshly migrated SQLite file."""
    yield from _make_app("sqlite", request, tmp_path, smtp_server)


@pytest.fixture
def pg_app(request: pytest.FixtureRequest, tmp_path: Path, smtp_server: SMTPTestServer):
    """The app on a freshly migrated PostgreSQL database."""
    yield from _make_app("postgresql", request, tmp_path, smtp_server)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
