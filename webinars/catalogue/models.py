"""Webinars and what a webinar page shows: topics, agenda, speakers, partners.

Related content (news, publications...) lives in the content part, which points at webinars.
"""

import secrets
from datetime import date, datetime, timedelta

import pytz
from sqlalchemy import Boolean, CheckConstraint, Column, Date, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..database import UTCDateTime, utcnow
from ..extensions import db
from ..timezones import is_known_zone

WEBINAR_STATUSES = ("draft", "published", "cancelled")

# What an organiser can store: dates from 2000 to 2100 (every zone's wall clock, calendar files and
# pages stay far from the limits of datetime and of the zone tables) and up to a million seats.
FIRST_YEAR, LAST_YEAR = 2000, 2100
MAX_CAPACITY = 1_000_000
# The UTC instants those local dates can reach in any zone (UTC+14 to UTC-12), with a day-long webinar.
EARLIEST_INSTANT = datetime(FIRST_YEAR - 1, 12, 30, tzinfo=pytz.utc)
LATEST_INSTANT = datetime(LAST_YEAR + 1, 1, 3, tzinfo=pytz.utc)


def within_bounds(instant: datetime | None) -> bool:
    """Whether a stored instant is one the forms could have produced (None counts: no deadline)."""
    return instant is None or EARLIEST_INSTANT <= instant <= LATEST_INSTANT


# The dates pages carry (a content item's, a topic page's) reach further back than webinars (a
# publication of the last century) but no further ahead; 0001-01-01 stays free for "no date" (the
# listings' sort key). Checked by the forms, the operations and the database.
FIRST_PAGE_YEAR, LAST_PAGE_YEAR = 1900, 2100
EARLIEST_PAGE_DATE, LATEST_PAGE_DATE = date(FIRST_PAGE_YEAR, 1, 1), date(LAST_PAGE_YEAR, 12, 31)


def page_date_check(column: str) -> str:
    """The CHECK for a page's date column: empty, or within FIRST_PAGE_YEAR to LAST_PAGE_YEAR."""
    return f"{column} IS NULL OR ({column} >= '{EARLIEST_PAGE_DATE}' AND {column} <= '{LATEST_PAGE_DATE}')"


def page_date_in_range(day: date | None) -> bool:
    return day is None or EARLIEST_PAGE_DATE <= day <= LATEST_PAGE_DATE


webinar_topics = Table(
    "webinar_topics",
    db.metadata,
    Column("webinar_id", ForeignKey("webinars.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True),
)

section_speakers = Table(
    "agenda_section_speakers",
    db.metadata,
    Column("section_id", ForeignKey("agenda_sections.id", ondelete="CASCADE"), primary_key=True),
    Column("speaker_id", ForeignKey("speakers.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, nullable=False, default=0),
)


class Topic(db.Model):
    __tablename__ = "topics"
    __table_args__ = (CheckConstraint(page_date_check("page_date"), name="page_date_in_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    # What the topic's page says about it, and the date that page carries (the seeds' thematic pages).
    description: Mapped[str] = mapped_column(Text, default="")
    page_date: Mapped[date | None] = mapped_column(Date, nullable=True)

    def __repr__(self) -> str:
        return f"<Topic {self.slug}>"


def new_ical_uid(domain: str) -> str:
    """A random, permanent iCalendar UID at the service's domain (RFC 5545 3.8.4.7)."""
    return f"{secrets.token_hex(16)}@{domain}"


class Webinar(db.Model):
    __tablename__ = "webinars"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'published', 'cancelled')", name="status"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity_not_negative"),
        # SQLite gets the same rule as two triggers (migration 0005): a CHECK could only be added there by
        # rebuilding the table.
        CheckConstraint(f"capacity IS NULL OR capacity <= {MAX_CAPACITY}", name="capacity_at_most_a_million").ddl_if(
            dialect="postgresql"
        ),
        CheckConstraint("sequence >= 0", name="sequence_not_negative"),
        # The archive: status=, ORDER BY starts_at, filtered on ends_at, all read from this one index, and its
        # page count without touching the table. A (status, ends_at) index instead made SQLite sort ~9,000 rows
        # for every archive page, with or without ANALYZE (bench data).
        Index("ix_webinars_status_starts_at", "status", "starts_at", "ends_at"),
        # The catalogue's version (count, last change and id sum of the public webinars) from the index
        # alone: it is re-read every CATALOGUE_VERSION_SECONDS by every process (4.7 ms -> a fraction).
        Index("ix_webinars_status_updated_at", "status", "updated_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    # Stored once, never derived from the row id, so calendars keep one entry per webinar.
    ical_uid: Mapped[str] = mapped_column(String(255), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    # Optional French title and summary, shown to French readers when filled in (content otherwise
    # stays as the organisers wrote it).
    title_fr: Mapped[str] = mapped_column(String(300), default="", server_default="")
    summary_fr: Mapped[str] = mapped_column(Text, default="", server_default="")
    description: Mapped[str] = mapped_column(Text, default="")  # Markdown
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # The IANA zone the organiser entered the start time in, e.g. "Europe/Paris".
    timezone: Mapped[str] = mapped_column(String(64))
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Zones shown side by side ("10:00 Paris time | 18:00 Tokyo time"), space separated.
    display_zones_text: Mapped[str] = mapped_column("display_zones", String(500), default="")
    location: Mapped[str] = mapped_column(String(300), default="Online")
    capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: unlimited
    registration_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # High-demand events: a seat is held for 48 hours until the attendee confirms their address by a
    # link in the first email, so that made-up addresses cannot fill the webinar.
    confirm_registrations: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    join_url: Mapped[str] = mapped_column(String(1000), default="")  # registrants only
    recording_url: Mapped[str] = mapped_column(String(1000), default="")
    # iCalendar SEQUENCE: raised on every significant change, never lowered.
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When it first went public: the newsletter digest calls a webinar new from this moment.
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    topics: Mapped[list[Topic]] = relationship(secondary=webinar_topics, order_by="Topic.name")
    sections: Mapped[list["AgendaSection"]] = relationship(
        back_populates="webinar", order_by="AgendaSection.position", cascade="all, delete-orphan"
    )
    partners: Mapped[list["Partner"]] = relationship(
        back_populates="webinar", order_by="Partner.position", cascade="all, delete-orphan"
    )

    @property
    def duration_minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)

    @property
    def duration(self) -> timedelta:
        return self.ends_at - self.starts_at

    @property
    def display_zones(self) -> list[str]:
        """The event's own zone first, then the other display zones, without repeats."""
        zones = [self.timezone]
        for zone in self.display_zones_text.split():
            if zone not in zones:
                zones.append(zone)
        return zones

    @display_zones.setter
    def display_zones(self, zones: list[str]) -> None:
        # Stored without the event's own zone (always shown first anyway) and without repeats, so that
        # the same choice is always stored the same way: the seed data listed Paris among Paris's zones.
        self.display_zones_text = " ".join(dict.fromkeys(z for z in zones if z and z != self.timezone))

    @property
    def speakers(self) -> list["Speaker"]:
        """Everyone on the agenda, once each, in the order they first speak."""
        seen: dict[int, Speaker] = {}
        for section in self.sections:
            for speaker in section.speakers:
                seen.setdefault(speaker.id, speaker)
        return list(seen.values())

    @property
    def registration_closes_at(self) -> datetime:
        if self.registration_deadline and self.registration_deadline < self.starts_at:
            return self.registration_deadline
        return self.starts_at

    @property
    def presentable(self) -> bool:
        """Whether pages, feeds and calendar files can show it: a zone we know, and instants in the
        range the forms allow. A row that is not (stored before the bounds existed, or by hand) must
        never break a page: public lists leave it out, its own pages answer 404, and the admin shows
        it flagged so that an organiser can fix or cancel it."""
        instants = (self.starts_at, self.ends_at, self.registration_deadline)
        return is_known_zone(self.timezone) and all(within_bounds(instant) for instant in instants)

    def is_past(self, now: datetime) -> bool:
        return self.ends_at <= now

    def is_live(self, now: datetime) -> bool:
        """In progress: started and not yet over (and not cancelled)."""
        return self.status == "published" and self.starts_at <= now < self.ends_at

    def title_in(self, language: str) -> str:
        """The title for a reader of `language` ('fr', 'en'): the French one when there is one."""
        return self.title_fr if language == "fr" and self.title_fr else self.title

    def summary_in(self, language: str) -> str:
        return self.summary_fr if language == "fr" and self.summary_fr else self.summary

    def registration_open(self, now: datetime) -> bool:
        return self.status == "published" and now < self.registration_closes_at

    def touch(self) -> None:
        self.updated_at = utcnow()

    def __repr__(self) -> str:
        return f"<Webinar {self.slug}>"


class Speaker(db.Model):
    __tablename__ = "speakers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(300), default="")
    organisation: Mapped[str] = mapped_column(String(300), default="")
    country: Mapped[str] = mapped_column(String(100), default="")

    @property
    def credentials(self) -> str:
        """'Policy Analyst, OECD, France' as the seed agendas write it."""
        return ", ".join(part for part in (self.role, self.organisation, self.country) if part)


class AgendaSection(db.Model):
    __tablename__ = "agenda_sections"

    id: Mapped[int] = mapped_column(primary_key=True)
    webinar_id: Mapped[int] = mapped_column(ForeignKey("webinars.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")

    webinar: Mapped[Webinar] = relationship(back_populates="sections")
    speakers: Mapped[list[Speaker]] = relationship(secondary=section_speakers, order_by=section_speakers.c.position)


class Partner(db.Model):
    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    webinar_id: Mapped[int] = mapped_column(ForeignKey("webinars.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(String(1000), default="")

    webinar: Mapped[Webinar] = relationship(back_populates="partners")
