"""Flask-Login wiring for organisers, password hashing, and the failed-login throttle."""

from datetime import datetime, timedelta
from functools import lru_cache

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from .. import ratelimit
from ..database import utcnow
from ..extensions import db, login_manager
from .models import Organiser

login_manager.login_view = "admin.login"
login_manager.login_message = _l("Please sign in to see that page.")
login_manager.login_message_category = "info"

PASSWORD_METHOD = "scrypt"
MIN_PASSWORD_LENGTH = 12

PAIR_BUCKET = "login-pair"
ADDRESS_BUCKET = "login-email"
CLIENT_BUCKET = "login-ip"
FIRST_DELAY = timedelta(seconds=30)
PAIR_MEMORY = timedelta(hours=24)  # a client quiet for this long starts again with its free attempts
ADDRESS_WINDOW = timedelta(hours=1)
CLIENT_WINDOW = timedelta(minutes=15)


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


def _setting(name: str) -> int:
    return int(current_app.config[name])


def _pair_key(email: str, client: str) -> str:
    return f"{normalise_email(email)} {client}"


def begin_sign_in(email: str, client: str, now: datetime | None = None) -> ratelimit.Verdict:
    """Count a sign-in attempt before the password is checked, so that parallel tries cannot slip
    through; a refused one is not checked at all. The caller commits at once.

    - per address and client: ADMIN_LOGIN_FREE_ATTEMPTS tries, then growing delays (30 s, 1 min,
      2 min, ... up to ADMIN_LOGIN_MAX_DELAY_SECONDS). A stranger's wrong passwords slow only the
      stranger's own client down: the organiser signing in from another client is not affected.
    - per address from every client: ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS an hour, a ceiling that
      only a distributed attack reaches;
    - per client across addresses: ADMIN_LOGIN_MAX_FAILURES_PER_IP per 15 minutes (guessing many addresses).
    """
    now = now or utcnow()
    schedule = ratelimit.delays(
        _setting("ADMIN_LOGIN_FREE_ATTEMPTS"), FIRST_DELAY, timedelta(seconds=_setting("ADMIN_LOGIN_MAX_DELAY_SECONDS"))
    )
    verdict = ratelimit.attempt(PAIR_BUCKET, _pair_key(email, client), schedule, forget_after=PAIR_MEMORY, now=now)
    if not verdict.allowed:
        return verdict
    verdict = ratelimit.check(
        ADDRESS_BUCKET, normalise_email(email), _setting("ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS"), ADDRESS_WINDOW, now
    )
    if not verdict.allowed:
        return verdict
    return ratelimit.check(CLIENT_BUCKET, client, _setting("ADMIN_LOGIN_MAX_FAILURES_PER_IP"), CLIENT_WINDOW, now)


def signed_in(email: str, client: str, now: datetime | None = None) -> None:
    """A successful sign-in: this client starts afresh for this address, and the attempt counts as no failure."""
    now = now or utcnow()
    ratelimit.clear(PAIR_BUCKET, _pair_key(email, client))
    ratelimit.undo(ADDRESS_BUCKET, normalise_email(email), ADDRESS_WINDOW, now)
    ratelimit.undo(CLIENT_BUCKET, client, CLIENT_WINDOW, now)
