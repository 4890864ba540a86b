"""Registering, confirming, cancelling and promoting. Operations change rows and queue mail; they never
commit (except expire_lapsed_holds, the worker's housekeeping, which commits per webinar)."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.orm.attributes import set_committed_value

from .. import ratelimit
from ..catalogue.models import Webinar, new_ical_uid
from ..database import UTCDateTime, address_condition, lock_and_load, lock_for_update, same_address, utcnow
from ..extensions import db
from ..language import language_of
from ..timezones import canonical_zone_or_none
from ..urls import service_domain
from . import notifications
from .models import ENDED_STATUSES, Registration

# The label of the form's newsletter box (the same message), stored as the text the registrant saw.
NEWSLETTER_CONSENT_TEXT = _l("Also send me the newsletter (you will be asked to confirm)")


# Registering an address again re-sends its email at most MAIL_RESENDS_PER_REGISTRATION times an hour.
RESEND_BUCKET = "registration-resend"
RESEND_WINDOW = timedelta(hours=1)


def _resends_per_hour() -> int:
    return int(current_app.config["MAIL_RESENDS_PER_REGISTRATION"])


class RegistrationClosed(Exception):
    """The webinar is not open for registration (past its deadline, draft or cancelled)."""


# How long an attendee has to confirm their address, for webinars that ask for it.
CONFIRMATION_HOLD = timedelta(hours=48)


def holds_seat(now):
    """SQL: the registration takes a seat at `now` (confirmed, or pending and not past its deadline)."""
    return or_(
        Registration.status == "confirmed",
        and_(Registration.status == "pending", Registration.confirm_by > now),
    )


def in_queue(now):
    """SQL: the registration is on the waiting list at `now` (an unconfirmed address not past its deadline)."""
    return and_(
        Registration.status == "waitlisted",
        or_(Registration.confirm_by.is_(None), Registration.confirm_by > now),
    )


def lapsed(registration: Registration, now: datetime) -> bool:
    """A hold or waiting-list place whose address was not confirmed in time (even if not yet marked expired)."""
    return (
        registration.status in ("pending", "waitlisted")
        and registration.confirm_by is not None
        and registration.confirm_by <= now
    )


class CancellationClosed(Exception):
    """An attendee cannot cancel any more: the webinar is over or cancelled, or their unconfirmed place lapsed."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # 'webinar_cancelled', 'webinar_over' or 'lapsed'


def attendee_may_cancel(registration: Registration, now: datetime) -> bool:
    """Whether the attendee's own cancel button applies: the page and the POST ask the same question."""
    return _cancel_refusal(registration, now) is None


def _cancel_refusal(registration: Registration, now: datetime) -> str | None:
    webinar = registration.webinar
    if registration.status in ENDED_STATUSES:
        return "ended"
    if webinar.status == "cancelled":
        return "webinar_cancelled"
    if webinar.is_past(now):
        return "webinar_over"
    if lapsed(registration, now):
        return "lapsed"
    return None


def counts(webinar, now: datetime | None = None) -> dict:
    """{'confirmed': n, 'pending': n, 'waitlisted': n, 'capacity': n | None, 'available': n | None}:
    seats held at `now` (a lapsed hold counts as free), and the waiting list."""
    now = now or utcnow()
    confirmed, pending, waitlisted = db.session.execute(
        select(
            func.count().filter(Registration.status == "confirmed"),
            func.count().filter(Registration.status == "pending", Registration.confirm_by > now),
            func.count().filter(in_queue(now)),
        ).where(Registration.webinar_id == webinar.id)
    ).one()
    available = None if webinar.capacity is None else max(0, webinar.capacity - confirmed - pending)
    return {
        "confirmed": confirmed,
        "pending": pending,
        "waitlisted": waitlisted,
        "capacity": webinar.capacity,
        "available": available,
    }


# The public page says "few seats" at or under this many, never a number: with an exact count, anyone
# could learn whether an address is registered (re-registering a known address takes no seat). What is
# left: a visitor who registers and cancels made-up addresses to stand exactly at a threshold can still
# tell, there, whether one more address takes a seat; each such probe is a registration organisers see.
FEW_SEATS = 10


def seats_left(webinar) -> str | None:
    """'many', 'few' or 'none' seats left; None when the webinar has no limit."""
    available = counts(webinar)["available"]
    if available is None:
        return None
    if available <= 0:
        return "none"
    return "few" if available <= FEW_SEATS else "many"


def waitlist_position(registration: Registration, now: datetime | None = None) -> int | None:
    """1 for the first person on the waiting list; None when not waitlisted."""
    now = now or utcnow()
    if registration.status != "waitlisted" or lapsed(registration, now):
        return None
    ahead = db.session.scalar(
        select(func.count()).where(
            Registration.webinar_id == registration.webinar_id,
            in_queue(now),
            Registration.id < registration.id,
        )
    )
    return ahead + 1


# Built once per process (bound parameters: webinar_id, email_lower, now): the seats taken, and the
# id of a live registration of the address. Mailboxes are case-insensitive in practice: Ana@ and
# ana@ are one person.
_NOW = bindparam("now", type_=UTCDateTime)
_CONFIRMED = (
    select(func.count()).where(Registration.webinar_id == bindparam("webinar_id"), holds_seat(_NOW)).scalar_subquery()
)
_EXISTING = (
    select(Registration.id)
    .where(
        Registration.webinar_id == bindparam("webinar_id"),
        Registration.status.not_in(ENDED_STATUSES),
        func.lower(Registration.email) == bindparam("email_lower"),
    )
    .limit(1)
    .scalar_subquery()
)
_SEAT_AND_DUPLICATE = select(_CONFIRMED, _EXISTING)


def _seat_likely(webinar, email: str) -> bool:
    """Whether a new registration will probably be confirmed: a read without the lock, so that
    the confirmation's invite is built before the lock only when it will probably be used."""
    if webinar.confirm_registrations:
        return False  # the first email asks to confirm the address; the invite comes after that
    if webinar.capacity is None:
        return True
    params = {"webinar_id": webinar.id, "email_lower": email.lower(), "now": utcnow()}
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
    language: str = "en",
    now: datetime,
) -> tuple[Registration, bool]:
    """Register `email` (already normalised) for `webinar`: confirmed while seats remain, then
    waitlisted. The same address twice gets its existing registration back and the confirmation
    again, so nobody can learn from the answer whether an address was registered.

    A webinar with `confirm_registrations` holds the seat as 'pending' for CONFIRMATION_HOLD and
    sends a link to confirm the address instead of the invite; its waiting list asks for the same.
    `language` ('en', 'fr'), the language of the form, is the language of every email to the registrant.
    Returns (registration, created)."""
    # Everything that needs no lock happens first: on SQLite the lock is the database's only writer.
    registration = Registration(
        webinar=webinar,
        webinar_id=webinar.id,
        email=email,
        name=name,
        organisation=organisation or "",
        country=country or "",
        timezone=canonical_zone_or_none(timezone) or webinar.timezone,
        status="confirmed",
        wants_newsletter=wants_newsletter,
        language=language_of(language),
        created_at=now,
        confirmed_at=now,
        ical_uid=new_ical_uid(service_domain()),
    )
    invite = notifications.confirmation_invite(registration) if _seat_likely(webinar, email) else None

    # Serialise registrations for this webinar before counting seats, or two could take the last;
    # the same round trips reload the webinar and look for a live registration of this address.
    agenda, version = webinar.__dict__.get("sections"), webinar.updated_at
    params = {"webinar_id": webinar.id, "email_lower": email.lower(), "now": now}
    locked, confirmed, existing_id = lock_and_load(Webinar, webinar.id, _CONFIRMED, _EXISTING, params=params)
    if locked is None or not webinar.registration_open(now):
        raise RegistrationClosed(webinar.slug)
    unchanged = webinar.updated_at == version
    if agenda is not None and unchanged:
        # The reload forgot the agenda read before the lock; it is still current (every edit of a
        # webinar moves updated_at), so put it back rather than read it again under the lock.
        set_committed_value(webinar, "sections", agenda)

    if wants_newsletter:
        request_newsletter(email, name, timezone=registration.timezone, now=now, language=registration.language)

    existing = db.session.get(Registration, existing_id) if existing_id is not None else None
    if webinar.confirm_registrations or (existing is not None and lapsed(existing, now)):
        # Lapsed holds are let go first (this address's own included), and the seats they free go to
        # the waiting list before anyone new: housekeeping may not have come by yet.
        confirmed += settle_holds(webinar, now)
        if existing is not None and existing.status in ENDED_STATUSES:
            existing = None
    if existing is not None:
        if ratelimit.allow(RESEND_BUCKET, str(existing.id), _resends_per_hour(), RESEND_WINDOW, now):
            notifications.send_registration_email(existing, resent=True, unsolicited=True)
        return existing, False

    if webinar.capacity is not None and webinar.capacity - confirmed <= 0:
        registration.status, registration.confirmed_at = "waitlisted", None
    if webinar.confirm_registrations:
        registration.confirm_by = now + CONFIRMATION_HOLD
        if registration.status == "confirmed":
            registration.status, registration.confirmed_at = "pending", None
    if not unchanged:
        # The registrant's zone fell back to the webinar's, which may have changed under us.
        registration.timezone = canonical_zone_or_none(timezone) or webinar.timezone
    db.session.add(registration)
    db.session.flush()  # the id goes into the manage link
    # The invite built before the lock holds if the seat is confirmed and the webinar is as it was.
    usable = registration.status == "confirmed" and unchanged
    notifications.send_registration_email(registration, invite=invite if usable else None, unsolicited=True)
    return registration, True


def public_outcome(registration: Registration, created: bool, now: datetime) -> str:
    """What the page after registering may say about this submission: 'confirmed', 'pending' (a seat
    held until the address is confirmed) or 'waitlisted'.

    The page must read the same whether or not the address was registered before (nobody may learn
    that about someone else's address), so it says what a newcomer gets at this moment, which the
    seats shown on the webinar page already tell everyone: for a new registration, its state; for an
    address registered before, whose existing registration stands, the state a new one would have had.
    The email sent to the address tells its owner their real state."""
    if created:
        return registration.status
    webinar = registration.webinar
    seats = counts(webinar, now)
    if seats["available"] is not None and seats["available"] <= 0:
        return "waitlisted"
    return "pending" if webinar.confirm_registrations else "confirmed"


# Why someone on the waiting list gets a seat; the email says which.
PROMOTED_AS_SEAT_FREED, PROMOTED_FOR_MORE_SEATS, PROMOTED_BY_ORGANISER = "freed", "capacity", "organiser"


def promote(registration: Registration, *, now: datetime, reason: str = PROMOTED_AS_SEAT_FREED) -> Registration:
    """Give a waitlisted registration a seat: confirmed with the full confirmation and invite or,
    while its address is still to be confirmed, a 'pending' hold until its deadline with the link.
    `reason` says in the email why the seat came (PROMOTED_*)."""
    if registration.confirm_by is not None and registration.confirm_by > now:
        registration.status = "pending"
    else:
        registration.status = "confirmed"
        registration.confirmed_at = now
        registration.confirm_by = None
    db.session.flush()
    notifications.send_registration_email(registration, promoted=True, reason=reason)
    return registration


class SeatsFull(Exception):
    """Giving this seat would take the webinar over its capacity, and the organiser did not say yes to that."""


def give_seat(registration: Registration, *, now: datetime, beyond_capacity: bool = False) -> Registration:
    """An organiser moves someone from the waiting list to a seat, even ahead of others; beyond the
    capacity only when they said so (`beyond_capacity`). Raises SeatsFull otherwise."""
    webinar = registration.webinar
    lock_for_update("webinars", webinar.id)
    db.session.refresh(registration)
    db.session.refresh(webinar)
    if registration.status != "waitlisted" or lapsed(registration, now):
        raise ValueError("only someone on the waiting list can be given a seat")
    available = counts(webinar, now)["available"]
    if available is not None and available <= 0 and not beyond_capacity:
        raise SeatsFull()
    return promote(registration, now=now, reason=PROMOTED_BY_ORGANISER)


def first_waitlisted(webinar, now: datetime | None = None) -> Registration | None:
    return db.session.scalar(
        select(Registration)
        .where(Registration.webinar_id == webinar.id, in_queue(now or utcnow()))
        .order_by(Registration.id)
        .limit(1)
    )


def fill_freed_seats(webinar, now: datetime, *, reason: str = PROMOTED_AS_SEAT_FREED) -> list[Registration]:
    """Give free seats to the waiting list, in order (caller holds the webinar's lock). Nobody moves
    up once the webinar has started or is not published; returns who moved up."""
    moved: list[Registration] = []
    if webinar.status != "published" or webinar.starts_at <= now:
        return moved
    while True:
        seats = counts(webinar, now)
        if seats["available"] is not None and seats["available"] <= 0:
            return moved  # full (or a seat given beyond capacity was freed): nobody moves up
        waiting = first_waitlisted(webinar, now)
        if waiting is None:
            return moved
        moved.append(promote(waiting, now=now, reason=reason))


def first_moved(moved: list[Registration]) -> Registration | None:
    return moved[0] if moved else None


def _expire_overdue(webinar, now: datetime) -> int:
    """Mark this webinar's lapsed holds and waiting-list places expired; returns how many."""
    overdue = db.session.scalars(
        select(Registration).where(
            Registration.webinar_id == webinar.id,
            Registration.status.in_(("pending", "waitlisted")),
            Registration.confirm_by <= now,
        )
    ).all()
    for registration in overdue:
        registration.status = "expired"
    if overdue:
        db.session.flush()
    return len(overdue)


def settle_holds(webinar, now: datetime) -> int:
    """Mark this webinar's lapsed holds and waiting-list places expired, and give the seats they
    freed to the waiting list (caller holds the webinar's lock). Returns how many moved up."""
    return len(fill_freed_seats(webinar, now)) if _expire_overdue(webinar, now) else 0


def expire_lapsed_holds(now: datetime | None = None) -> int:
    """The mail worker's housekeeping: settle every webinar with lapsed holds, one commit per webinar
    (so its lock is held only that long). Returns how many registrations expired."""
    now = now or utcnow()
    webinar_ids = db.session.scalars(
        select(Registration.webinar_id)
        .where(Registration.status.in_(("pending", "waitlisted")), Registration.confirm_by <= now)
        .distinct()
    ).all()
    expired = 0
    for webinar_id in webinar_ids:
        lock_for_update("webinars", webinar_id)
        webinar = db.session.get(Webinar, webinar_id, populate_existing=True)
        if webinar is not None:
            count = _expire_overdue(webinar, now)
            if count:
                fill_freed_seats(webinar, now)
            expired += count
        db.session.commit()
    return expired


class ConfirmOutcome:
    CONFIRMED = "confirmed"  # the seat is now confirmed
    QUEUED = "queued"  # the address is confirmed; still on the waiting list
    ALREADY = "already"  # nothing was left to confirm
    EXPIRED = "expired"  # too late: the hold lapsed
    CANCELLED = "cancelled"


def confirm_registration(registration: Registration, *, now: datetime) -> str:
    """The attendee confirms their address (the POST behind the link in the first email)."""
    webinar = registration.webinar
    lock_for_update("webinars", webinar.id)
    db.session.refresh(registration)
    db.session.refresh(webinar)
    if registration.status == "cancelled":
        return ConfirmOutcome.CANCELLED
    if registration.status == "expired" or lapsed(registration, now):
        settle_holds(webinar, now)
        return ConfirmOutcome.EXPIRED
    if registration.confirm_by is None:
        return ConfirmOutcome.ALREADY
    registration.address_confirmed_at = now
    registration.confirm_by = None
    if registration.status == "waitlisted":
        return ConfirmOutcome.QUEUED
    registration.status = "confirmed"
    registration.confirmed_at = now
    db.session.flush()
    notifications.send_registration_email(registration)  # asked for: the invite and join link, not capped
    return ConfirmOutcome.CONFIRMED


def cancel_registration(registration: Registration, *, now: datetime, by: str = "attendee") -> Registration | None:
    """Cancel a registration (idempotent) and give a freed seat to the first person waiting.

    `by` is 'attendee' or 'organiser' (the wording of the email). Returns the promoted registration.
    An attendee cannot cancel once the webinar is over or cancelled, or an unconfirmed place lapsed
    (CancellationClosed, with the reason): what the manage page checks, checked again
    under the lock, because the POST may be a replay of a page opened long before.
    """
    webinar = registration.webinar
    lock_for_update("webinars", webinar.id)
    db.session.refresh(registration)
    db.session.refresh(webinar)
    if registration.status in ENDED_STATUSES:
        return None
    refusal = _cancel_refusal(registration, now)
    if by == "attendee" and refusal is not None:
        raise CancellationClosed(refusal)
    was_confirmed = registration.status == "confirmed"  # had the invite, so gets METHOD:CANCEL
    held_seat = was_confirmed or (registration.status == "pending" and not lapsed(registration, now))
    registration.status = "cancelled"
    registration.cancelled_at = now
    registration.confirm_by = None
    db.session.flush()
    notifications.send_cancellation_email(registration, was_confirmed=was_confirmed, by=by)

    if not held_seat:
        return None
    return first_moved(fill_freed_seats(webinar, now))


def request_newsletter(
    email: str, name: str, *, timezone: str | None = None, now: datetime, language: str = "en"
) -> None:
    """Start the newsletter's double opt-in. The one place registrations call the newsletter."""
    from ..newsletter.operations import request_subscription

    request_subscription(
        email,
        name,
        [],
        source="registration_form",
        consent_text=str(NEWSLETTER_CONSENT_TEXT),
        timezone=timezone,
        now=now,
        language=language,
    )


# -- personal data -----------------------------------------------------------------------------------

ERASED_DOMAIN = "erased.invalid"  # RFC 2606: can never be anyone's address


def registrations_of(email: str) -> list[Registration]:
    """Every registration made with this address, however it was spelt, oldest first."""
    candidates = db.session.scalars(
        select(Registration).where(address_condition(Registration.email, email)).order_by(Registration.id)
    )
    return [registration for registration in candidates if same_address(registration.email, email)]


def export_registrations(email: str) -> list[dict]:
    def iso(value):
        return value.isoformat() if value else None

    return [
        {
            "webinar": r.webinar.title,
            "webinar_slug": r.webinar.slug,
            "webinar_starts_at": iso(r.webinar.starts_at),
            "name": r.name,
            "email": r.email,
            "organisation": r.organisation,
            "country": r.country,
            "timezone": r.timezone,
            "status": r.status,
            "wants_newsletter": r.wants_newsletter,
            "registered_at": iso(r.created_at),
            "confirmed_at": iso(r.confirmed_at),
            "cancelled_at": iso(r.cancelled_at),
            "reminder_24h_at": iso(r.reminder_24h_at),
            "reminder_1h_at": iso(r.reminder_1h_at),
        }
        for r in registrations_of(email)
    ]


def erase_registrations(email: str, *, now: datetime) -> int:
    """Anonymise every registration of an address, so that seat counts and attendance figures stay right:
    name, address, organisation, country and zone go; the status and its dates stay. A place on a
    waiting list is given up (nobody could be told of a seat), without an email. Returns how many."""
    erased = 0
    for registration in registrations_of(email):
        if registration.status == "waitlisted":
            registration.status, registration.cancelled_at = "cancelled", now
        registration.name = ""
        registration.email = f"erased-{registration.id}@{ERASED_DOMAIN}"
        registration.organisation = ""
        registration.country = ""
        registration.timezone = "UTC"
        registration.wants_newsletter = False
        registration.erased_at = now
        erased += 1
    db.session.flush()
    return erased
