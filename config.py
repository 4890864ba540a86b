"""Settings, every one read from the environment here and nowhere else.

Every setting has a development default so that `make run` works with nothing set;
`ProductionConfig` refuses to start without a real SECRET_KEY. WEBINARS_ENV is `development` or
`production`, nothing else; unset, create_app() takes development only for the `flask` command (the
development server and the commands beside it) and production for whatever else serves the app.
The README's settings table lists each variable read below (tests/test_config.py checks that the two
agree and that each one acts). A value that cannot be used (MAIL_PORT=abc) stops the start with a
message naming the variable.
"""

import os


class SettingError(RuntimeError):
    """An environment variable holds a value that cannot be used."""


def _text(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _bool(name: str, default: bool = False) -> bool:
    value = _text(name)
    if value is None:
        return default
    value = value.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingError(f"{name} must be true or false, not {value!r}")


def _int(name: str, default: int, minimum: int = 0) -> int:
    value = _text(name)
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise SettingError(f"{name} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise SettingError(f"{name} must be at least {minimum}, not {number}")
    return number


def _list(name: str) -> list[str]:
    """A comma-separated list, e.g. of old keys still accepted."""
    return [part.strip() for part in (_text(name) or "").split(",") if part.strip()]


def _float(name: str, default: float, minimum: float = 0) -> float:
    value = _text(name)
    if value is None:
        return default
    try:
        number = float(value.strip())
    except ValueError:
        raise SettingError(f"{name} must be a number, not {value!r}") from None
    if not number >= minimum:  # also refuses NaN
        raise SettingError(f"{name} must be at least {minimum}, not {value}")
    return number


def _words(name: str) -> list[str] | None:
    value = _text(name)
    return None if value is None else [word for word in value.replace(",", " ").split() if word]


def instance_path() -> str | None:
    """WEBINARS_INSTANCE_PATH, the folder for the SQLite file, development mail and the recorded base
    URL (None: Flask's instance/). A function, not a setting: the app needs it before it exists."""
    value = _text("WEBINARS_INSTANCE_PATH")
    return os.path.abspath(value) if value else None


# Keys that anyone can read (the development key this repository once shipped): never accepted in production.
PUBLIC_KEYS = frozenset({"dev-only-not-secret"})
ENVIRONMENTS = ("development", "production")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level() -> str:
    level = (_text("LOG_LEVEL") or "INFO").strip().upper()
    if level not in LOG_LEVELS:
        raise SettingError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    return level


class Config:
    WEBINARS_ENV = "development"
    # SECRET_KEY and LINK_SECRET_KEY: see signing_keys() below. Old keys still accepted while rotating:
    SECRET_KEY_FALLBACKS = _list("SECRET_KEY_FALLBACKS")
    LINK_SECRET_KEY_FALLBACKS = _list("LINK_SECRET_KEY_FALLBACKS")
    # None means "an SQLite file in the instance folder"; create_app fills it in.
    SQLALCHEMY_DATABASE_URI = _text("DATABASE_URL")
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}

    MAIL_SERVER = _text("MAIL_SERVER")
    MAIL_PORT = _int("MAIL_PORT", 25, minimum=1)
    MAIL_USE_TLS = _bool("MAIL_USE_TLS")
    MAIL_USERNAME = _text("MAIL_USERNAME")
    MAIL_PASSWORD = _text("MAIL_PASSWORD")
    MAIL_DEFAULT_SENDER = _text("MAIL_DEFAULT_SENDER", "Webinars <webinars@localhost>")
    # Where messages go as .eml files when MAIL_SERVER is unset; None: instance/mail (create_app).
    MAIL_OUTBOX_DIR = _text("MAIL_OUTBOX_DIR")
    # Messages per second per sending process; 0 means no limit.
    MAIL_RATE_LIMIT = _float("MAIL_RATE_LIMIT", 0)
    # Messages per address per hour that a public form causes before the address confirmed anything
    # (registration confirmations and waitlist notices, their re-sends, newsletter confirmations) ...
    MAIL_UNCONFIRMED_PER_ADDRESS = _int("MAIL_UNCONFIRMED_PER_ADDRESS", 3)
    # ... and re-sent confirmations per registration per hour (registering the same address again).
    MAIL_RESENDS_PER_REGISTRATION = _int("MAIL_RESENDS_PER_REGISTRATION", 1)
    # The outbox worker: rows claimed per batch, how long a claim lasts before another worker may take
    # the rows over, attempts before a message is given up ('failed'), the retry backoff (base doubled
    # per attempt, capped), and the SMTP socket timeout. Defaults: 15 attempts over about 9 hours.
    MAIL_BATCH_SIZE = _int("MAIL_BATCH_SIZE", 200, minimum=1)
    MAIL_LEASE_SECONDS = _int("MAIL_LEASE_SECONDS", 300, minimum=1)
    MAIL_MAX_ATTEMPTS = _int("MAIL_MAX_ATTEMPTS", 15, minimum=1)
    MAIL_RETRY_BASE_SECONDS = _float("MAIL_RETRY_BASE_SECONDS", 60, minimum=1)
    MAIL_RETRY_MAX_SECONDS = _float("MAIL_RETRY_MAX_SECONDS", 3600, minimum=1)
    MAIL_SMTP_TIMEOUT = _float("MAIL_SMTP_TIMEOUT", 30, minimum=1)

    # The public address in every link that leaves the site. Unset: create_app() takes the address that
    # `make run` recorded in the instance folder, so that a command run in another terminal links to the
    # same server as the web process, and otherwise http://127.0.0.1:$PORT.
    BASE_URL = _text("BASE_URL")
    # The development server's port (`make run`), and so the last resort for BASE_URL.
    PORT = _int("PORT", 5000, minimum=1)
    SITE_NAME = _text("SITE_NAME", "Local Development Forum webinars")

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

    # The largest request body accepted (bytes); larger ones get a 413 page. The longest form (a webinar
    # with 200,000 characters of text, each up to 9 bytes once URL-encoded) fits in the default.
    MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 4 * 1024 * 1024, minimum=1024)
    # Flask 3.1 also caps form fields at 500 kB; one limit, so that what is documented is what applies.
    MAX_FORM_MEMORY_SIZE = MAX_CONTENT_LENGTH
    # Host names the site answers to; None: any in development, the host of BASE_URL in production
    # (create_app derives it once BASE_URL is final).
    TRUSTED_HOSTS = _words("TRUSTED_HOSTS")

    # Lines on stderr at this level and above, each with the request's id (webinars/logs.py).
    LOG_LEVEL = _log_level()

    ARCHIVE_PAGE_SIZE = 10
    UPCOMING_PAGE_SIZE = 20  # the catalogue's upcoming webinars, a page at a time
    # The newsletter digest lists the webinars starting within this many days of its period's end.
    DIGEST_UPCOMING_DAYS = _int("DIGEST_UPCOMING_DAYS", 30, minimum=1)
    # An email shows at most this many new items and upcoming webinars, and links to the rest.
    DIGEST_MAX_ITEMS = _int("DIGEST_MAX_ITEMS", 10, minimum=1)
    DIGEST_MAX_WEBINARS = _int("DIGEST_MAX_WEBINARS", 10, minimum=1)
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
    # Requests for a password reset link per client address per hour (each address also gets at most
    # MAIL_UNCONFIRMED_PER_ADDRESS links an hour).
    ADMIN_PASSWORD_RESETS_PER_CLIENT = _int("ADMIN_PASSWORD_RESETS_PER_CLIENT", 10)


class DevelopmentConfig(Config):
    DEBUG = False


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"
    WEBINARS_ENV = "production"

    @classmethod
    def check(cls) -> None:
        keys = {"SECRET_KEY": os.environ.get("SECRET_KEY", "")}
        if _text("LINK_SECRET_KEY"):
            keys["LINK_SECRET_KEY"] = os.environ["LINK_SECRET_KEY"]
        for name, key in keys.items():
            if not key or key in PUBLIC_KEYS or len(key) < 16:
                raise RuntimeError(
                    f"{name} must be set to a long random value in production "
                    '(for example: python -c "import secrets; print(secrets.token_hex(32))").'
                )


def signing_keys() -> dict[str, str | None]:
    """The keys, read when the app is built (the very values ProductionConfig.check() judges):

    - SECRET_KEY signs session cookies and CSRF tokens. To rotate it without signing everyone out at
      once, put the old key in SECRET_KEY_FALLBACKS (comma-separated) for a while; leave it out to end
      every session. Unset in development: a random key kept in the instance folder (create_app).
    - LINK_SECRET_KEY signs the links in emails (manage a registration, confirm, unsubscribe), which
      live for months in mailboxes; unset means SECRET_KEY. Set it to the current SECRET_KEY before
      rotating that one, and the links already sent keep working (LINK_SECRET_KEY_FALLBACKS: old link
      keys still accepted)."""
    return {"SECRET_KEY": _text("SECRET_KEY"), "LINK_SECRET_KEY": _text("LINK_SECRET_KEY")}


def environment(default: str) -> str:
    """WEBINARS_ENV, 'development' or 'production' in any case, or `default` when unset. Anything else
    stops the start: 'prod' taken for development would serve production without its checks."""
    value = _text("WEBINARS_ENV")
    if value is None:
        return default
    name = value.strip().lower()
    if name not in ENVIRONMENTS:
        raise SettingError(f"WEBINARS_ENV must be development or production, not {value.strip()!r}")
    return name


def config_class(default: str = "production"):
    """The config for WEBINARS_ENV, or for `default` when it is unset; production's keys are checked."""
    if environment(default) == "production":
        ProductionConfig.check()
        return ProductionConfig
    return DevelopmentConfig
