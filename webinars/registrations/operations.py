"""Registering, cancelling and promoting. Operations change rows and queue mail; they never commit."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm.attributes import set_committed_value

from .. import ratelimit
from ..catalogue.models import Webinar
from ..database import lock_and_load, lock_for_update
from ..extensions import db
from ..timezones import is_known_zone
from . import notifications
from .models import Registration

# The label of the form's newsletter box (the same message), stored as the text the registrant saw.
NEWSLETTER_CONSENT_TEXT = _l("Also send me the newsletter (you will be asked to confirm)")


# Registering an address again re-sends its email at most MAIL_RESENDS_PER_REGISTRATION times an hour.
RESEND_BUCKET = "registration-resend"
RESEND_WINDOW = timedelta(hours=1)


def _resends_per_hour() -> int:
    return int(current_app.config["MAIL_RESENDS_PER_REGISTRATION"])


class RegistrationClosed(Exception):
    """The webinar is not open for registration (past its deadline, draft or cancelled)."""


def counts(webinar) -> dict:
    """{'confirmed': n, 'waitlisted': n, 'capacity': n | None, 'available': n | None}."""
    rows = db.session.execute(
        select(Registration.status, func.count())
        .where(Registration.webinar_id == webinar.id, Registration.status != "cancelled")
        .group_by(Registration.status)
    ).all()
    by_status = dict(rows)
    confirmed = by_status.get("confirmed", 0)
    available = None if webinar.capacity is None else max(0, webinar.capacity - confirmed)
    return {
        "confirmed": confirmed,
        "waitlisted": by_status.get("waitlisted", 0),
        "capacity": webinar.capacity,
        "available": available,
    }


def waitlist_position(registration: Registration) -> int | None:
    """1 for the first person on the waiting list; None when not waitlisted."""
    if registration.status != "waitlisted":
        return None
    ahead = db.session.scalar(
        select(func.count()).where(
            Registration.webinar_id == registration.webinar_id,
            Registration.status == "waitlisted",
            Registration.id < registration.id,
        )
    )
    return ahead + 1


# Built once per process (bound parameters: webinar_id, email_lower): the confirmed count, and the
# id of a live registration of the address. Mailboxes are case-insensitive in practice: Ana@ and
# ana@ are one person.
_CONFIRMED = (
    select(func.count())
    .where(Registration.webinar_id == bindparam("webinar_id"), Registration.status == "confirmed")
    .scalar_subquery()
)
_EXISTING = (
    select(Registration.id)
    .where(
        Registration.webinar_id == bindparam("webinar_id"),
        Registration.status != "cancelled",
        func.lower(Registration.email) == bindparam("email_lower"),
    )
    .limit(1)
    .scalar_subquery()
)
_SEAT_AND_DUPLICATE = select(_CONFIRMED, _EXISTING)


def _seat_likely(webinar, email: str) -> bool:
    """Whether a new registration will probably be confirmed: a read without the lock, so that
    the confirmation's invite is built before the lock only when it will probably be used."""
    if webinar.capacity is None:
        return True
    params = {"webinar_id": webinar.id, "email_lower": email.lower()}
    confirmed, existing_id = db.session.execute(_SEAT_AND_DUPLICATE, params).one()
    return existing_id is None and confirmed < webinar.capacity


def register(
    webinar,
    *,
    name: str,
    email: str,
    organisation: str = "",
    country: str = "",
    timezone: str = "UTC",
    wants_newsletter: bool = False,
    now: datetime,
) -> tuple[Registration, bool]:
    """Register `email` (already normalised) for `webinar`: confirmed while seats remain, then
    waitlisted. The same address twice gets its existing registration back and the confirmation
    again, so nobody can learn from the answer whether an address was registered.
    Returns (registration, created)."""
    # Everything that needs no lock happens first: on SQLite the lock is the database's only writer.
    registration = Registration(
        webinar=webinar,
        webinar_id=webinar.id,
        email=email,
        name=name,
        organisation=organisation or "",
        country=country or "",
        timezone=timezone if is_known_zone(timezone) else webinar.timezone,
        status="confirmed",
        wants_newsletter=wants_newsletter,
        created_at=now,
        confirmed_at=now,
    )
    invite = notifications.confirmation_invite(registration) if _seat_likely(webinar, email) else None

    # Serialise registrations for this webinar before counting seats, or two could take the last;
    # the same round trips reload the webinar and look for a live registration of this address.
    agenda, version = webinar.__dict__.get("sections"), webinar.updated_at
    params = {"webinar_id": webinar.id, "email_lower": email.lower()}
    locked, confirmed, existing_id = lock_and_load(Webinar, webinar.id, _CONFIRMED, _EXISTING, params=params)
    if locked is None or not webinar.registration_open(now):
        raise RegistrationClosed(webinar.slug)
    unchanged = webinar.updated_at == version
    if agenda is not None and unchanged:
        # The reload forgot the agenda read before the lock; it is still current (every edit of a
        # webinar moves updated_at), so put it back rather than read it again under the lock.
        set_committed_value(webinar, "sections", agenda)

    if wants_newsletter:
        request_newsletter(email, name, now=now)

    if existing_id is not None:
        existing = db.session.get(Registration, existing_id)
        if ratelimit.allow(RESEND_BUCKET, str(existing.id), _resends_per_hour(), RESEND_WINDOW, now):
            notifications.send_registration_email(existing, resent=True, unsolicited=True)
        return existing, False

    if webinar.capacity is not None and webinar.capacity - confirmed <= 0:
        registration.status, registration.confirmed_at = "waitlisted", None
    if not unchanged:
        # The registrant's zone fell back to the webinar's, which may have changed under us.
        registration.timezone = timezone if is_known_zone(timezone) else webinar.timezone
    db.session.add(registration)
    db.session.flush()  # the id goes into the manage link
    # The invite built before the lock holds if the seat is confirmed and the webinar is as it was.
    usable = registration.status == "confirmed" and unchanged
    notifications.send_registration_email(registration, invite=invite if usable else None, unsolicited=True)
    return registration, True


def promote(registration: Registration, *, now: datetime) -> Registration:
    """Move a waitlisted registration to confirmed and send the full confirmation with the invite."""
    registration.status = "confirmed"
    registration.confirmed_at = now
    db.session.flush()
    notifications.send_registration_email(registration, promoted=True)
    return registration


def first_waitlisted(webinar) -> Registration | None:
    return db.session.scalar(
        select(Registration)
        .where(Registration.webinar_id == webinar.id, Registration.status == "waitlisted")
        .order_by(Registration.id)
        .limit(1)
    )


def cancel_registration(registration: Registration, *, now: datetime, by: str = "attendee") -> Registration | None:
    """Cancel a registration (idempotent) and give a freed seat to the first person waiting.

    `by` is 'attendee' or 'organiser' (the wording of the email). Returns the promoted registration.
    """
    webinar = registration.webinar
    lock_for_update("webinars", webinar.id)
    db.session.refresh(registration)
    db.session.refresh(webinar)
    if registration.status == "cancelled":
        return None
    was_confirmed = registration.status == "confirmed"
    registration.status = "cancelled"
    registration.cancelled_at = now
    db.session.flush()
    notifications.send_cancellation_email(registration, was_confirmed=was_confirmed, by=by)

    if not was_confirmed or webinar.status != "published" or webinar.starts_at <= now:
        return None
    seats = counts(webinar)
    if seats["available"] is not None and seats["available"] <= 0:
        return None  # capacity was lowered below the confirmed count; nobody moves up
    waiting = first_waitlisted(webinar)
    if waiting is None:
        return None
    return promote(waiting, now=now)


def request_newsletter(email: str, name: str, *, now: datetime) -> None:
    """Start the newsletter's double opt-in. The one place registrations call the newsletter."""
    from ..newsletter.operations import request_subscription

    request_subscription(
        email, name, [], source="registration_form", consent_text=str(NEWSLETTER_CONSENT_TEXT), now=now
    )
