"""Settings from the environment, and the production guard on SECRET_KEY."""

import os
import subprocess
import sys

import pytest

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
