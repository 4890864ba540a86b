"""Flask-Login wiring for organisers, password hashing, and the failed-login throttle."""

from datetime import timedelta
from functools import lru_cache

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from .. import ratelimit
from ..extensions import db, login_manager
from .models import Organiser

login_manager.login_view = "admin.login"
login_manager.login_message = _l("Please sign in to see that page.")
login_manager.login_message_category = "info"

PASSWORD_METHOD = "scrypt"
MIN_PASSWORD_LENGTH = 12

LOGIN_WINDOW = timedelta(minutes=15)


@login_manager.user_loader
def load_organiser(user_id: str) -> Organiser | None:
    if not user_id.isdigit():
        return None
    organiser = db.session.get(Organiser, int(user_id))
    return organiser if organiser is not None and organiser.active else None


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Checked against when the address is unknown, so that a wrong address takes as long as a wrong password.
    return generate_password_hash("not-a-real-password", method=PASSWORD_METHOD)


def authenticate(email: str, password: str) -> Organiser | None:
    """The active organiser with this address and password, or None."""
    organiser = db.session.scalar(select(Organiser).where(Organiser.email == normalise_email(email)))
    if organiser is None:
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(organiser.password_hash, password) or not organiser.active:
        return None
    return organiser


def _limits() -> tuple[int, int]:
    config = current_app.config
    return config.get("ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS", 5), config.get("ADMIN_LOGIN_MAX_FAILURES_PER_IP", 20)


def login_throttled(email: str, ip: str) -> bool:
    """True once an address or a client has failed too often within the window."""
    per_address, per_ip = _limits()
    return (
        ratelimit.recent_hits("login-email", normalise_email(email), LOGIN_WINDOW) >= per_address
        or ratelimit.recent_hits("login-ip", ip, LOGIN_WINDOW) >= per_ip
    )


def record_failed_login(email: str, ip: str) -> None:
    per_address, per_ip = _limits()
    ratelimit.allow("login-email", normalise_email(email)[:300], per_address, LOGIN_WINDOW)
    ratelimit.allow("login-ip", ip[:300], per_ip, LOGIN_WINDOW)


def forget_failed_logins(email: str) -> None:
    # The client's own counter stays: it protects against guessing across many addresses.
    ratelimit.clear("login-email", normalise_email(email))
