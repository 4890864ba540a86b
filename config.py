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


def _list(name: str) -> list[str]:
    """A comma-separated list, e.g. of old keys still accepted."""
    return [part.strip() for part in (os.environ.get(name) or "").split(",") if part.strip()]


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


DEV_SECRET_KEY = "dev-only-not-secret"


class Config:
    # Signs session cookies and CSRF tokens. To rotate it without signing everyone out at once, put the
    # old key in SECRET_KEY_FALLBACKS (comma-separated) for a while; leave it out to end every session.
    SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
    SECRET_KEY_FALLBACKS = _list("SECRET_KEY_FALLBACKS")
    # Signs the links in emails (manage a registration, confirm, unsubscribe), which live for months in
    # mailboxes; unset means SECRET_KEY. Set it to the current SECRET_KEY before rotating that one, and
    # the links already sent keep working. LINK_SECRET_KEY_FALLBACKS: old link keys still accepted.
    LINK_SECRET_KEY = os.environ.get("LINK_SECRET_KEY") or None
    LINK_SECRET_KEY_FALLBACKS = _list("LINK_SECRET_KEY_FALLBACKS")
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

    # The public address in every link that leaves the site. Unset: create_app() takes the address that
    # `make run` recorded in the instance folder, so that a command run in another terminal links to the
    # same server as the web process, and otherwise http://127.0.0.1:$PORT.
    BASE_URL = os.environ.get("BASE_URL") or None
    SITE_NAME = os.environ.get("SITE_NAME", "Local Development Forum webinars")

    BABEL_DEFAULT_LOCALE = "en_GB"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    # Organisers' sessions end after this long however active, and after this long unused.
    ADMIN_SESSION_LIFETIME_MINUTES = _int("ADMIN_SESSION_LIFETIME_MINUTES", 12 * 60)
    ADMIN_SESSION_IDLE_MINUTES = _int("ADMIN_SESSION_IDLE_MINUTES", 120)

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
        keys = {"SECRET_KEY": os.environ.get("SECRET_KEY", "")}
        if os.environ.get("LINK_SECRET_KEY"):
            keys["LINK_SECRET_KEY"] = os.environ["LINK_SECRET_KEY"]
        for name, key in keys.items():
            if not key or key == DEV_SECRET_KEY or len(key) < 16:
                raise RuntimeError(
                    f"{name} must be set to a long random value in production "
                    '(for example: python -c "import secrets; print(secrets.token_hex(32))").'
                )


def config_class():
    """The config for FLASK_ENV-like WEBINARS_ENV: 'production' or anything else."""
    if os.environ.get("WEBINARS_ENV", "development").lower() == "production":
        ProductionConfig.check()
        return ProductionConfig
    return DevelopmentConfig
