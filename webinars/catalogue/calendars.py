"""Calendar downloads and the subscribable feed, with cheap revalidation."""

import gzip
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, url_for
from sqlalchemy import func, select

from .. import ical
from ..cache import app_cache
from ..extensions import db
from ..language import current_language
from ..urls import external_url
from .models import AgendaSection, Speaker, Topic, Webinar, section_speakers
from .queries import PUBLIC_STATUSES, load_agenda, shown

FEED_HISTORY = timedelta(days=365)
FEED_REFRESH_MINUTES = 60


def page_url(webinar: Webinar) -> str:
    return external_url("catalogue.webinar", slug=webinar.slug)


def feed_cutoff(now: datetime) -> datetime:
    """The oldest start the feed lists. Whole UTC days, so the feed (and its ETag) only moves daily."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - FEED_HISTORY


def _feed_filter(query, cutoff: datetime, topic: Topic | None):
    query = query.where(Webinar.status.in_(PUBLIC_STATUSES), Webinar.starts_at >= cutoff)
    if topic is not None:
        query = query.where(Webinar.topics.contains(topic))
    return query


def feed_version(now: datetime, topic: Topic | None) -> tuple[str, datetime | None]:
    """(ETag, Last-Modified) from one aggregate query, without building the feed.

    Every change to a webinar touches updated_at; the count and id sum catch rows that leave the
    feed (unpublished, deleted, or aged out at the daily cutoff).
    """
    cutoff = feed_cutoff(now)
    row = db.session.execute(
        _feed_filter(select(func.count(Webinar.id), func.max(Webinar.updated_at), func.sum(Webinar.id)), cutoff, topic)
    ).one()
    count, last_modified, id_sum = row
    if last_modified is not None and last_modified.tzinfo is None:
        # func.max() bypasses the column type on some backends: the value is naive UTC.
        import pytz

        last_modified = pytz.utc.localize(last_modified)
    # The language too: the same webinars give a French and an English feed, which must not share an ETag.
    fingerprint = f"{topic.slug if topic else ''}|{cutoff:%Y%m%d}|{count}|{last_modified}|{id_sum}|{current_language()}"
    return hashlib.sha256(fingerprint.encode()).hexdigest()[:32], last_modified


FEED_CACHE_SIZE = 32  # the whole feed and one per topic, with room for a change in flight


def cached_feed_bytes(etag: str, now: datetime, topic: Topic | None) -> bytes:
    """feed_bytes(), kept per process under its ETag (which changes with every change to the feed's
    webinars). A rebuild after a change builds only the events that changed: the others come from
    the per-process cache of events (event_bytes)."""
    # The calendar's name and page URLs are not in the ETag (renaming a topic does not touch its webinars).
    key = (etag, _feed_name(topic), current_app.config["BASE_URL"])
    return app_cache("feed", FEED_CACHE_SIZE).get_or_build(key, lambda: feed_bytes(now, topic))


def cached_feed_gzip(etag: str, now: datetime, topic: Topic | None) -> bytes:
    """The feed gzip-compressed, for the calendar clients that accept it (most do): a tenth of the bytes,
    compressed once per feed version and process."""
    key = (etag, _feed_name(topic), current_app.config["BASE_URL"])
    return app_cache("feed-gzip", FEED_CACHE_SIZE).get_or_build(
        key, lambda: gzip.compress(cached_feed_bytes(etag, now, topic), compresslevel=6, mtime=0)
    )


def _feed_name(topic: Topic | None) -> str:
    return current_app.config["SITE_NAME"] + (f" · {topic.name}" if topic else "")


def calendar_links(webinar: Webinar) -> dict[str, str]:
    """'Add to calendar' for the webinar page and the thanks page: the .ics file, Google Calendar,
    Outlook.com and Microsoft 365, each with the title in the reader's language."""
    url = page_url(webinar)
    return {
        "ics": url_for("catalogue.download", slug=webinar.slug, lang=_language_parameter()),
        "google": ical.google_calendar_url(webinar, page_url=url),
        "outlook": ical.outlook_calendar_url(webinar, page_url=url),
        "office365": ical.office365_calendar_url(webinar, page_url=url),
    }


def _language_parameter() -> str | None:
    # English is the default: its links stay as they were.
    language = current_language()
    return None if language == "en" else language


# One event per webinar version, shared by the feed and its topic feeds: the size of the largest feed,
# with room for the versions a change leaves behind.
EVENT_CACHE_SIZE = 4096
_AGENDA_BATCH = 500  # webinars whose agenda is loaded in one query (well under any driver's limit)


def _event_key(webinar: Webinar) -> tuple:
    # Every change to a webinar moves updated_at; the page URL and the language are in the text too.
    return (webinar.id, webinar.updated_at, webinar.sequence, webinar.status, webinar.slug, current_language())


@dataclass(frozen=True)
class _Speaker:
    name: str
    credentials: str


@dataclass(frozen=True)
class _Section:
    title: str
    description: str
    speakers: list


def _agendas(webinar_ids: list[int]) -> dict[int, list[_Section]]:
    """The agendas (in the events' descriptions) of the webinars whose event must be built: plain rows,
    two queries per batch, in the order the webinar's page shows them."""
    agendas: dict[int, list[_Section]] = {}
    for start in range(0, len(webinar_ids), _AGENDA_BATCH):
        ids = webinar_ids[start : start + _AGENDA_BATCH]
        sections = db.session.execute(
            select(AgendaSection.id, AgendaSection.webinar_id, AgendaSection.title, AgendaSection.description)
            .where(AgendaSection.webinar_id.in_(ids))
            .order_by(AgendaSection.webinar_id, AgendaSection.position, AgendaSection.id)
        ).all()
        speakers: dict[int, list[_Speaker]] = {}
        if sections:
            rows = db.session.execute(
                select(section_speakers.c.section_id, Speaker.name, Speaker.role, Speaker.organisation, Speaker.country)
                .join(Speaker, Speaker.id == section_speakers.c.speaker_id)
                .where(section_speakers.c.section_id.in_([row.id for row in sections]))
                .order_by(section_speakers.c.section_id, section_speakers.c.position)
            )
            for section_id, name, *credentials in rows:
                speakers.setdefault(section_id, []).append(_Speaker(name, ", ".join(c for c in credentials if c)))
        for row in sections:
            section = _Section(row.title, row.description or "", speakers.get(row.id, []))
            agendas.setdefault(row.webinar_id, []).append(section)
    return agendas


def feed_bytes(now: datetime, topic: Topic | None) -> bytes:
    """The feed: the webinars' rows in one query, their events from the cache where their version is
    there, and the rest built after one agenda query per batch."""
    cutoff = feed_cutoff(now)
    webinars = shown(db.session.scalars(_feed_filter(select(Webinar), cutoff, topic)), "the calendar feed")
    cache = app_cache("feed-events", EVENT_CACHE_SIZE)
    agendas = _agendas([webinar.id for webinar in webinars if _event_key(webinar) not in cache])
    words = ical.DescriptionWords.of(current_language())

    def event(webinar: Webinar, zone) -> bytes:
        def build() -> bytes:
            sections = agendas.get(webinar.id, [])
            return ical.published_event(webinar, zone(), page_url=page_url(webinar), words=words, sections=sections)

        return cache.get_or_build(_event_key(webinar), build)

    return ical.feed_calendar(
        webinars,
        name=_feed_name(topic),
        page_url_for=page_url,
        refresh_minutes=FEED_REFRESH_MINUTES,
        event_bytes=event,
    )


def download_version(webinar: Webinar) -> str:
    fingerprint = (
        f"{webinar.ical_uid}|{webinar.sequence}|{webinar.updated_at.isoformat()}|{webinar.status}|{current_language()}"
    )
    return hashlib.sha256(fingerprint.encode()).hexdigest()[:32]


DOWNLOAD_CACHE_SIZE = 256


def download_bytes(webinar: Webinar) -> bytes:
    return ical.webinar_calendar(webinar, page_url=page_url(webinar))


def cached_download_bytes(webinar: Webinar, etag: str) -> bytes:
    """download_bytes(), built once per webinar version (its ETag) and process; the agenda (in the
    description) is loaded only then."""

    def build() -> bytes:
        return download_bytes(load_agenda(webinar))

    return app_cache("download", DOWNLOAD_CACHE_SIZE).get_or_build((etag, current_app.config["BASE_URL"]), build)
