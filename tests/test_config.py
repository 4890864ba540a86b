"""Settings from the environment, and the production guard on SECRET_KEY."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

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


def test_development_defaults_work_with_nothing_set(tmp_path):
    result = run_app({})
    assert result.returncode == 0, result.stderr


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


def test_base_url_set_in_the_environment_wins_over_what_make_run_recorded(tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "base-url").write_text("http://127.0.0.1:5101\n", encoding="utf-8")
    show = "from webinars import create_app; print(create_app().config['BASE_URL'])"
    recorded = subprocess.run([sys.executable, "-c", show], env=_dev_env(tmp_path), capture_output=True, text=True)
    assert recorded.stdout.strip() == "http://127.0.0.1:5101", recorded.stderr
    env = _dev_env(tmp_path, BASE_URL="https://webinars.example.org/")
    explicit = subprocess.run([sys.executable, "-c", show], env=env, capture_output=True, text=True)
    assert explicit.stdout.strip() == "https://webinars.example.org"
    (instance / "base-url").unlink()
    default = subprocess.run([sys.executable, "-c", show], env=_dev_env(tmp_path), capture_output=True, text=True)
    assert default.stdout.strip() == "http://127.0.0.1:5000"
