"""Mail to registrants: confirmation, waiting list, cancellation, reminders, webinar updates.

The request records intent, the mail worker renders. Each `queue_*` function puts an outbox row in
the session with the message's kind, the registration's id and only the facts that must stay as they
were at that moment: the invite's SEQUENCE, what changed, the organisers' reason, who cancelled.
Everything else (names, times, the webinar's title, join link and agenda) is read when the worker
builds the message with the renderers registered in `init_app`, in the registrant's language
(stored when they registered), so the invite matches the webinar as it is when it leaves, at the
SEQUENCE the attendee's entry had. Nothing here commits.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import parseaddr
from urllib.parse import urlsplit

from flask import Flask, current_app, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import timezones
from ..addresses import recipient_header
from ..catalogue.models import AgendaSection, Webinar, within_bounds
from ..database import utcnow
from ..extensions import db
from ..ical import invite_calendar, location_text
from ..language import in_language
from ..outbox import register_renderer
from ..outbox.messages import build_email
from ..outbox.operations import enqueue_group, enqueue_intent, message_bytes
from ..tokens import make_token
from .models import Registration
from .queries import waitlist_position

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
    """An external URL at BASE_URL, inside or outside a request (the mail worker, the CLI)."""
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


# -- queueing, in the request -------------------------------------------------------------------------


def _instant(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _read_instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def queue(
    kind: str,
    *,
    registration_id: int,
    email: str,
    unsolicited: bool = False,
    now: datetime | None = None,
    **facts,
):
    """Queue message `kind` for a registration (by id, so that it can follow an INSERT that loaded no
    object). `facts` are JSON values frozen now. (The language is the registrant's, stored with them.)"""
    payload = {"r": registration_id, **facts}
    return enqueue_intent(kind, email, payload, unsolicited=unsolicited, now=now)


def queue_registration_email(
    registration: Registration,
    *,
    sequence: int | None = None,
    resent: bool = False,
    promoted: bool = False,
    reason: str = "freed",
    unsolicited: bool = False,
):
    """The confirmation (with the invite at the webinar's SEQUENCE now, or `sequence`), the pending
    seat's request to confirm the address, or the waiting-list notice, as the registration's status
    says. A promotion says why the seat came: `reason` 'freed' (someone left), 'capacity' (the
    organisers added seats) or 'organiser' (the organisers gave this person a seat). `unsolicited`:
    caused by the public form, so capped per address (None when dropped)."""
    if registration.erased_at is not None:
        return None  # the person's address was erased at their request: nothing can reach them
    status = registration.status
    facts: dict = {"resent": resent, "promoted": promoted}
    if status in ("pending", "waitlisted"):
        kind = f"registration_{status}"
        facts["confirm_by"] = _instant(registration.confirm_by)
    else:
        kind = "registration_promoted" if promoted else "registration_confirmed"
        facts["seq"] = registration.webinar.sequence if sequence is None else sequence
        facts["reason"] = reason
    return queue(kind, registration_id=registration.id, email=registration.email, unsolicited=unsolicited, **facts)


def queue_cancellation_email(registration: Registration, *, was_confirmed: bool, by: str = "attendee"):
    """Confirms a cancellation. Someone who held a seat (and so an invite) also gets METHOD:CANCEL for
    their entry, one SEQUENCE above the webinar's: RFC 5546 wants a cancellation to raise it, and the
    entry gets no later message (registering again makes a new one)."""
    if registration.erased_at is not None:
        return None
    return queue(
        "registration_cancelled",
        registration_id=registration.id,
        email=registration.email,
        was_confirmed=was_confirmed,
        by=by,
        seq=registration.webinar.sequence + 1,
    )


def queue_reminder(registration: Registration, which: str):
    """`which` is '24h' or '1h'."""
    if registration.erased_at is not None:
        return None
    return queue(f"reminder_{which}", registration_id=registration.id, email=registration.email)


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


def _frozen(value):
    # A change's old and new values, in JSON: instants as {"utc": iso}, everything else as text.
    if isinstance(value, datetime):
        return {"utc": value.isoformat()}
    return None if value is None else str(value)


def send_webinar_update(webinar, changes: dict[str, tuple]) -> int:
    """Tell registrants what changed. Confirmed ones get an updated REQUEST (same UID, at the webinar's
    SEQUENCE, which the caller has raised); waitlisted ones a notice without invite or join link.
    Returns the number of messages queued."""
    frozen = [[field, _frozen(old), _frozen(new)] for field, (old, new) in changes.items()]
    sent = 0
    for registration in _live_registrations(webinar, ("confirmed", "pending", "waitlisted")):
        confirmed = registration.status == "confirmed"
        shown = [change for change in frozen if confirmed or change[0] != "join_url"]
        if not shown:
            continue
        queue(
            "webinar_updated",
            registration_id=registration.id,
            email=registration.email,
            status=registration.status,
            seq=webinar.sequence,
            changes=shown,
        )
        sent += 1
    return sent


def send_webinar_cancellation(webinar, reason: str = "") -> int:
    """Every live registrant gets a notice with the organisers' reason; confirmed ones also
    METHOD:CANCEL with STATUS:CANCELLED (the caller has raised webinar.sequence). People on the
    waiting list, or holding a seat whose address is not confirmed yet, never had an invite, so
    theirs is a plain notice."""
    sent = 0
    for registration in _live_registrations(webinar, ("confirmed", "pending", "waitlisted")):
        queue(
            "webinar_cancelled",
            registration_id=registration.id,
            email=registration.email,
            status=registration.status,
            seq=webinar.sequence,
            reason=(reason or "").strip(),
        )
        sent += 1
    return sent


def on_webinar_rescheduled(webinar, *, changes: dict, now: datetime) -> int:
    return send_webinar_update(webinar, changes)


def on_webinar_cancelled(webinar, *, reason: str, now: datetime) -> int:
    return send_webinar_cancellation(webinar, reason)


def queue_recording_followups(webinar, now: datetime) -> tuple[int, int]:
    """After the webinar, once its recording is online and the participant report is imported: "thank
    you + the recording" to each registrant who attended, "sorry we missed you + the recording" to each
    no-show. Queued as one group per webinar, so pressing again (or a second import) mails nobody twice.
    Returns (thanks, missed) newly queued."""
    rows = db.session.execute(
        select(Registration.id, Registration.email, Registration.attended).where(
            Registration.webinar_id == webinar.id,
            Registration.attended.is_not(None),
            Registration.erased_at.is_(None),
        )
    ).all()
    group = f"recording:{webinar.id}"
    thanks = enqueue_group(
        "recording_followup",
        group,
        [(email, {"r": rid, "attended": True}) for rid, email, came in rows if came],
        now=now,
    )
    missed = enqueue_group(
        "recording_followup",
        group,
        [(email, {"r": rid, "attended": False}) for rid, email, came in rows if not came],
        now=now,
    )
    return thanks, missed


# -- rendering, in the mail worker ---------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


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


def _invite(registration: Registration, method: str, sequence: int, *, join: bool) -> tuple[bytes, str] | None:
    """The registration's own calendar entry (its UID; the webinar's for registrations made before
    they had one) at `sequence`; None for a webinar whose stored times no calendar can hold."""
    webinar = registration.webinar
    if not webinar.presentable:
        return None
    organizer_email, organizer_name = _organizer()
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
        join_url=(webinar.join_url or None) if join else None,
        dtstamp=utcnow(),
        language=registration.language,
    )
    return ics, method


def _registration(row) -> Registration | None:
    """The registration a message is about, with what its emails show; None when it is gone or erased."""
    registration = db.session.scalar(
        select(Registration)
        .where(Registration.id == row.payload["r"])
        .options(selectinload(Registration.webinar).selectinload(Webinar.sections).selectinload(AgendaSection.speakers))
    )
    if registration is None or registration.erased_at is not None:
        return None
    return registration


def _message(row, registration: Registration, template: str, subject: str, *, calendar=None, **context) -> bytes:
    webinar = registration.webinar
    context = {
        "registration": registration,
        "webinar": webinar,
        "status": registration.status,
        "site_name": current_app.config.get("SITE_NAME", ""),
        "page_url": page_url(webinar),
        "manage_url": manage_url(registration),
        "join_url": "",
        **_times(webinar, _zone(registration)),
        **context,
    }
    message = build_email(
        # The address as it was queued (the envelope); the name as it is now.
        to=recipient_header(_one_line(registration.name)[:200], row.to_address),
        subject=_one_line(subject)[:250],
        text=render_template(f"emails/registrations/{template}.txt", **context),
        html=render_template(f"emails/registrations/{template}.html", **context),
        calendar=calendar,
    )
    return message_bytes(message)


def _rendered(build):
    """A renderer: load the registration, then build its message in the registrant's language (stored
    when they signed up), whatever the language of the page or command that caused it."""

    def render(row) -> bytes | None:
        registration = _registration(row)
        if registration is None:
            return None
        with in_language(registration.language):
            return build(row, registration, row.payload)

    render.__name__ = f"render_{build.__name__}"
    return render


def _deadline(registration: Registration, facts: dict) -> dict:
    confirm_by = _read_instant(facts.get("confirm_by"))
    if confirm_by is None:
        return {}
    return {
        "confirm_url": confirm_url(registration),
        "confirm_by": timezones.zone_time(confirm_by, _zone(registration)),
    }


def _title(registration: Registration) -> str:
    return registration.webinar.title_in(registration.language)


def _confirmed(row, registration: Registration, facts: dict) -> bytes:
    title = _title(registration)
    promoted, reason = facts.get("promoted", False), facts.get("reason", "freed")
    if promoted and reason == "organiser":
        subject = _("The organisers have given you a seat: %(title)s", title=title)
    elif promoted:
        subject = _("A seat is yours: %(title)s", title=title)
    else:
        subject = _("Registration confirmed: %(title)s", title=title)
    return _message(
        row,
        registration,
        "confirmed",
        subject,
        calendar=_invite(registration, "REQUEST", facts["seq"], join=True),
        # The private join link goes to confirmed registrants only: this message is for a confirmed seat.
        join_url=registration.webinar.join_url,
        resent=facts.get("resent", False),
        promoted=promoted,
        reason=reason,
    )


def _pending(row, registration: Registration, facts: dict) -> bytes:
    title = _title(registration)
    if facts.get("promoted"):
        subject = _("A seat is held for you, please confirm: %(title)s", title=title)
    else:
        subject = _("Please confirm your seat: %(title)s", title=title)
    return _message(
        row,
        registration,
        "pending",
        subject,
        resent=facts.get("resent", False),
        promoted=facts.get("promoted", False),
        **_deadline(registration, facts),
    )


def _waitlisted(row, registration: Registration, facts: dict) -> bytes | None:
    # The place as it is when the notice leaves; someone who moved up (or left) meanwhile gets that
    # news in its own message, and this one would only contradict it.
    position = waitlist_position(registration)
    if position is None:
        return None
    return _message(
        row,
        registration,
        "waitlisted",
        _("You are on the waiting list: %(title)s", title=_title(registration)),
        position=position,
        resent=facts.get("resent", False),
        **_deadline(registration, facts),
    )


def _cancelled(row, registration: Registration, facts: dict) -> bytes:
    was_confirmed = facts["was_confirmed"]
    return _message(
        row,
        registration,
        "cancelled",
        _("Registration cancelled: %(title)s", title=_title(registration)),
        calendar=_invite(registration, "CANCEL", facts["seq"], join=False) if was_confirmed else None,
        by=facts.get("by", "attendee"),
        was_confirmed=was_confirmed,
    )


def _reminder(which: str):
    def reminder(row, registration: Registration, facts: dict) -> bytes:
        title = _title(registration)
        if which == "24h":
            subject = _("Tomorrow: %(title)s", title=title)
        else:
            subject = _("Starting in one hour: %(title)s", title=title)
        confirmed = registration.status == "confirmed"
        return _message(
            row,
            registration,
            "reminder",
            subject,
            which=which,
            join_url=registration.webinar.join_url if confirmed else "",
        )

    reminder.__name__ = f"reminder_{which}"
    return reminder


def _format_change(field: str, value, zone: str) -> str:
    if isinstance(value, dict) and "utc" in value:
        instant = datetime.fromisoformat(value["utc"])
        if not within_bounds(instant):
            return timezones.utc_text(instant)  # the old value of a row being fixed: no zone's clock may show it
        entry = timezones.zone_time(instant, zone)
        return f"{entry.date}, {entry.time} {entry.label}"
    if value in (None, ""):
        return _("(none)")
    if field == "timezone" and timezones.is_known_zone(value):
        return timezones.zone_place(value)  # "Tokyo, Japan", never an IANA id
    if field == "location":
        return location_text(_one_line(value))
    return _one_line(value)


def _updated(row, registration: Registration, facts: dict) -> bytes:
    zone = _zone(registration)
    confirmed = facts["status"] == "confirmed"
    lines = [
        (
            str(CHANGE_LABELS.get(field, field.replace("_", " ").capitalize())),
            _format_change(field, old, zone),
            _format_change(field, new, zone),
        )
        for field, old, new in facts["changes"]
    ]
    return _message(
        row,
        registration,
        "updated",
        _("Updated: %(title)s", title=_title(registration)),
        calendar=_invite(registration, "REQUEST", facts["seq"], join=True) if confirmed else None,
        join_url=registration.webinar.join_url if confirmed else "",
        status=facts["status"],
        changes=lines,
    )


def _webinar_cancelled(row, registration: Registration, facts: dict) -> bytes:
    confirmed = facts["status"] == "confirmed"  # only they had an invite
    return _message(
        row,
        registration,
        "webinar_cancelled",
        _("Cancelled: %(title)s", title=_title(registration)),
        calendar=_invite(registration, "CANCEL", facts["seq"], join=False) if confirmed else None,
        status=facts["status"],
        was_confirmed=confirmed,
        reason=facts.get("reason", ""),
        catalogue_url=absolute_url("catalogue.index"),
    )


def _recording(row, registration: Registration, facts: dict) -> bytes | None:
    webinar = registration.webinar
    if not webinar.recording_url:
        return None  # taken down since: nothing to send
    title = _title(registration)
    attended = facts.get("attended", False)
    subject = (
        _("Thank you for joining us: the recording of %(title)s", title=title)
        if attended
        else _("Sorry we missed you: the recording of %(title)s", title=title)
    )
    return _message(row, registration, "recording", subject, attended=attended, recording_url=webinar.recording_url)


RENDERERS = {
    "recording_followup": _recording,
    "registration_confirmed": _confirmed,
    "registration_promoted": _confirmed,
    "registration_pending": _pending,
    "registration_waitlisted": _waitlisted,
    "registration_cancelled": _cancelled,
    "reminder_24h": _reminder("24h"),
    "reminder_1h": _reminder("1h"),
    "webinar_updated": _updated,
    "webinar_cancelled": _webinar_cancelled,
}


def register_renderers(app: Flask) -> None:
    for kind, build in RENDERERS.items():
        register_renderer(app, kind, _rendered(build))
