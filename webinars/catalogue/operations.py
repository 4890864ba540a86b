"""Changing webinars: create, edit, publish, reschedule and cancel.

This is the only place that raises a webinar's iCalendar SEQUENCE. It only ever goes up, and only
when something a calendar entry shows changes: the time, the duration, the title, the join details
(join URL, location) or the status. Every change sets `updated_at` (LAST-MODIFIED, feed ETags) and
leaves an event in the audit trail (webinars/audit.py) saying who changed what. Nothing here
commits: the view does, once.

Registrants are emailed only for what they need to act on: a new time, place or join link (and
only if the organiser left "notify registrants" ticked), or a cancellation; a corrected typo in the
title raises SEQUENCE for calendars but sends nobody anything. A draft is never public: it is
published or discarded, never cancelled. The catalogue knows nothing of registrations: it announces
changes, cancellations and new seats through webinars/signals.py, and asks the same way how many
seats a capacity must leave room for.
"""

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from .. import audit as audit_trail
from .. import signals
from ..audit import Actor
from ..database import lock_for_update, utcnow
from ..extensions import db
from ..labels import label
from ..timezones import abbreviation, is_known_zone, to_zone, utc_text, zone_place
from .models import (
    FIRST_PAGE_YEAR,
    FIRST_YEAR,
    LAST_PAGE_YEAR,
    LAST_YEAR,
    MAX_CAPACITY,
    AgendaSection,
    Partner,
    Speaker,
    Topic,
    Webinar,
    new_ical_uid,
    page_date_in_range,
    webinar_topics,
    within_bounds,
)

# Changes that registrants' calendars must see: they raise SEQUENCE.
SIGNIFICANT_FIELDS = ("starts_at", "ends_at", "title", "join_url", "location")
# Of those, the ones a registrant must hear about (when to be there, where, how to join): an email
# with the updated invite, unless the organiser unticks "notify registrants".
NOTIFY_FIELDS = ("starts_at", "ends_at", "join_url", "location")
OTHER_FIELDS = (
    "slug",
    "summary",
    "description",
    "timezone",
    "display_zones_text",
    "title_fr",
    "summary_fr",
    "capacity",
    "registration_deadline",
    "confirm_registrations",
    "recording_url",
)
# The audit trail is written in the acting organiser's language: it records what their screen said.
FIELD_LABELS = {
    "starts_at": _l("Start"),
    "ends_at": _l("End"),
    "title": _l("Title"),
    "title_fr": _l("French title"),
    "join_url": _l("Join URL"),
    "location": _l("Location"),
    "slug": _l("Slug"),
    "summary": _l("Summary"),
    "summary_fr": _l("French summary"),
    "description": _l("Description"),
    "timezone": _l("Time zone"),
    "display_zones_text": _l("Display zones"),
    "capacity": _l("Capacity"),
    "registration_deadline": _l("Registration deadline"),
    "confirm_registrations": _l("Attendees confirm their address"),
    "recording_url": _l("Recording URL"),
    "topics": _l("Topics"),
    "agenda": _l("Agenda"),
    "partners": _l("Partners"),
}
# Long texts are summarised in the audit trail rather than copied into it.
LONG_FIELDS = ("summary", "summary_fr", "description", "agenda", "partners")


class WebinarStateError(ValueError):
    """The webinar's status does not allow this step (e.g. publishing a cancelled webinar)."""


class CapacityBelowConfirmed(ValueError):
    """The new capacity is lower than the number of people who already hold a seat."""

    def __init__(self, confirmed: int):
        super().__init__(confirmed)
        self.confirmed = confirmed


class OutOfRange(ValueError):
    """A value outside what can be stored (forms say so beside the field; this guards every other caller)."""


def check_range(fields: "WebinarFields") -> None:
    """The bounds the forms enforce, checked again for whoever calls create/update (commands, scripts)."""
    if not all(within_bounds(i) for i in (fields.starts_at, fields.ends_at, fields.registration_deadline)):
        raise OutOfRange(f"dates must fall between {FIRST_YEAR} and {LAST_YEAR}")
    if fields.capacity is not None and not 0 <= fields.capacity <= MAX_CAPACITY:
        raise OutOfRange(f"capacity must be between 0 and {MAX_CAPACITY}")
    if not fields.starts_at < fields.ends_at <= fields.starts_at + timedelta(days=1):
        raise OutOfRange("a webinar lasts between a minute and a day")


@dataclass
class SpeakerItem:
    name: str
    role: str = ""
    organisation: str = ""
    country: str = ""


@dataclass
class SectionItem:
    title: str
    description: str = ""
    speakers: list[SpeakerItem] = field(default_factory=list)


@dataclass
class PartnerItem:
    name: str
    url: str = ""
    description: str = ""


@dataclass
class WebinarFields:
    """Everything an organiser edits, already validated (instants aware UTC, zones known, URLs http(s))."""

    title: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    slug: str = ""
    summary: str = ""
    title_fr: str = ""
    summary_fr: str = ""
    description: str = ""
    display_zones: list[str] = field(default_factory=list)
    location: str = "Online"
    capacity: int | None = None
    registration_deadline: datetime | None = None
    confirm_registrations: bool = False
    join_url: str = ""
    recording_url: str = ""
    topics: list[Topic] = field(default_factory=list)
    sections: list[SectionItem] = field(default_factory=list)
    partners: list[PartnerItem] = field(default_factory=list)


def slugify(text: str, max_length: int = 80) -> str:
    """'Worker co-operatives: Japan' -> 'worker-co-operatives-japan' (ASCII, for stable URLs)."""
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_length].rstrip("-") or "webinar"


def slug_taken(slug: str, exclude_id: int | None = None) -> bool:
    query = select(Webinar.id).where(Webinar.slug == slug)
    if exclude_id is not None:
        query = query.where(Webinar.id != exclude_id)
    return db.session.scalar(query) is not None


def unique_slug(base: str, exclude_id: int | None = None) -> str:
    slug, number = base, 2
    while slug_taken(slug, exclude_id):
        slug = f"{base[:110]}-{number}"
        number += 1
    return slug


def topic_named(name: str) -> Topic:
    """The topic with this name's slug, created if it does not exist yet."""
    slug = slugify(name)
    topic = db.session.scalar(select(Topic).where(Topic.slug == slug))
    if topic is None:
        topic = Topic(slug=slug, name=name.strip()[:120])
        db.session.add(topic)
    return topic


def audit(
    webinar: Webinar | None,
    action: str,
    by: Actor | None,
    now: datetime,
    details: str = "",
    *,
    registration_id: int | None = None,
) -> None:
    """Record who did what to a webinar in the audit trail."""
    webinar_id = webinar.id if webinar is not None else None
    audit_trail.record(action, by, now, details, webinar_id=webinar_id, registration_id=registration_id)


def create_webinar(fields: WebinarFields, *, by: Actor | None, now: datetime, note: str | None = None) -> Webinar:
    """A new draft webinar with a permanent calendar UID (`note`: what its history says instead of
    "Created as a draft")."""
    domain = urlsplit(current_app.config["BASE_URL"]).hostname or "localhost"
    webinar = Webinar(
        ical_uid=new_ical_uid(domain),
        slug=unique_slug(fields.slug or slugify(fields.title)),
        status="draft",
        sequence=0,
        created_at=now,
        updated_at=now,
    )
    _apply(webinar, fields, set_slug=False)
    db.session.add(webinar)
    db.session.flush()  # the id, for the audit row
    audit(webinar, "created", by, now, note or _("Created as a draft: %(title)s", title=webinar.title))
    return webinar


def duplicate_webinar(source: Webinar, *, by: Actor | None, now: datetime) -> Webinar:
    """A new draft with the source's text, time, zones, settings, agenda, speakers, partners and topics,
    a new slug and calendar UID, and nothing else: no registrations, and neither its join link (the
    next session has its own meeting) nor its recording. Raises OutOfRange when the source's stored
    time cannot be used (fix the source first)."""
    fields = WebinarFields(
        title=source.title,
        starts_at=source.starts_at,
        ends_at=source.ends_at,
        timezone=source.timezone,
        summary=source.summary,
        title_fr=source.title_fr,
        summary_fr=source.summary_fr,
        description=source.description,
        display_zones=source.display_zones,
        location=source.location,
        capacity=source.capacity,
        registration_deadline=source.registration_deadline,
        confirm_registrations=source.confirm_registrations,
        topics=list(source.topics),
        sections=_sections_of(source),
        partners=_partners_of(source),
    )
    note = _(
        "Created as a draft, a copy of “%(title)s” (/webinars/%(slug)s, id %(id)s)",
        title=source.title,
        slug=source.slug,
        id=source.id,
    )
    return create_webinar(fields, by=by, now=now, note=note)


def update_webinar(
    webinar: Webinar, fields: WebinarFields, *, by: Actor | None, now: datetime, notify: bool = True
) -> dict:
    """Apply an edit; returns {field: (old, new)} for what changed ({} when nothing did).

    A change of time or duration is a reschedule. A new time, place or join link of a published
    webinar sends every registrant an updated invite (same UID, higher SEQUENCE) saying what changed,
    unless `notify` is False. A new capacity gives freed seats to the waiting list, in order; one
    below the number of confirmed registrants raises CapacityBelowConfirmed.
    """
    published = webinar.status == "published"
    if published and fields.capacity != webinar.capacity:
        # Seats are counted under the same row lock as registrations take, so none slips in between.
        lock_for_update("webinars", webinar.id)
    before = _snapshot(webinar)
    # The slug is part of public links and calendar URLs: it is fixed once the webinar is published.
    _apply(webinar, fields, set_slug=webinar.status == "draft")
    after = _snapshot(webinar)
    changes = {name: (before[name], after[name]) for name in before if before[name] != after[name]}
    if not changes:
        return {}
    if published and "capacity" in changes:
        _check_capacity(webinar, now)
    significant = {name: changes[name] for name in SIGNIFICANT_FIELDS if name in changes}
    if significant:
        webinar.sequence += 1
    webinar.updated_at = now
    action = "rescheduled" if {"starts_at", "ends_at"} & changes.keys() else "updated"
    details = describe_changes(webinar, changes)
    needs_notice = published and any(name in changes for name in NOTIFY_FIELDS)
    if needs_notice and notify:
        sent = sum(signals.values_from(signals.webinar_rescheduled, webinar, changes=significant, now=now))
        details += "\n" + _("Registrants notified: %(num)s", num=sent)
    elif needs_notice:
        details += "\n" + _("Registrants not notified (the organiser unticked “notify registrants”)")
    audit(webinar, action, by, now, details)
    if published and "capacity" in changes:
        for moved in signals.values_from(signals.seats_added, webinar, now=now):
            for registration_id in moved:
                audit(
                    webinar,
                    "seat given",
                    by,
                    now,
                    _("Moved up from the waiting list: more seats"),
                    registration_id=registration_id,
                )
    return changes


def publish_webinar(webinar: Webinar, *, by: Actor | None, now: datetime) -> None:
    if webinar.status != "draft":
        raise WebinarStateError(
            _("Only a draft can be published; this webinar is %(status)s.", status=label("webinar", webinar.status))
        )
    webinar.status = "published"
    webinar.sequence += 1
    webinar.updated_at = now
    webinar.published_at = webinar.published_at or now
    audit(
        webinar,
        "published",
        by,
        now,
        _("Status: %(old)s → %(new)s", old=label("webinar", "draft"), new=label("webinar", "published")),
    )


def cancel_webinar(webinar: Webinar, *, by: Actor | None, now: datetime, reason: str = "") -> None:
    """Cancel for good: calendars drop the entry (METHOD:CANCEL) and the pages say so."""
    if webinar.status == "cancelled":
        raise WebinarStateError(_("This webinar is already cancelled."))
    if webinar.status == "draft":
        # A cancelled webinar is public (listed, with a page and a feed entry); a draft never was.
        raise WebinarStateError(_("A draft has never been public, so it cannot be cancelled: discard it instead."))
    was = webinar.status
    webinar.status = "cancelled"
    webinar.sequence += 1
    webinar.updated_at = now
    details = _("Status: %(old)s → %(new)s", old=label("webinar", was), new=label("webinar", "cancelled"))
    if reason:
        details += "\n" + _("Reason: %(reason)s", reason=reason)
    audit(webinar, "cancelled", by, now, details)
    if was == "published":
        signals.webinar_cancelled.send(webinar, reason=reason, now=now)


def discard_draft(webinar: Webinar, *, by: Actor | None, now: datetime) -> None:
    """Delete a draft for good. Its history stays in the audit trail, detached from the row."""
    if webinar.status != "draft":
        raise WebinarStateError(
            _("Only a draft can be discarded; this webinar is %(status)s: cancel it instead.", status=webinar.status)
        )
    audit_trail.detach_webinar(webinar.id)
    audit(
        None,
        "discarded",
        by,
        now,
        _(
            "Discarded the draft “%(title)s” (/webinars/%(slug)s, id %(id)s)",
            title=webinar.title,
            slug=webinar.slug,
            id=webinar.id,
        ),
    )
    db.session.delete(webinar)


def _check_capacity(webinar: Webinar, now: datetime) -> None:
    if webinar.capacity is not None:
        taken = sum(signals.values_from(signals.seats_taken, webinar, now=now))
        if webinar.capacity < taken:
            raise CapacityBelowConfirmed(taken)


def _apply(webinar: Webinar, fields: WebinarFields, *, set_slug: bool) -> None:
    check_range(fields)
    if set_slug and fields.slug and fields.slug != webinar.slug:
        webinar.slug = unique_slug(fields.slug, exclude_id=webinar.id)
    webinar.title = fields.title
    webinar.summary = fields.summary
    webinar.title_fr = fields.title_fr or ""
    webinar.summary_fr = fields.summary_fr or ""
    webinar.description = fields.description
    webinar.starts_at = fields.starts_at
    webinar.ends_at = fields.ends_at
    webinar.timezone = fields.timezone
    webinar.display_zones = [zone for zone in fields.display_zones if zone != fields.timezone]
    webinar.location = fields.location or "Online"
    webinar.capacity = fields.capacity
    webinar.registration_deadline = fields.registration_deadline
    webinar.confirm_registrations = fields.confirm_registrations
    webinar.join_url = fields.join_url
    webinar.recording_url = fields.recording_url
    webinar.topics = list(dict.fromkeys(fields.topics))
    # Lookups below must not flush a half-edited webinar.
    with db.session.no_autoflush:
        if _sections_of(webinar) != fields.sections:
            webinar.sections = [
                AgendaSection(
                    position=position,
                    title=item.title,
                    description=item.description,
                    speakers=[_speaker(s) for s in item.speakers],
                )
                for position, item in enumerate(fields.sections)
            ]
        if _partners_of(webinar) != fields.partners:
            webinar.partners = [
                Partner(position=position, name=item.name, url=item.url, description=item.description)
                for position, item in enumerate(fields.partners)
            ]


def _speaker(item: SpeakerItem) -> Speaker:
    """The existing speaker with exactly these details, or a new one.

    Speakers are shared between webinars, so an edit never rewrites a speaker another webinar shows.
    """
    existing = db.session.scalar(
        select(Speaker)
        .where(
            Speaker.name == item.name,
            Speaker.role == item.role,
            Speaker.organisation == item.organisation,
            Speaker.country == item.country,
        )
        .order_by(Speaker.id)
        .limit(1)
    )
    if existing is not None:
        return existing
    speaker = Speaker(name=item.name, role=item.role, organisation=item.organisation, country=item.country)
    db.session.add(speaker)
    return speaker


def _sections_of(webinar: Webinar) -> list[SectionItem]:
    return [
        SectionItem(
            section.title,
            section.description or "",
            [SpeakerItem(s.name, s.role or "", s.organisation or "", s.country or "") for s in section.speakers],
        )
        for section in webinar.sections
    ]


def _partners_of(webinar: Webinar) -> list[PartnerItem]:
    return [PartnerItem(p.name, p.url or "", p.description or "") for p in webinar.partners]


def items_of(webinar: Webinar) -> dict:
    """The webinar's agenda and partners as plain items (for forms)."""
    return {"sections": _sections_of(webinar), "partners": _partners_of(webinar)}


def _snapshot(webinar: Webinar) -> dict:
    values = {name: getattr(webinar, name, None) for name in (*SIGNIFICANT_FIELDS, *OTHER_FIELDS)}
    # What the zones mean, not how they were stored: "Europe/Paris Asia/Tokyo" for a Paris webinar
    # is the same choice as "Asia/Tokyo" (rows stored before the setter normalised them).
    values["display_zones_text"] = " ".join(webinar.display_zones[1:])
    values["topics"] = tuple(sorted(topic.slug for topic in webinar.topics))
    values["agenda"] = repr(_sections_of(webinar))
    values["partners"] = repr(_partners_of(webinar))
    return values


def _show(webinar: Webinar, name: str, value) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, datetime):
        if not within_bounds(value) or not is_known_zone(webinar.timezone):
            return utc_text(value)  # the old value of a row being fixed: no zone's clock may show it
        local = to_zone(value, webinar.timezone)
        return f"{local:%Y-%m-%d %H:%M} ({zone_place(webinar.timezone)}, {abbreviation(local)})"
    if value in (None, "", ()):
        return _("(none)")
    if name == "timezone":
        return zone_place(value) if is_known_zone(value) else value  # what was stored, if it names no zone
    if name == "display_zones_text":
        return ", ".join(zone_place(zone) if is_known_zone(zone) else zone for zone in value.split())
    if isinstance(value, tuple):
        return ", ".join(value)
    return str(value)


def describe_changes(webinar: Webinar, changes: dict) -> str:
    """One line per changed field, old → new, times in the webinar's zone."""
    lines = []
    for name, (old, new) in changes.items():
        field_label = str(FIELD_LABELS.get(name, name))
        if name in LONG_FIELDS:
            lines.append(_("%(field)s changed", field=field_label))
        else:
            old, new = _show(webinar, name, old), _show(webinar, name, new)
            lines.append(_("%(field)s: %(old)s → %(new)s", field=field_label, old=old, new=new))
    return "\n".join(lines)


def update_topic(topic: Topic, *, name: str, description: str, page_date) -> bool:
    """Rename a topic or change what its page says; True when something changed. Its slug (part of
    topic page, calendar and feed addresses) never changes. A date outside the years a page may carry
    raises ValueError."""
    if not page_date_in_range(page_date):
        raise ValueError(_("Choose a date from %(first)s to %(last)s.", first=FIRST_PAGE_YEAR, last=LAST_PAGE_YEAR))
    changed = (topic.name, topic.description, topic.page_date) != (name, description, page_date)
    if name != topic.name:
        # Its webinars' pages and cards show the name: they are new versions (and re-rendered) now.
        tagged = select(webinar_topics.c.webinar_id).where(webinar_topics.c.topic_id == topic.id)
        db.session.execute(
            update(Webinar)
            .where(Webinar.id.in_(tagged))
            .values(updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    topic.name, topic.description, topic.page_date = name, description, page_date
    return changed
