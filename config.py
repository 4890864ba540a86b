"""Settings read from the environment.

Every setting has a development default so that `make run` works with nothing set;
`ProductionConfig` refuses to start without a real SECRET_KEY.
"""

import os


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


DEV_SECRET_KEY = "dev-only-not-secret"


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
    # None means "an SQLite file in the instance folder"; create_app fills it in.
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or None
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}

    MAIL_SERVER = os.environ.get("MAIL_SERVER") or None
    MAIL_PORT = _int("MAIL_PORT", 25)
    MAIL_USE_TLS = _bool("MAIL_USE_TLS")
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "Webinars <webinars@localhost>")
    # Messages per second per sending process; 0 means no limit.
    MAIL_RATE_LIMIT = _float("MAIL_RATE_LIMIT", 0)
    # Messages per address per hour that a public form causes before the address confirmed anything
    # (registration confirmations and waitlist notices, their re-sends, newsletter confirmations) ...
    MAIL_UNCONFIRMED_PER_ADDRESS = _int("MAIL_UNCONFIRMED_PER_ADDRESS", 3)
    # ... and re-sent confirmations per registration per hour (registering the same address again).
    MAIL_RESENDS_PER_REGISTRATION = _int("MAIL_RESENDS_PER_REGISTRATION", 1)

    # Links in emails must reach the dev server on whatever PORT `make run` was given.
    BASE_URL = (os.environ.get("BASE_URL") or f"http://127.0.0.1:{os.environ.get('PORT') or 5000}").rstrip("/")
    SITE_NAME = os.environ.get("SITE_NAME", "Local Development Forum webinars")

    BABEL_DEFAULT_LOCALE = "en_GB"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"

    ARCHIVE_PAGE_SIZE = 10
    # The catalogue page is cached per process; how often to check whether webinars changed.
    CATALOGUE_VERSION_SECONDS = _float("CATALOGUE_VERSION_SECONDS", 2.0)
    # How many reverse proxies in front of the app set X-Forwarded-For/-Proto (0: none, trust nothing).
    PROXY_COUNT = _int("PROXY_COUNT", 0)

    # Newsletter sign-up posts per client address per hour.
    NEWSLETTER_SIGNUPS_PER_CLIENT = _int("NEWSLETTER_SIGNUPS_PER_CLIENT", 10)
    # Registration posts per client address (after PROXY_COUNT) per window: room for an office behind one NAT.
    REGISTRATIONS_PER_CLIENT = _int("REGISTRATIONS_PER_CLIENT", 60)
    REGISTRATIONS_PER_CLIENT_MINUTES = _int("REGISTRATIONS_PER_CLIENT_MINUTES", 10)

    # Organisers' sign-in: free tries per address and client before growing delays (30 s, doubling to the
    # maximum); failures per address from all clients per hour; failures per client per 15 minutes.
    ADMIN_LOGIN_FREE_ATTEMPTS = _int("ADMIN_LOGIN_FREE_ATTEMPTS", 5)
    ADMIN_LOGIN_MAX_DELAY_SECONDS = _int("ADMIN_LOGIN_MAX_DELAY_SECONDS", 900)
    ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS = _int("ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS", 100)
    ADMIN_LOGIN_MAX_FAILURES_PER_IP = _int("ADMIN_LOGIN_MAX_FAILURES_PER_IP", 20)


class DevelopmentConfig(Config):
    DEBUG = False


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"

    @classmethod
    def check(cls) -> None:
        key = os.environ.get("SECRET_KEY", "")
        if not key or key == DEV_SECRET_KEY or len(key) < 16:
            raise RuntimeError(
                "SECRET_KEY must be set to a long random value in production "
                '(for example: python -c "import secrets; print(secrets.token_hex(32))").'
            )


def config_class():
    """The config for FLASK_ENV-like WEBINARS_ENV: 'production' or anything else."""
    if os.environ.get("WEBINARS_ENV", "development").lower() == "production":
        ProductionConfig.check()
        return ProductionConfig
    return DevelopmentConfig
