"""Newsletter subscribers, their consent history and campaigns."""

from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, Column, ForeignKey, Integer, String, Table, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..catalogue.models import Topic, Webinar
from ..database import UTCDateTime, utcnow
from ..extensions import db

SUBSCRIBER_STATUSES = ("pending", "subscribed", "unsubscribed")

subscriber_topics = Table(
    "subscriber_topics",
    db.metadata,
    Column("subscriber_id", ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True),
)

campaign_topics = Table(
    "campaign_topics",
    db.metadata,
    Column("campaign_id", ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True),
)


class Subscriber(db.Model):
    __tablename__ = "subscribers"
    __table_args__ = (CheckConstraint("status IN ('pending', 'subscribed', 'unsubscribed')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # normalised
    name: Mapped[str] = mapped_column(String(200), default="")
    # The language the subscriber signed up in ('en', 'fr'): confirmations and campaign footers use it.
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Carried in every mailed link; a link with a higher version than this was never issued. Links of
    # earlier memberships stay valid (an old newsletter's unsubscribe link must keep working).
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    # The zone the digest shows times in: the visitor's zone when they signed up, or that of their
    # latest registration. None: each webinar's own zones only.
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)

    topics: Mapped[list[Topic]] = relationship(secondary=subscriber_topics, order_by="Topic.name")
    consent_events: Mapped[list["ConsentEvent"]] = relationship(
        back_populates="subscriber", order_by="ConsentEvent.id", cascade="all, delete-orphan"
    )


class ConsentEvent(db.Model):
    """When and how someone subscribed, confirmed, changed preferences or left."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(40))  # requested, confirmed, preferences, unsubscribed
    source: Mapped[str] = mapped_column(String(60))  # newsletter_form, registration_form, one_click, ...
    consent_text: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")

    subscriber: Mapped[Subscriber] = relationship(back_populates="consent_events")


CAMPAIGN_STATUSES = ("draft", "scheduled", "expanding", "sending", "done", "failed")


class Campaign(db.Model):
    """A message to subscribers. A draft is written, tried (a test to its author) and, when an editor
    wrote it, approved by an owner; then sent at once or scheduled: at `scheduled_for` (UTC, entered
    in `scheduled_zone`) the mail worker starts it. Its recipients are queued in subscriber-id order
    with a checkpoint ('expanding'), then delivered ('sending', 'done'); 'failed': its messages could
    not be built (see `error`) and nothing more of it is sent."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'scheduled', 'expanding', 'sending', 'done', 'failed')", name="status"),
        # A scheduled campaign knows when, and in which zone that time was entered.
        CheckConstraint(
            "status <> 'scheduled' OR (scheduled_for IS NOT NULL AND scheduled_zone IS NOT NULL)", name="scheduled"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(300))
    body_markdown: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)  # sanitised
    body_text: Mapped[str] = mapped_column(Text)
    # Other languages' versions, {"fr": {"subject", "body_markdown", "body_html", "body_text"}}: a
    # subscriber gets the one of their language when there is one, the fields above otherwise.
    translations: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    webinar_id: Mapped[int | None] = mapped_column(ForeignKey("webinars.id", ondelete="SET NULL"), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="expanding")
    # listmonk-style checkpoint: recipients are added in id order, and expansion resumes after this id.
    expanded_through_id: Mapped[int] = mapped_column(Integer, default=0)
    recipients_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(254), default="cli")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)  # why it stopped, for the organisers
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    scheduled_zone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Written by an editor: an owner approves it before it can be sent or scheduled.
    needs_approval: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    approved_by: Mapped[str | None] = mapped_column(String(254), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When its expansion began (the mail worker's resumption counts from here, not from its creation).
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    topics: Mapped[list[Topic]] = relationship(secondary=campaign_topics, order_by="Topic.name")

    @property
    def approved(self) -> bool:
        return not self.needs_approval or self.approved_at is not None

    def version_in(self, language: str) -> dict[str, str]:
        """Subject and bodies ("subject", "body_markdown", "body_html", "body_text") for a reader of
        `language`: its translation when the campaign has one, the campaign's own text otherwise."""
        translated = (self.translations or {}).get(language)
        if translated:
            return translated
        return {
            "subject": self.subject,
            "body_markdown": self.body_markdown,
            "body_html": self.body_html,
            "body_text": self.body_text,
        }

    @property
    def languages(self) -> list[str]:
        """The languages it has a version of besides its own, e.g. ["fr"]."""
        return sorted(self.translations or {})

    webinar: Mapped[Webinar | None] = relationship()


class Digest(db.Model):
    """One period of the newsletter digest: what was new between `period_start` and `period_end`.

    The unique start is what makes the command safe from cron: two runs that want the same period
    (concurrently, or one after the other with the same --since) cannot both record it.
    """

    __tablename__ = "digests"
    __table_args__ = (
        CheckConstraint("status IN ('expanding', 'sending', 'done')", name="status"),
        CheckConstraint("period_end > period_start", name="period_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime, unique=True)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="expanding")
    # The same checkpointed expansion as campaigns: subscribers are added in id order.
    expanded_through_id: Mapped[int] = mapped_column(Integer, default=0)
    recipients_count: Mapped[int] = mapped_column(Integer, default=0)
    # Confirmed subscribers looked at; those minus the recipients had nothing new (or are suppressed).
    considered_count: Mapped[int] = mapped_column(Integer, default=0)
    items_count: Mapped[int] = mapped_column(Integer, default=0)
    webinars_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(254), default="cli")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
