"""Organisers' sessions (Flask-Login, with versions, lifetime and idle timeout), passwords, and the sign-in throttle."""

from datetime import datetime, timedelta
from functools import lru_cache

from flask import current_app, session
from flask_babel import lazy_gettext as _l
from flask_login import login_user, logout_user
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from .. import ratelimit
from ..addresses import lookup_key
from ..database import parse_id, utcnow
from ..extensions import db, login_manager
from .models import Organiser

PASSWORD_METHOD = "scrypt"
MIN_PASSWORD_LENGTH = 12

PAIR_BUCKET = "login-pair"
ADDRESS_BUCKET = "login-email"
CLIENT_BUCKET = "login-ip"
FIRST_DELAY = timedelta(seconds=30)
PAIR_MEMORY = timedelta(hours=24)  # a client quiet for this long starts again with its free attempts
ADDRESS_WINDOW = timedelta(hours=1)
CLIENT_WINDOW = timedelta(minutes=15)


# Kept in the (signed) session cookie beside Flask-Login's user id, as whole seconds since the epoch.
SIGNED_IN_AT = "organiser_signed_in_at"
SEEN_AT = "organiser_seen_at"
SEEN_RESOLUTION = 60  # the idle clock is moved at most once a minute, not on every request


def init_login(app) -> None:
    """Flask-Login's side of the organisers' sessions: who a session belongs to, where to sign in."""
    login_manager.user_loader(load_organiser)
    login_manager.login_view = "admin.login"
    login_manager.login_message = _l("Please sign in to see that page.")
    login_manager.login_message_category = "info"


def load_organiser(user_id: str) -> Organiser | None:
    """The organiser a session belongs to, checked on every request: the session ends when its
    version is behind the organiser's (sign-out, new password, deactivation), when the organiser
    is inactive, after ADMIN_SESSION_LIFETIME_MINUTES, or after ADMIN_SESSION_IDLE_MINUTES unused."""
    identifier, _, version = (user_id or "").partition(":")
    organiser_id = parse_id(identifier)  # bounded: a forged huge id must not overflow the driver
    if organiser_id is None or not version.isdigit() or len(version) > 12:
        return None
    if session_expired(utcnow()):
        return None
    organiser = db.session.get(Organiser, organiser_id)
    if organiser is None or not organiser.active or organiser.session_version != int(version):
        return None
    return organiser


def _minutes(name: str) -> int:
    return int(current_app.config[name]) * 60


def session_expired(now: datetime) -> bool:
    """Whether the current session is past its absolute lifetime or has been idle too long."""
    signed_in, seen = session.get(SIGNED_IN_AT), session.get(SEEN_AT)
    if not isinstance(signed_in, int) or not isinstance(seen, int):
        return True  # a session from before these were kept, or a forged one: sign in again
    moment = int(now.timestamp())
    return moment - signed_in >= _minutes("ADMIN_SESSION_LIFETIME_MINUTES") or moment - seen >= _minutes(
        "ADMIN_SESSION_IDLE_MINUTES"
    )


def start_session(organiser: Organiser, now: datetime) -> None:
    """Sign the organiser in on this client (a new session cookie, timed from now)."""
    session.clear()  # nothing from before signing in carries over
    login_user(organiser)
    session[SIGNED_IN_AT] = session[SEEN_AT] = int(now.timestamp())


def session_used(now: datetime) -> None:
    """The organiser did something: restart the idle clock."""
    moment = int(now.timestamp())
    if moment - int(session.get(SEEN_AT) or 0) >= SEEN_RESOLUTION:
        session[SEEN_AT] = moment


def end_session(organiser: Organiser | None) -> None:
    """Sign out here and, as the organiser asked, everywhere else (the caller commits)."""
    if organiser is not None:
        organiser.end_sessions()
    logout_user()
    session.pop(SIGNED_IN_AT, None)
    session.pop(SEEN_AT, None)


def normalise_email(email: str) -> str:
    """How an organiser's address is stored and looked up: the service's one spelling, lower-cased."""
    return lookup_key(email)


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
