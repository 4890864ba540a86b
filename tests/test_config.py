"""Settings from the environment, and the production guard on SECRET_KEY."""

import importlib
import logging
import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import request
from sqlalchemy import select

from tests._support.postgres import free_port

CHECK = "from webinars import create_app; app = create_app(); print(app.config['SESSION_COOKIE_SECURE'])"


def run_app(env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "WEBINARS_ENV", "DATABASE_URL"}}
    return subprocess.run([sys.executable, "-c", CHECK], env={**clean, **env}, capture_output=True, text=True)


@pytest.mark.parametrize("key", [None, "", "dev-only-not-secret", "short"])
def test_production_refuses_to_start_without_a_real_secret_key(key, tmp_path):
    env = {"WEBINARS_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    if key is not None:
        env["SECRET_KEY"] = key
    result = run_app(env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_starts_with_a_real_key_and_secure_cookies(tmp_path):
    result = run_app(
        {"WEBINARS_ENV": "production", "SECRET_KEY": "a" * 64, "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_development_defaults_work_with_nothing_else_set(tmp_path):
    result = run_app({"WEBINARS_ENV": "development", "WEBINARS_INSTANCE_PATH": str(tmp_path / "instance")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("name", ["prod", "Prod", "staging", "dev", "production1", "test"])
def test_an_environment_name_that_is_neither_development_nor_production_stops_the_start(name, tmp_path):
    # WEBINARS_ENV=prod used to mean development: the public key, no secure cookies.
    result = run_app({"WEBINARS_ENV": name, "SECRET_KEY": "a" * 64, "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert result.returncode != 0
    assert f"WEBINARS_ENV must be development or production, not {name!r}" in result.stderr


def test_the_environment_name_is_read_in_any_case(tmp_path):
    result = run_app(
        {"WEBINARS_ENV": " Production ", "SECRET_KEY": "a" * 64, "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_an_app_served_without_the_flask_command_is_production_unless_told_otherwise(tmp_path):
    # What gunicorn does: import the package and call create_app(), with WEBINARS_ENV forgotten.
    result = run_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "WEBINARS_INSTANCE_PATH": str(tmp_path / "i")})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_the_flask_command_is_development_unless_told_otherwise(tmp_path):
    # `make run` and the commands of the README run in a developer's shell with nothing set.
    result = subprocess.run(
        [str(FLASK), "--app", "webinars", "db", "upgrade"],
        cwd=ROOT,
        env=_dev_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "instance" / SECRET_KEY_FILE).is_file()


SECRET_KEY_FILE = "secret-key"
OLD_PUBLIC_KEY = "dev-only-not-secret"  # the development key that git history shows to everyone


def test_development_without_a_secret_key_signs_with_a_random_key_kept_in_the_instance_folder(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    with environment({"WEBINARS_ENV": "development", "WEBINARS_INSTANCE_PATH": str(first)}, tmp_path) as app:
        key = app.config["SECRET_KEY"]
        assert app.config["LINK_SECRET_KEY"] == key
    assert len(key) >= 64 and key != OLD_PUBLIC_KEY
    stored = first / SECRET_KEY_FILE
    assert stored.read_text(encoding="utf-8").strip() == key
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600  # readable by the service's user only
    # The web server, its mail worker and a command in another terminal share the instance's key...
    with environment({"WEBINARS_ENV": "development", "WEBINARS_INSTANCE_PATH": str(first)}, tmp_path) as again:
        assert again.config["SECRET_KEY"] == key
    # ... and another instance has its own.
    with environment({"WEBINARS_ENV": "development", "WEBINARS_INSTANCE_PATH": str(second)}, tmp_path) as other:
        assert other.config["SECRET_KEY"] not in (key, OLD_PUBLIC_KEY)
    # A key that is set wins, and nothing is written.
    third = tmp_path / "third"
    with environment({"WEBINARS_INSTANCE_PATH": str(third), "SECRET_KEY": "k" * 40}, tmp_path) as keyed:
        assert keyed.config["SECRET_KEY"] == "k" * 40
    assert not (third / SECRET_KEY_FILE).exists()


def test_database_url_in_heroku_style_gets_the_psycopg_driver():
    from webinars import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": "postgres://u:p@127.0.0.1:1/db", "TESTING": True})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@127.0.0.1:1/db"


def test_production_refuses_a_short_link_key_too(tmp_path):
    result = run_app(
        {
            "WEBINARS_ENV": "production",
            "SECRET_KEY": "a" * 64,
            "LINK_SECRET_KEY": "short",
            "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        }
    )
    assert result.returncode != 0
    assert "LINK_SECRET_KEY must be set" in result.stderr


def test_key_settings_come_from_the_environment(tmp_path):
    script = (
        "from webinars import create_app; c = create_app().config; "
        "print(c['SECRET_KEY_FALLBACKS'], c['LINK_SECRET_KEY'], c['LINK_SECRET_KEY_FALLBACKS'], "
        "c['WTF_CSRF_SECRET_KEY'])"
    )
    env = {
        "SECRET_KEY": "current-session-key",
        "SECRET_KEY_FALLBACKS": "older-one, old-one",
        "LINK_SECRET_KEY_FALLBACKS": "first-link-key",
        "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
    }
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "WEBINARS_ENV", "DATABASE_URL"}}
    result = subprocess.run([sys.executable, "-c", script], env={**clean, **env}, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # Unset, the link key is the session key (links sent before it existed keep working).
    assert result.stdout.split("] ")[0] == "['older-one', 'old-one'"
    assert "current-session-key ['first-link-key'] ['older-one', 'old-one', 'current-session-key']" in result.stdout


# -- every process builds the same public URLs ------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
FLASK = ROOT / ".venv" / "bin" / "flask"


def _dev_env(tmp_path: Path, **extra) -> dict:
    """A developer's shell: no BASE_URL, the service's files in a throwaway instance folder."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "WEBINARS_ENV", "DATABASE_URL", "BASE_URL", "PORT", "MAIL_SERVER"}
    }
    return {**clean, "WEBINARS_INSTANCE_PATH": str(tmp_path / "instance"), **extra}


def _wait_until_serving(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"make run stopped early: {process.stdout.read() if process.stdout else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing served at {url} within {timeout} s")


@pytest.mark.slow
def test_make_run_on_another_port_and_a_command_in_another_terminal_build_the_same_links(tmp_path):
    port = free_port()
    env = _dev_env(tmp_path)
    # `PORT=… make run` is scripts/run-dev with PORT set; started in its own process group to stop it whole.
    server = subprocess.Popen(
        [str(ROOT / "scripts" / "run-dev")],
        cwd=ROOT,
        env={**env, "PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_until_serving(f"http://127.0.0.1:{port}/", server)
        # Another terminal: the same shell, no PORT and no BASE_URL.
        database = tmp_path / "instance" / "webinars.db"
        engine = sa.create_engine(f"sqlite:///{database}")
        with engine.connect() as connection:
            slug = connection.execute(
                sa.text("SELECT slug FROM webinars WHERE status = 'published' AND starts_at > :now ORDER BY starts_at"),
                {"now": datetime.now(UTC).replace(tzinfo=None)},
            ).scalar()
        result = subprocess.run(
            [str(FLASK), "--app", "webinars", "newsletter", "announce", slug],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        with engine.connect() as connection:
            body = connection.execute(sa.text("SELECT body_html FROM campaigns")).scalar()
        engine.dispose()
        assert f'href="http://127.0.0.1:{port}/webinars/{slug}"' in body
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        if server.stdout:
            server.stdout.close()


GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"


@pytest.mark.slow
def test_gunicorn_with_nothing_set_refuses_to_serve(tmp_path):
    # The README's gunicorn line in a shell where WEBINARS_ENV and SECRET_KEY were forgotten.
    env = _dev_env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    port = free_port()
    argv = [str(GUNICORN), "--bind", f"127.0.0.1:{port}", "--workers", "2", "webinars:create_app()"]
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stdout + result.stderr


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _status(url: str, session_cookie: str) -> int:
    opener = urllib.request.build_opener(_NoRedirects)
    request = urllib.request.Request(url, headers={"Cookie": f"session={session_cookie}"})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _forged_session(key: str) -> str:
    """An organiser's session cookie as anyone who knows `key` can write it: the first organiser,
    signed in just now (what the review did with the development key of the repository)."""
    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface

    forger = Flask("forger")
    forger.secret_key = key
    now = int(time.time())
    data = {"_user_id": "1:0", "_fresh": True, "organiser_signed_in_at": now, "organiser_seen_at": now}
    return SecureCookieSessionInterface().get_signing_serializer(forger).dumps(data)


@pytest.mark.slow
def test_a_development_server_without_a_secret_key_is_not_open_to_a_forged_session(tmp_path):
    env = _dev_env(tmp_path, WEBINARS_ENV="development", DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    for args, stdin in (
        (["db", "upgrade"], None),
        (["admin", "create", "o@example.org", "--password-stdin"], "p" * 20),
    ):
        done = subprocess.run(
            [str(FLASK), "--app", "webinars", *args], cwd=ROOT, env=env, input=stdin, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    port = free_port()
    server = subprocess.Popen(
        [str(GUNICORN), "--bind", f"127.0.0.1:{port}", "--workers", "2", "webinars:create_app()"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_until_serving(f"http://127.0.0.1:{port}/", server)
        export = f"http://127.0.0.1:{port}/admin/newsletter/subscribers.csv"
        assert _status(export, _forged_session(OLD_PUBLIC_KEY)) == 302  # to the sign-in page
        # The same forgery with the instance's own key opens the export: the cookie above was a real
        # attempt, and both workers sign with the one key in the instance folder.
        key = (tmp_path / "instance" / SECRET_KEY_FILE).read_text(encoding="utf-8").strip()
        assert [_status(export, _forged_session(key)) for _ in range(4)] == [200] * 4
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        if server.stdout:
            server.stdout.close()


def test_base_url_set_in_the_environment_wins_over_what_make_run_recorded(tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "base-url").write_text("http://127.0.0.1:5101\n", encoding="utf-8")
    show = "from webinars import create_app; print(create_app().config['BASE_URL'])"
    development = _dev_env(tmp_path, WEBINARS_ENV="development")
    recorded = subprocess.run([sys.executable, "-c", show], env=development, capture_output=True, text=True)
    assert recorded.stdout.strip() == "http://127.0.0.1:5101", recorded.stderr
    env = {**development, "BASE_URL": "https://webinars.example.org/"}
    explicit = subprocess.run([sys.executable, "-c", show], env=env, capture_output=True, text=True)
    assert explicit.stdout.strip() == "https://webinars.example.org"
    (instance / "base-url").unlink()
    default = subprocess.run([sys.executable, "-c", show], env=development, capture_output=True, text=True)
    assert default.stdout.strip() == "http://127.0.0.1:5000"


# -- every documented setting is read, and acts ------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CONFIG = ROOT / "config.py"
_READ = re.compile(
    r"""_(?:text|bool|int|float|words|list)\(\s*["']([A-Z][A-Z0-9_]+)["']|environ\.get\(\s*["']([A-Z][A-Z0-9_]+)["']"""
)


def documented_settings() -> list[str]:
    """The variables named in the first column of the README's settings table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    names = []
    for line in section.splitlines():
        if line.startswith("| `"):
            names += re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1])
    return names


def settings_read_by_config() -> set[str]:
    return {a or b for a, b in _READ.findall(CONFIG.read_text(encoding="utf-8"))}


def test_the_readme_table_and_config_py_name_the_same_settings():
    documented = documented_settings()
    assert len(documented) == len(set(documented)), "a variable appears twice in the README's table"
    assert set(documented) == settings_read_by_config()


@contextmanager
def environment(values: dict[str, str], tmp_path: Path):
    """An app created by create_app() with nothing but `values` (and a throwaway SQLite file and
    instance folder) in the environment, as the `flask` command would build it."""
    import config
    from webinars import create_app

    saved = dict(os.environ)
    for name in settings_read_by_config() | {"WEBINARS_ENV"}:
        os.environ.pop(name, None)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp_path}/settings.db")
    # As the `flask` command builds it: development unless WEBINARS_ENV says otherwise.
    os.environ["WEBINARS_ENV"] = "development"
    os.environ.setdefault("WEBINARS_INSTANCE_PATH", str(tmp_path / "instance"))
    os.environ.update(values)
    try:
        importlib.reload(config)
        yield create_app()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        importlib.reload(config)


def _digest_limits(app):
    from webinars.newsletter.digest import limits

    with app.app_context():
        return limits()


def _sender(app):
    from webinars.outbox.sender import Sender

    with app.app_context():
        return Sender()


def _remote_addr(app) -> str:
    app.add_url_rule("/_test/ip", "test_ip", lambda: request.remote_addr or "")
    headers = {"X-Forwarded-For": "203.0.113.9"}
    return app.test_client().get("/_test/ip", headers=headers).get_data(as_text=True)


def _token_checks_with(app, key: str) -> bool:
    from itsdangerous import URLSafeTimedSerializer

    from webinars.tokens import SALT_PREFIX, make_token

    with app.app_context():
        token = make_token("test", {"x": 1})
    return URLSafeTimedSerializer(key, salt=SALT_PREFIX + "test").loads(token) == {"x": 1}


def _backoff(app, attempts: int) -> float:
    from webinars.outbox.sender import backoff_seconds

    with app.app_context():
        return backoff_seconds(attempts)


def _from_header(app) -> str:
    from webinars.outbox.messages import build_email

    with app.app_context():
        return build_email(to="a@example.org", subject="s", text="t", html="<p>t</p>")["From"]


def _external(app) -> str:
    from webinars.urls import external_url

    with app.app_context():
        return external_url("catalogue.index")


def _feed_name(app) -> str:
    from webinars.catalogue.calendars import _feed_name

    with app.app_context():
        return _feed_name(None)


def _database_file(app) -> str:
    from webinars.extensions import db

    with app.app_context():
        return db.engine.url.database


def _admin_setting(app, name: str) -> int:
    from webinars.admin.auth import _setting

    with app.app_context():
        return _setting(name)


def _second_reset_request(app) -> int:
    """The status of a client's second request for a password reset link (the schema is built first)."""
    from flask_migrate import upgrade

    from tests._support.forms import csrf_token
    from tests.conftest import _logging_kept
    from webinars.extensions import db

    with app.app_context(), _logging_kept():
        upgrade(directory=str(ROOT / "migrations"))
    client = app.test_client()
    statuses = []
    for _ in range(2):
        token = csrf_token(client, "/admin/password/forgot")
        response = client.post("/admin/password/forgot", data={"csrf_token": token, "email": "a@example.org"})
        statuses.append(response.status_code)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return statuses[-1]


def _link_token_checks_with(app, key: str) -> bool:
    from itsdangerous import URLSafeTimedSerializer

    from webinars.tokens import SALT_PREFIX, make_token

    with app.app_context():
        token = make_token("test", {"x": 1})
    return URLSafeTimedSerializer(key, salt=SALT_PREFIX + "test").loads(token) == {"x": 1}


def _old_link_accepted(app, old_key: str) -> bool:
    from itsdangerous import URLSafeTimedSerializer

    from webinars.tokens import SALT_PREFIX, read_token

    token = URLSafeTimedSerializer(old_key, salt=SALT_PREFIX + "test").dumps({"x": 1})
    with app.app_context():
        return read_token("test", token) == {"x": 1}


def _logs_at(level: int) -> bool:
    from webinars.logs import _handler

    return _handler().level == level and logging.getLogger().level == level


KEY = "k" * 40
# Each documented variable, a value to set, and what must follow from it in the app that starts.
EFFECTS = {
    "SECRET_KEY": ({"SECRET_KEY": KEY}, lambda app, tmp: _token_checks_with(app, KEY)),
    "WEBINARS_ENV": (
        {"WEBINARS_ENV": "production", "SECRET_KEY": KEY},
        lambda app, tmp: app.config["SESSION_COOKIE_SECURE"] is True,
    ),
    "DATABASE_URL": (
        {"DATABASE_URL": "sqlite:////tmp/elsewhere.db"},
        lambda app, tmp: _database_file(app) == "/tmp/elsewhere.db",
    ),
    "MAIL_SERVER": (
        {"MAIL_SERVER": "smtp.example.org"},
        lambda app, tmp: _sender(app).transport.host == "smtp.example.org",
    ),
    "MAIL_PORT": (
        {"MAIL_SERVER": "smtp.example.org", "MAIL_PORT": "2525"},
        lambda app, tmp: _sender(app).transport.port == 2525,
    ),
    "MAIL_USE_TLS": (
        {"MAIL_SERVER": "smtp.example.org", "MAIL_USE_TLS": "true"},
        lambda app, tmp: _sender(app).transport.use_tls,
    ),
    "MAIL_USERNAME": (
        {"MAIL_SERVER": "smtp.example.org", "MAIL_USERNAME": "forum"},
        lambda app, tmp: _sender(app).transport.username == "forum",
    ),
    "MAIL_PASSWORD": (
        {"MAIL_SERVER": "smtp.example.org", "MAIL_PASSWORD": "s3cret"},
        lambda app, tmp: _sender(app).transport.password == "s3cret",
    ),
    "MAIL_DEFAULT_SENDER": (
        {"MAIL_DEFAULT_SENDER": "Forum <forum@example.org>"},
        lambda app, tmp: _from_header(app) == "Forum <forum@example.org>",
    ),
    "MAIL_RATE_LIMIT": ({"MAIL_RATE_LIMIT": "5"}, lambda app, tmp: _sender(app).pacer.interval == 0.2),
    "MAIL_OUTBOX_DIR": (
        {"MAIL_OUTBOX_DIR": "/tmp/webinars-eml-test"},
        lambda app, tmp: str(_sender(app).transport.directory) == "/tmp/webinars-eml-test",
    ),
    "MAIL_BATCH_SIZE": ({"MAIL_BATCH_SIZE": "7"}, lambda app, tmp: _sender(app).batch_size == 7),
    "MAIL_LEASE_SECONDS": ({"MAIL_LEASE_SECONDS": "20"}, lambda app, tmp: _sender(app).lease.total_seconds() == 20),
    "MAIL_MAX_ATTEMPTS": ({"MAIL_MAX_ATTEMPTS": "3"}, lambda app, tmp: _sender(app).max_attempts == 3),
    "MAIL_RETRY_BASE_SECONDS": ({"MAIL_RETRY_BASE_SECONDS": "10"}, lambda app, tmp: _backoff(app, 2) == 20),
    "MAIL_RETRY_MAX_SECONDS": ({"MAIL_RETRY_MAX_SECONDS": "100"}, lambda app, tmp: _backoff(app, 10) == 100),
    "MAIL_SMTP_TIMEOUT": (
        {"MAIL_SERVER": "smtp.example.org", "MAIL_SMTP_TIMEOUT": "7"},
        lambda app, tmp: _sender(app).transport.timeout == 7,
    ),
    "BASE_URL": (
        {"BASE_URL": "https://forum.example.org/"},
        lambda app, tmp: _external(app) == "https://forum.example.org/",
    ),
    "SITE_NAME": ({"SITE_NAME": "Policy Forum"}, lambda app, tmp: _feed_name(app) == "Policy Forum"),
    "WEBINARS_INSTANCE_PATH": (
        {"WEBINARS_INSTANCE_PATH": "/tmp/webinars-instance-test"},
        lambda app, tmp: app.instance_path == "/tmp/webinars-instance-test",
    ),
    "PORT": ({"PORT": "8123"}, lambda app, tmp: _external(app) == "http://127.0.0.1:8123/"),
    "PROXY_COUNT": ({"PROXY_COUNT": "1"}, lambda app, tmp: _remote_addr(app) == "203.0.113.9"),
    "CATALOGUE_VERSION_SECONDS": (
        {"CATALOGUE_VERSION_SECONDS": "0"},
        lambda app, tmp: app.config["CATALOGUE_VERSION_SECONDS"] == 0,
    ),
    "MAX_CONTENT_LENGTH": (
        {"MAX_CONTENT_LENGTH": "2048"},
        lambda app, tmp: app.test_client().post("/newsletter", data={"email": "x" * 4096}).status_code == 413,
    ),
    "TRUSTED_HOSTS": (
        {"TRUSTED_HOSTS": "forum.example.org"},
        lambda app, tmp: app.test_client().get("/", headers={"Host": "evil.example"}).status_code == 400,
    ),
    "LOG_LEVEL": ({"LOG_LEVEL": "warning"}, lambda app, tmp: _logs_at(logging.WARNING)),
    "ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS": (
        {"ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS": "2"},
        lambda app, tmp: _admin_setting(app, "ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS") == 2,
    ),
    "ADMIN_LOGIN_MAX_FAILURES_PER_IP": (
        {"ADMIN_LOGIN_MAX_FAILURES_PER_IP": "9"},
        lambda app, tmp: _admin_setting(app, "ADMIN_LOGIN_MAX_FAILURES_PER_IP") == 9,
    ),
    "ADMIN_LOGIN_FREE_ATTEMPTS": (
        {"ADMIN_LOGIN_FREE_ATTEMPTS": "3"},
        lambda app, tmp: _admin_setting(app, "ADMIN_LOGIN_FREE_ATTEMPTS") == 3,
    ),
    "ADMIN_LOGIN_MAX_DELAY_SECONDS": (
        {"ADMIN_LOGIN_MAX_DELAY_SECONDS": "60"},
        lambda app, tmp: _admin_setting(app, "ADMIN_LOGIN_MAX_DELAY_SECONDS") == 60,
    ),
    "ADMIN_PASSWORD_RESETS_PER_CLIENT": (
        {"ADMIN_PASSWORD_RESETS_PER_CLIENT": "1"},
        lambda app, tmp: _second_reset_request(app) == 429,
    ),
    "ADMIN_SESSION_LIFETIME_MINUTES": (
        {"ADMIN_SESSION_LIFETIME_MINUTES": "30"},
        lambda app, tmp: app.config["ADMIN_SESSION_LIFETIME_MINUTES"] == 30,
    ),
    "ADMIN_SESSION_IDLE_MINUTES": (
        {"ADMIN_SESSION_IDLE_MINUTES": "15"},
        lambda app, tmp: app.config["ADMIN_SESSION_IDLE_MINUTES"] == 15,
    ),
    "SECRET_KEY_FALLBACKS": (
        {"SECRET_KEY_FALLBACKS": "an-old-session-key"},
        lambda app, tmp: app.config["WTF_CSRF_SECRET_KEY"][0] == "an-old-session-key",
    ),
    "LINK_SECRET_KEY": ({"LINK_SECRET_KEY": "l" * 40}, lambda app, tmp: _link_token_checks_with(app, "l" * 40)),
    "LINK_SECRET_KEY_FALLBACKS": (
        {"LINK_SECRET_KEY_FALLBACKS": "an-old-link-key"},
        lambda app, tmp: _old_link_accepted(app, "an-old-link-key"),
    ),
    "MAIL_UNCONFIRMED_PER_ADDRESS": (
        {"MAIL_UNCONFIRMED_PER_ADDRESS": "7"},
        lambda app, tmp: app.config["MAIL_UNCONFIRMED_PER_ADDRESS"] == 7,
    ),
    "MAIL_RESENDS_PER_REGISTRATION": (
        {"MAIL_RESENDS_PER_REGISTRATION": "2"},
        lambda app, tmp: app.config["MAIL_RESENDS_PER_REGISTRATION"] == 2,
    ),
    "REGISTRATIONS_PER_CLIENT": (
        {"REGISTRATIONS_PER_CLIENT": "5"},
        lambda app, tmp: app.config["REGISTRATIONS_PER_CLIENT"] == 5,
    ),
    "REGISTRATIONS_PER_CLIENT_MINUTES": (
        {"REGISTRATIONS_PER_CLIENT_MINUTES": "3"},
        lambda app, tmp: app.config["REGISTRATIONS_PER_CLIENT_MINUTES"] == 3,
    ),
    "NEWSLETTER_SIGNUPS_PER_CLIENT": (
        {"NEWSLETTER_SIGNUPS_PER_CLIENT": "4"},
        lambda app, tmp: app.config["NEWSLETTER_SIGNUPS_PER_CLIENT"] == 4,
    ),
    "DIGEST_UPCOMING_DAYS": ({"DIGEST_UPCOMING_DAYS": "7"}, lambda app, tmp: _digest_limits(app) == (7, 10, 10)),
    "DIGEST_MAX_ITEMS": ({"DIGEST_MAX_ITEMS": "3"}, lambda app, tmp: _digest_limits(app) == (30, 3, 10)),
    "DIGEST_MAX_WEBINARS": ({"DIGEST_MAX_WEBINARS": "4"}, lambda app, tmp: _digest_limits(app) == (30, 10, 4)),
}


@pytest.mark.parametrize("name", documented_settings())
def test_each_documented_setting_has_an_effect(name, tmp_path):
    assert name in EFFECTS, f"{name} is documented but no test says what it does: add it to EFFECTS"
    values, effect = EFFECTS[name]
    with environment(values, tmp_path) as app:
        assert effect(app, tmp_path), f"{name}={values[name]} made no difference"


def test_an_unusable_value_stops_the_start_with_the_variable_named(tmp_path):
    result = run_app({"MAIL_PORT": "abc", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert result.returncode != 0
    assert "MAIL_PORT must be a whole number" in result.stderr


def test_a_worker_started_with_a_short_lease_claims_with_that_lease(tmp_path):
    """MAIL_LEASE_SECONDS=20 in the environment gives the claimed rows a 20-second lease."""
    from flask_migrate import upgrade

    from tests.conftest import _logging_kept
    from webinars.database import utcnow
    from webinars.extensions import db
    from webinars.outbox.models import OutboxMessage
    from webinars.outbox.sender import Sender

    with environment({"MAIL_LEASE_SECONDS": "20"}, tmp_path) as app, app.app_context():
        with _logging_kept():  # alembic's env.py reconfigures logging
            upgrade(directory=str(ROOT / "migrations"))
        db.session.add(OutboxMessage(kind="test", to_address="a@example.org", raw=b"x", status="queued"))
        db.session.commit()
        now = utcnow()
        [row] = Sender().claim_batch(now, now)
        lease = db.session.scalar(select(OutboxMessage.lease_until).where(OutboxMessage.id == row.id))
        assert lease == now + timedelta(seconds=20)
        db.session.remove()
        db.engine.dispose()


def test_the_documented_retry_window_is_the_real_one(tmp_path):
    """The README's "up to N attempts over about H hours" is what the default backoff gives."""
    text = " ".join(README.read_text(encoding="utf-8").split())
    match = re.search(r"up to (\d+) attempts over about (\d+) hours", text)
    assert match, "the README no longer states the retry window"
    attempts, hours = int(match.group(1)), int(match.group(2))
    with environment({}, tmp_path) as app:
        assert app.config["MAIL_MAX_ATTEMPTS"] == attempts
        # A wait follows every failed attempt but the last, which gives up.
        window = sum(_backoff(app, n) for n in range(1, attempts))
    assert round(window / 3600) == hours
