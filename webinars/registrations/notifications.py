"""Mail to registrants: confirmation, waitlist, cancellation, reminders, webinar updates.

Each function builds the message (text + HTML from templates/emails/registrations/, times in the
registrant's zone and in the event's zones, an iCalendar invite where one belongs) and puts it in
the outbox. Nothing here commits.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import parseaddr
from functools import wraps
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .. import timezones
from ..addresses import recipient_header
from ..catalogue.models import within_bounds
from ..database import utcnow
from ..extensions import db
from ..ical import invite_calendar, location_text
from ..language import in_language
from ..outbox.messages import build_email
from ..outbox.operations import enqueue, enqueue_unsolicited
from ..tokens import make_token
from .models import Registration

TOKEN_PURPOSE = "registration"
# The link in the first email of a webinar that asks attendees to confirm their address.
CONFIRM_PURPOSE = "registration-confirm"

CHANGE_LABELS = {
    "title": _l("Title"),
    "starts_at": _l("Start"),
    "ends_at": _l("End"),
    "timezone": _l("Time zone"),
    "location": _l("Location"),
    "join_url": _l("Join link"),
}


def absolute_url(endpoint: str, **values) -> str:
    """An external URL at BASE_URL, inside or outside a request (the CLI sends reminders)."""
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "http")
    return adapter.build(endpoint, values, force_external=True)


def manage_token(registration: Registration) -> str:
    return make_token(TOKEN_PURPOSE, {"r": registration.id})


def manage_url(registration: Registration) -> str:
    return absolute_url("registrations.manage", token=manage_token(registration))


def confirm_token(registration: Registration) -> str:
    return make_token(CONFIRM_PURPOSE, {"r": registration.id})


def confirm_url(registration: Registration) -> str:
    return absolute_url("registrations.confirm", token=confirm_token(registration))


def page_url(webinar) -> str:
    return absolute_url("catalogue.webinar", slug=webinar.slug)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _recipient(registration: Registration) -> str:
    # The display name quoted or encoded as needed; collapsing whitespace keeps CR/LF out of it.
    return recipient_header(_one_line(registration.name)[:200], registration.email)


def _organizer() -> tuple[str, str]:
    name, address = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])
    return address, name or current_app.config.get("SITE_NAME", "")


def _zone(registration: Registration) -> str:
    # The registrant's zone, else the webinar's, else UTC (a webinar row whose zone is no longer known).
    return (
        timezones.canonical_zone_or_none(registration.timezone)
        or timezones.canonical_zone_or_none(registration.webinar.timezone)
        or "UTC"
    )


def in_registrants_language(send):
    """Write the message in the registrant's language (their `language`, stored when they signed up),
    whatever the language of the page or command that causes it."""

    @wraps(send)
    def wrapper(registration, *args, **kwargs):
        with in_language(registration.language):
            return send(registration, *args, **kwargs)

    return wrapper


def _title(registration: Registration) -> str:
    return registration.webinar.title_in(registration.language)


def _times(webinar, zone: str) -> dict:
    if not webinar.presentable:
        # A stored time no zone's clock can show (an organiser is fixing or cancelling it): plain UTC.
        day, clock = timezones.utc_text(webinar.starts_at).split(" ", 1)
        when = f"{clock} - {timezones.utc_text(webinar.ends_at)}"
        return {
            "attendee_zone": "UTC",
            "attendee_date": day,
            "attendee_range": when,
            "attendee_label": "UTC",
            "event_date": day,
            "event_range": when,
            "event_zones_line": "",
            "starts_at_utc": "",
        }
    start = timezones.zone_time(webinar.starts_at, zone)
    return {
        "attendee_zone": timezones.zone_place(zone),
        "event_zone": timezones.zone_place(webinar.timezone),
        "attendee_date": start.date,
        "attendee_range": timezones.time_range(webinar.starts_at, webinar.ends_at, zone),
        "attendee_label": start.label,
        "event_date": timezones.zone_time(webinar.starts_at, webinar.timezone).date,
        "event_range": timezones.time_range(webinar.starts_at, webinar.ends_at, webinar.timezone),
        "event_zones_line": timezones.zone_times_line(webinar.starts_at, webinar.display_zones),
        "starts_at_utc": timezones.utc_iso(webinar.starts_at),
    }


def _invite(registration: Registration, method: str, *, sequence: int | None = None) -> tuple[bytes, str] | None:
    """The registration's own calendar entry (its UID; the webinar's for registrations made before
    they had one) at the webinar's SEQUENCE, or at `sequence`; None for a webinar whose stored times
    no calendar can hold (Webinar.presentable)."""
    webinar = registration.webinar
    if not webinar.presentable:
        return None
    organizer_email, organizer_name = _organizer()
    confirmed = registration.status == "confirmed" and method == "REQUEST"
    ics = invite_calendar(
        webinar,
        method=method,
        uid=registration.ical_uid or webinar.ical_uid,
        sequence=sequence,
        organizer_email=organizer_email,
        organizer_name=organizer_name,
        attendee_email=registration.email,
        attendee_name=_one_line(registration.name),
        page_url=page_url(webinar),
        join_url=(webinar.join_url or None) if confirmed else None,
        dtstamp=utcnow(),
        language=registration.language,
    )
    return ics, method


def _send(
    registration: Registration,
    template: str,
    subject: str,
    kind: str,
    *,
    calendar=None,
    unsolicited: bool = False,
    **context,
):
    if registration.erased_at is not None:
        return None  # the person's address was erased at their request: nothing can reach them
    webinar = registration.webinar
    context = {
        "registration": registration,
        "webinar": webinar,
        "site_name": current_app.config.get("SITE_NAME", ""),
        "page_url": page_url(webinar),
        "manage_url": manage_url(registration),
        # The private join link goes to confirmed registrants only.
        "join_url": webinar.join_url if registration.status == "confirmed" else "",
        **_times(webinar, _zone(registration)),
        **context,
    }
    message = build_email(
        to=_recipient(registration),
        subject=_one_line(subject)[:250],
        text=render_template(f"emails/registrations/{template}.txt", **context),
        html=render_template(f"emails/registrations/{template}.html", **context),
        calendar=calendar,
    )
    # A message caused by the public form is capped per address (see enqueue_unsolicited).
    return enqueue_unsolicited(message, kind) if unsolicited else enqueue(message, kind)


@in_registrants_language
def confirmation_invite(registration: Registration) -> tuple[bytes, str]:
    """The invite a confirmed registration's email carries (it does not depend on the id, so it
    can be built before the registration is stored); pass it to send_registration_email()."""
    return _invite(registration, "REQUEST")


@in_registrants_language
def send_registration_email(
    registration: Registration,
    *,
    resent: bool = False,
    promoted: bool = False,
    reason: str = "freed",
    invite: tuple[bytes, str] | None = None,
    unsolicited: bool = False,
):
    """The confirmation (with the invite, or `invite` from confirmation_invite() when it was built
    for this registration as it is now) or, for the waiting list, the waitlist email. A promotion
    says why the seat came: `reason` 'freed' (someone left), 'capacity' (the organisers added seats)
    or 'organiser' (the organisers gave this person a seat). `unsolicited`: caused by the public form,
    so capped per address (None when dropped)."""
    from .operations import waitlist_position

    title = _title(registration)
    # A registration that must still confirm its address: the link, and the deadline in the attendee's zone.
    deadline = {}
    if registration.confirm_by is not None:
        deadline = {
            "confirm_url": confirm_url(registration),
            "confirm_by": timezones.zone_time(registration.confirm_by, _zone(registration)),
        }
    if registration.status == "pending":
        if promoted:
            subject = _("A seat is held for you, please confirm: %(title)s", title=title)
        else:
            subject = _("Please confirm your seat: %(title)s", title=title)
        return _send(
            registration,
            "pending",
            subject,
            "registration_pending",
            resent=resent,
            promoted=promoted,
            unsolicited=unsolicited,
            **deadline,
        )
    if registration.status == "waitlisted":
        return _send(
            registration,
            "waitlisted",
            _("You are on the waiting list: %(title)s", title=title),
            "registration_waitlisted",
            position=waitlist_position(registration),
            resent=resent,
            unsolicited=unsolicited,
            **deadline,
        )
    if promoted and reason == "organiser":
        subject = _("The organisers have given you a seat: %(title)s", title=title)
    elif promoted:
        subject = _("A seat is yours: %(title)s", title=title)
    else:
        subject = _("Registration confirmed: %(title)s", title=title)
    return _send(
        registration,
        "confirmed",
        subject,
        "registration_promoted" if promoted else "registration_confirmed",
        calendar=invite or _invite(registration, "REQUEST"),
        resent=resent,
        promoted=promoted,
        unsolicited=unsolicited,
        reason=reason,
    )


@in_registrants_language
def send_cancellation_email(registration: Registration, *, was_confirmed: bool, by: str = "attendee"):
    """Confirms a cancellation. Someone who held a seat (and so an invite) also gets METHOD:CANCEL for
    their entry, one SEQUENCE above the webinar's: RFC 5546 wants a cancellation to raise it, and the
    entry gets no later message (registering again makes a new one)."""
    cancel = _invite(registration, "CANCEL", sequence=registration.webinar.sequence + 1) if was_confirmed else None
    return _send(
        registration,
        "cancelled",
        _("Registration cancelled: %(title)s", title=_title(registration)),
        "registration_cancelled",
        calendar=cancel,
        by=by,
        was_confirmed=was_confirmed,
    )


@in_registrants_language
def send_reminder(registration: Registration, which: str):
    """`which` is '24h' or '1h'."""
    title = _title(registration)
    if which == "24h":
        subject = _("Tomorrow: %(title)s", title=title)
    else:
        subject = _("Starting in one hour: %(title)s", title=title)
    return _send(registration, "reminder", subject, f"reminder_{which}", which=which)


def _format_change(field: str, value, zone: str) -> str:
    if isinstance(value, datetime):
        if not within_bounds(value):
            return timezones.utc_text(value)  # the old value of a row being fixed: no zone's clock may show it
        entry = timezones.zone_time(value, zone)
        return f"{entry.date}, {entry.time} {entry.label}"
    if value in (None, ""):
        return _("(none)")
    if field == "timezone" and timezones.is_known_zone(value):
        return timezones.zone_place(value)  # "Tokyo, Japan", never an IANA id
    if field == "location":
        return location_text(_one_line(value))
    return _one_line(value)


def _live_registrations(webinar, statuses: tuple[str, ...]) -> list[Registration]:
    return list(
        db.session.scalars(
            select(Registration)
            .where(
                Registration.webinar_id == webinar.id,
                Registration.status.in_(statuses),
                Registration.erased_at.is_(None),  # their address is gone at their request
            )
            .order_by(Registration.id)
        )
    )


def send_webinar_update(webinar, changes: dict[str, tuple]) -> int:
    """Tell registrants what changed. Confirmed ones get an updated REQUEST (same UID; the caller
    has already raised webinar.sequence); waitlisted ones a notice without invite or join link.
    Returns the number of messages queued."""
    sent = 0
    for registration in _live_registrations(webinar, ("confirmed", "pending", "waitlisted")):
        sent += _send_update(registration, changes)
    return sent


@in_registrants_language
def _send_update(registration: Registration, changes: dict[str, tuple]) -> int:
    zone = _zone(registration)
    confirmed = registration.status == "confirmed"
    lines = [
        (
            str(CHANGE_LABELS.get(field, field.replace("_", " ").capitalize())),
            _format_change(field, old, zone),
            _format_change(field, new, zone),
        )
        for field, (old, new) in changes.items()
        if confirmed or field != "join_url"
    ]
    if not lines:
        return 0
    _send(
        registration,
        "updated",
        _("Updated: %(title)s", title=_title(registration)),
        "webinar_updated",
        calendar=_invite(registration, "REQUEST") if confirmed else None,
        changes=lines,
    )
    return 1


def send_webinar_cancellation(webinar, reason: str = "") -> int:
    """Every live registrant gets a notice with the organisers' reason; confirmed ones also
    METHOD:CANCEL with STATUS:CANCELLED (the caller has raised webinar.sequence). People on the
    waiting list, or holding a seat whose address is not confirmed yet, never had an invite, so
    theirs is a plain notice."""
    sent = 0
    for registration in _live_registrations(webinar, ("confirmed", "pending", "waitlisted")):
        _send_webinar_cancellation(registration, reason)
        sent += 1
    return sent


@in_registrants_language
def _send_webinar_cancellation(registration: Registration, reason: str) -> None:
    confirmed = registration.status == "confirmed"  # only they had an invite
    _send(
        registration,
        "webinar_cancelled",
        _("Cancelled: %(title)s", title=_title(registration)),
        "webinar_cancelled",
        calendar=_invite(registration, "CANCEL") if confirmed else None,
        was_confirmed=confirmed,
        reason=(reason or "").strip(),
        catalogue_url=absolute_url("catalogue.index"),
    )
