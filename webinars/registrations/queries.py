"""Read-side questions about registrations: seats held, the waiting list, what the webinar page and
the organisers' screens show. Nothing here changes a row."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, literal, or_, select

from ..database import address_condition, same_address, utcnow
from ..extensions import db
from .models import REGISTRATION_STATUSES, AttendanceImport, Registration, RegistrationAnswer


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


def seats_held(webinar_id: int, now: datetime) -> int:
    """How many seats of a webinar are taken at `now` (one index range: webinar, status)."""
    return db.session.scalar(select(func.count()).where(Registration.webinar_id == webinar_id, holds_seat(now)))


# The public page says "few seats" at or under this many, never a number: with an exact count, anyone
# could learn whether an address is registered (re-registering a known address takes no seat). What is
# left: a visitor who registers and cancels made-up addresses to stand exactly at a threshold can still
# tell, there, whether one more address takes a seat; each such probe is a registration organisers see.
FEW_SEATS = 10


def seats_left(webinar, now: datetime | None = None) -> str | None:
    """'many', 'few' or 'none' seats left; None when the webinar has no limit (and nothing is counted)."""
    if webinar.capacity is None:
        return None
    available = webinar.capacity - seats_held(webinar.id, now or utcnow())
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


def first_waitlisted(webinar, now: datetime | None = None) -> Registration | None:
    return db.session.scalar(
        select(Registration)
        .where(Registration.webinar_id == webinar.id, in_queue(now or utcnow()))
        .order_by(Registration.id)
        .limit(1)
    )


def registration(registration_id: int) -> Registration | None:
    return db.session.get(Registration, registration_id)


# -- what the organisers' screens show -------------------------------------------------------------------


def counts_by_state(webinar_id: int, now: datetime | None = None) -> dict:
    """Registrations per state, and 'all'; a hold past its deadline counts as expired before
    housekeeping marks it."""
    overdue = and_(Registration.status.in_(("pending", "waitlisted")), Registration.confirm_by <= (now or utcnow()))
    state = case((overdue, literal("expired")), else_=Registration.status)
    rows = db.session.execute(
        select(state, func.count(Registration.id)).where(Registration.webinar_id == webinar_id).group_by(state)
    ).all()
    result = dict.fromkeys(REGISTRATION_STATUSES, 0)
    result.update({status: number for status, number in rows})
    result["all"] = sum(result.values())
    return result


def cancellation_audience(webinar_id: int) -> tuple[int, int]:
    """Whom a cancellation of the webinar reaches (notifications.send_webinar_cancellation): (people
    holding a seat, whose calendar entry it removes; people waiting or whose address is not confirmed
    yet, who never had one and get a plain notice). Erased registrations get nothing."""
    rows = db.session.execute(
        select(Registration.status, func.count(Registration.id))
        .where(
            Registration.webinar_id == webinar_id,
            Registration.status.in_(("confirmed", "pending", "waitlisted")),
            Registration.erased_at.is_(None),
        )
        .group_by(Registration.status)
    ).all()
    counted = {status: number for status, number in rows}
    with_calendar = counted.get("confirmed", 0)
    return with_calendar, sum(counted.values()) - with_calendar


def of_webinar(webinar_id: int, status: str | None = None, *, by_id: bool = False) -> list[Registration]:
    """A webinar's registrations (of one state when `status` is one), in the order they came."""
    query = select(Registration).where(Registration.webinar_id == webinar_id)
    if status in REGISTRATION_STATUSES:
        query = query.where(Registration.status == status)
    order = (Registration.id,) if by_id else (Registration.created_at, Registration.id)
    return list(db.session.scalars(query.order_by(*order)))


@dataclass(frozen=True)
class Person:
    """Who a registration is, as the audit trail names it (nothing once the person's data is erased)."""

    name: str
    email: str
    erased: bool


def people(registration_ids: Iterable[int]) -> dict[int, Person]:
    ids = {i for i in registration_ids if i is not None}
    if not ids:
        return {}
    rows = db.session.execute(
        select(Registration.id, Registration.name, Registration.email, Registration.erased_at).where(
            Registration.id.in_(ids)
        )
    )
    return {row.id: Person(row.name, row.email, row.erased_at is not None) for row in rows}


# -- personal data -----------------------------------------------------------------------------------


def registrations_of(email: str) -> list[Registration]:
    """Every registration made with this address, however it was spelt, oldest first."""
    candidates = db.session.scalars(
        select(Registration).where(address_condition(Registration.email, email)).order_by(Registration.id)
    )
    return [registration for registration in candidates if same_address(registration.email, email)]


# -- the organisers' toolkit: figures per webinar, attendance, answers ------------------------------------


def webinar_id_of(registration_id: int) -> int | None:
    """The webinar a registration belongs to, or None when there is no such registration."""
    return db.session.scalar(select(Registration.webinar_id).where(Registration.id == registration_id))


@dataclass(frozen=True)
class WebinarFigures:
    """What the organisers' list shows of one webinar's registrations."""

    confirmed: int = 0
    waitlisted: int = 0
    attended: int = 0
    no_shows: int = 0

    @property
    def attendance_known(self) -> bool:
        return bool(self.attended or self.no_shows)

    @property
    def attendance_rate(self) -> float | None:
        """Attended / (attended + no-shows), or None before a participant report was imported."""
        known = self.attended + self.no_shows
        return self.attended / known if known else None


def figures(webinar_ids: Iterable[int]) -> dict[int, WebinarFigures]:
    """Per webinar: confirmed seats, the waiting list, attended and no-shows, in one grouped query."""
    ids = sorted(set(webinar_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        select(
            Registration.webinar_id,
            func.count().filter(Registration.status == "confirmed"),
            func.count().filter(Registration.status == "waitlisted"),
            func.count().filter(Registration.attended.is_(True)),
            func.count().filter(Registration.attended.is_(False)),
        )
        .where(Registration.webinar_id.in_(ids))
        .group_by(Registration.webinar_id)
    )
    found = {row[0]: WebinarFigures(*row[1:]) for row in rows}
    return {webinar_id: found.get(webinar_id, WebinarFigures()) for webinar_id in ids}


def latest_attendance_import(webinar_id: int) -> AttendanceImport | None:
    return db.session.scalar(
        select(AttendanceImport)
        .where(AttendanceImport.webinar_id == webinar_id)
        .order_by(AttendanceImport.imported_at.desc(), AttendanceImport.id.desc())
        .limit(1)
    )


def answers_by_registration(registration_ids: Iterable[int]) -> dict[int, dict[int, RegistrationAnswer]]:
    """{registration id: {question id: answer}} for these registrations."""
    ids = sorted(set(registration_ids))
    found: dict[int, dict[int, RegistrationAnswer]] = {}
    # In chunks: the IN list of a webinar with thousands of registrations stays a reasonable statement.
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        for answer in db.session.scalars(
            select(RegistrationAnswer).where(RegistrationAnswer.registration_id.in_(chunk))
        ):
            found.setdefault(answer.registration_id, {})[answer.question_id] = answer
    return found
