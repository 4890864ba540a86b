"""Registering, confirming, cancelling and promoting. Operations change rows and queue mail; they never
commit (except expire_lapsed_holds, the worker's housekeeping, which commits per webinar)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .. import ratelimit, signals
from ..catalogue.models import Webinar, new_ical_uid
from ..database import UTCDateTime, lock_and_load, lock_for_update, mailbox_key, utcnow
from ..extensions import db
from ..language import language_of
from ..timezones import canonical_zone_or_none
from ..urls import service_domain
from . import notifications, questions
from .models import ENDED_STATUSES, Registration, RegistrationQuestion
from .queries import counts, first_waitlisted, holds_seat, lapsed, registrations_of, seats_held

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


# -- registering ---------------------------------------------------------------------------------------

# Read under the webinar's lock, in the statement that reloads it (bound parameters: webinar_id,
# email_key, now): the seats taken, and the live registration of the address, found through the
# unique index on (webinar_id, email_key) that also makes a second one impossible.
_NOW = bindparam("now", type_=UTCDateTime)
_SEATS_TAKEN = (
    select(func.count()).where(Registration.webinar_id == bindparam("webinar_id"), holds_seat(_NOW)).scalar_subquery()
)
# The unique index's own WHERE, written out: a query or a conflict target can use that partial index only
# if the database sees that they ask for the same rows, which bound parameters would hide (SQLite then
# scanned every registration of the webinar).
_LIVE_WHERE = text("status NOT IN ('cancelled', 'expired')")
_LIVE_REGISTRATION = (
    select(Registration.id)
    .where(Registration.webinar_id == bindparam("webinar_id"), Registration.email_key == bindparam("email_key"))
    .where(_LIVE_WHERE)
    .limit(1)
    .scalar_subquery()
)


@dataclass(frozen=True)
class Registered:
    id: int
    created: bool  # False: the address was registered already (and was sent its email again)
    # What the page after registering may say: 'confirmed', 'pending' (a seat held until the address is
    # confirmed) or 'waitlisted'. It must read the same whether or not the address was registered
    # before (nobody may learn that about someone else's address), so it is what a newcomer gets at
    # this moment, which the seats shown on the webinar page already tell everyone; the email to the
    # address tells its owner their real state.
    outcome: str


def register(
    webinar: Webinar,
    *,
    name: str,
    email: str,
    organisation: str = "",
    country: str = "",
    timezone: str = "UTC",
    wants_newsletter: bool = False,
    language: str = "en",
    answers: list[tuple[RegistrationQuestion, str]] = (),
    now: datetime,
) -> Registered:
    """Register `email` (already normalised) for `webinar`: confirmed while seats remain, then
    waitlisted. The same address twice gets its existing registration back and its email again, so
    nobody can learn from the answer whether an address was registered.

    A webinar with `confirm_registrations` holds the seat as 'pending' for CONFIRMATION_HOLD and
    sends a link to confirm the address instead of the invite; its waiting list asks for the same.
    `language` ('en', 'fr'), the language of the form, is the language of every email to the registrant.
    `answers` to the webinar's own questions are stored with a new registration (an address already
    registered keeps the answers it gave). The seats and the address's live registration are read once,
    under the webinar's row lock, which serialises registrations for the webinar; the email is queued as
    an intent, built by the worker."""
    key = mailbox_key(email)
    params = {"webinar_id": webinar.id, "email_key": key, "now": now}
    # Seats are counted only for a webinar with a capacity (the count reads every seat's index entry).
    counted = webinar.capacity is not None
    reads = (_SEATS_TAKEN, _LIVE_REGISTRATION) if counted else (_LIVE_REGISTRATION,)
    locked, *values = lock_and_load(Webinar, webinar.id, *reads, params=params)
    if locked is None or not webinar.registration_open(now):
        raise RegistrationClosed(webinar.slug)
    seats_taken, existing_id = values if counted else (None, values[0])
    if webinar.capacity is not None and seats_taken is None:  # a capacity set a moment ago
        seats_taken = seats_held(webinar.id, now)

    # The registrant's zone, else the webinar's as it is under the lock.
    zone, language = canonical_zone_or_none(timezone) or webinar.timezone, language_of(language)
    if wants_newsletter:
        signals.newsletter_requested.send(
            None,
            email=email,
            name=name,
            timezone=zone,
            language=language,
            consent_text=str(NEWSLETTER_CONSENT_TEXT),
            now=now,
        )
    existing = db.session.get(Registration, existing_id) if existing_id is not None else None
    if webinar.confirm_registrations or (existing is not None and lapsed(existing, now)):
        # Lapsed holds are let go first (this address's own included), and the seats they free go to
        # the waiting list before anyone new: housekeeping may not have come by yet.
        moved_up = settle_holds(webinar, now)
        seats_taken = None if seats_taken is None else seats_taken + moved_up
        if existing is not None and existing.status in ENDED_STATUSES:
            existing = None
    status = "confirmed" if webinar.capacity is None or seats_taken < webinar.capacity else "waitlisted"
    confirm_by = None
    if webinar.confirm_registrations:
        confirm_by = now + CONFIRMATION_HOLD
        status = "pending" if status == "confirmed" else status
    if existing is not None:
        _resend(existing, now)
        return Registered(existing.id, False, status)
    values = {
        "webinar_id": webinar.id,
        "email": email,
        "email_key": key,
        "name": name,
        "organisation": organisation or "",
        "country": country or "",
        "timezone": zone,
        "status": status,
        "wants_newsletter": wants_newsletter,
        "language": language,
        "created_at": now,
        "confirmed_at": now if status == "confirmed" else None,
        "confirm_by": confirm_by,
        "ical_uid": new_ical_uid(service_domain()),
    }
    registration_id = _insert_unless_registered(values)
    if registration_id is None:
        # A live registration of this address appeared without the lock (none of ours writes one
        # so): answered as the duplicate it is.
        existing = db.session.scalar(
            select(Registration).where(
                Registration.webinar_id == webinar.id, Registration.email_key == key, _LIVE_WHERE
            )
        )
        _resend(existing, now)
        return Registered(existing.id, False, status)
    questions.insert_answers(registration_id, list(answers))
    notifications.queue(
        _first_email_kind(status),
        registration_id=registration_id,
        email=email,
        unsolicited=True,
        now=now,
        **_first_email_facts(status, confirm_by, webinar.sequence),
    )
    return Registered(registration_id, True, status)


def _first_email_kind(status: str) -> str:
    return {"confirmed": "registration_confirmed"}.get(status, f"registration_{status}")


def _first_email_facts(status: str, confirm_by: datetime | None, sequence: int) -> dict:
    if status == "confirmed":
        return {"resent": False, "promoted": False, "seq": sequence, "reason": "freed"}
    return {"resent": False, "promoted": False, "confirm_by": confirm_by.isoformat() if confirm_by else None}


@lru_cache(maxsize=4)
def _insert_statement(dialect: str):
    # Built once per database kind: every registration runs it, with its own values.
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = Registration.__table__
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=["webinar_id", "email_key"], index_where=_LIVE_WHERE)
        .returning(table.c.id)
    )


def _insert_unless_registered(values: dict) -> int | None:
    """INSERT the registration; None when the unique index says the address has a live one already.
    One statement on both databases (ON CONFLICT ... DO NOTHING RETURNING id), so a lost race is an
    answer, never an error."""
    statement = _insert_statement(db.session.get_bind().dialect.name)
    return db.session.execute(statement, values).scalar()


def _resend(existing: Registration, now: datetime) -> None:
    """The email of a registration again, for an address that registered again (capped)."""
    if ratelimit.allow(RESEND_BUCKET, str(existing.id), _resends_per_hour(), RESEND_WINDOW, now):
        notifications.queue_registration_email(existing, resent=True, unsolicited=True)


class AlreadyRegistered(Exception):
    """The address already has a live registration for this webinar."""

    def __init__(self, registration: Registration):
        super().__init__(registration.id)
        self.registration = registration


def add_by_hand(
    webinar: Webinar,
    *,
    name: str,
    email: str,
    organisation: str = "",
    country: str = "",
    timezone: str = "UTC",
    answers: list[tuple[RegistrationQuestion, str]] = (),
    language: str = "en",
    notify: bool = True,
    now: datetime,
) -> Registration:
    """An organiser registers someone (a speaker's colleague): the same capacity rule as the public
    form, under the same lock (a seat while one is free, else the waiting list, in order), but the
    address counts as confirmed, since the organiser vouches for it; open until the webinar ends,
    past the registration deadline too. `notify`: queue the usual confirmation or waiting-list email,
    in `language` (as every later email). Raises RegistrationClosed (not published, or over) or
    AlreadyRegistered."""
    key = mailbox_key(email)
    params = {"webinar_id": webinar.id, "email_key": key, "now": now}
    locked, existing_id = lock_and_load(Webinar, webinar.id, _LIVE_REGISTRATION, params=params)
    if locked is None or webinar.status != "published" or webinar.is_past(now):
        raise RegistrationClosed(webinar.slug)
    settle_holds(webinar, now)  # lapsed holds first, as for the public form
    existing = db.session.get(Registration, existing_id) if existing_id is not None else None
    if existing is not None and existing.status not in ENDED_STATUSES:
        raise AlreadyRegistered(existing)
    seat = webinar.capacity is None or seats_held(webinar.id, now) < webinar.capacity
    values = {
        "webinar_id": webinar.id,
        "email": email,
        "email_key": key,
        "name": name,
        "organisation": organisation or "",
        "country": country or "",
        "timezone": canonical_zone_or_none(timezone) or webinar.timezone,
        "status": "confirmed" if seat else "waitlisted",
        "wants_newsletter": False,
        "language": language_of(language),
        "created_at": now,
        "confirmed_at": now if seat else None,
        "confirm_by": None,
        "ical_uid": new_ical_uid(service_domain()),
    }
    registration_id = _insert_unless_registered(values)
    if registration_id is None:  # registered a moment ago, by the form or another organiser
        raise AlreadyRegistered(
            db.session.scalar(
                select(Registration).where(
                    Registration.webinar_id == webinar.id, Registration.email_key == key, _LIVE_WHERE
                )
            )
        )
    registration = db.session.get(Registration, registration_id)
    if webinar.confirm_registrations:
        registration.address_confirmed_at = now
    questions.insert_answers(registration_id, list(answers))
    if notify:
        notifications.queue_registration_email(registration)
    return registration


# -- promoting -----------------------------------------------------------------------------------------

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
    notifications.queue_registration_email(registration, promoted=True, reason=reason)
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
    notifications.queue_registration_email(registration)  # asked for: the invite and join link, not capped
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
    notifications.queue_cancellation_email(registration, was_confirmed=was_confirmed, by=by)

    if not held_seat:
        return None
    moved = fill_freed_seats(webinar, now)
    return moved[0] if moved else None


# -- what the catalogue asks, through signals (registrations/__init__.py connects them) ---------------


def on_seats_taken(webinar, *, now: datetime) -> int:
    """How many seats a new capacity must leave room for (a seat held until an address is confirmed counts)."""
    return seats_held(webinar.id, now)


def on_seats_added(webinar, *, now: datetime) -> list[int]:
    """More seats: the waiting list moves up, in order; the ids of who moved."""
    return [registration.id for registration in fill_freed_seats(webinar, now, reason=PROMOTED_FOR_MORE_SEATS)]


# -- personal data -----------------------------------------------------------------------------------

ERASED_DOMAIN = "erased.invalid"  # RFC 2606: can never be anyone's address


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
            "email_key": r.email_key,  # the address as it is looked up: lower-cased
            "organisation": r.organisation,
            "country": r.country,
            "timezone": r.timezone,
            "language": r.language,
            "status": r.status,
            "wants_newsletter": r.wants_newsletter,
            "registered_at": iso(r.created_at),
            "confirmed_at": iso(r.confirmed_at),
            "cancelled_at": iso(r.cancelled_at),
            "confirm_by": iso(r.confirm_by),
            "address_confirmed_at": iso(r.address_confirmed_at),
            "reminder_24h_at": iso(r.reminder_24h_at),
            "reminder_1h_at": iso(r.reminder_1h_at),
            "answers": [{"question": answer.asked_as, "answer": answer.values} for answer in r.answers],
            "attended": r.attended,
            "minutes_attended": r.attended_minutes,
            "first_joined_at": iso(r.joined_at),
            "last_left_at": iso(r.left_at),
            "ical_uid": r.ical_uid,  # the calendar entry's identifier in their invites
            "erased_at": iso(r.erased_at),
        }
        for r in registrations_of(email)
    ]


def _give_up(registration: Registration, now: datetime) -> bool:
    """An erased person's seat or place in an upcoming webinar, given up under the webinar's lock as a
    cancellation is, without an email (there is nobody left to tell). True when it freed a seat."""
    webinar = registration.webinar
    lock_for_update("webinars", webinar.id)
    db.session.refresh(registration)
    db.session.refresh(webinar)
    if registration.status in ENDED_STATUSES:
        return False
    held_seat = registration.status == "confirmed" or (
        registration.status == "pending" and not lapsed(registration, now)
    )
    registration.status, registration.cancelled_at, registration.confirm_by = "cancelled", now, None
    return held_seat


def erase_registrations(email: str, *, now: datetime) -> int:
    """Anonymise every registration of an address, so that seat counts and attendance figures stay right:
    name, address, organisation, country, zone, answers to the webinar's questions and the times they
    joined and left go. In a webinar that has not started, the seat or waiting-list place is given up
    (nobody could come, nor be told of a seat) and the waiting list moves up in order, each person
    promoted told so; a webinar under way or over keeps its figures (the status, its dates and whether
    they attended stay). Returns how many."""
    erased, freed = 0, {}
    for registration in registrations_of(email):
        webinar = registration.webinar
        if webinar.starts_at > now:
            if _give_up(registration, now):
                freed[webinar.id] = webinar
        elif registration.status == "waitlisted":
            registration.status, registration.cancelled_at = "cancelled", now
        registration.name = ""
        registration.email = f"erased-{registration.id}@{ERASED_DOMAIN}"
        registration.organisation = ""
        registration.country = ""
        registration.timezone = "UTC"
        registration.wants_newsletter = False
        registration.answers = []  # free text, as personal as anything (delete-orphan removes the rows)
        registration.joined_at = registration.left_at = None
        registration.erased_at = now
        erased += 1
    db.session.flush()
    for webinar in freed.values():  # still locked: the seats go to the waiting list as on a cancellation
        fill_freed_seats(webinar, now)
    return erased
