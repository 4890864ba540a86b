"""The transactional outbox: every outgoing message is a row written with the change that causes it,
and the addresses that must not be mailed any more (hard bounces).

A row holds either the message itself (`raw`), or what to send: its kind and a `payload` of ids and
the few facts frozen when it was queued (an invite's SEQUENCE, the registrant's language, what
changed), which the mail worker turns into a message with the renderer registered for that kind
(outbox/registry.py). Campaign rows name their campaign and subscriber instead.
"""

from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime, utcnow
from ..extensions import db

OUTBOX_STATUSES = ("queued", "sending", "sent", "failed", "suppressed")


class OutboxMessage(db.Model):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'sending', 'sent', 'failed', 'suppressed')", name="status"),
        # A built message, or what to build at send time: an intent (payload), or a campaign or digest recipient.
        CheckConstraint(
            "raw IS NOT NULL OR payload IS NOT NULL OR campaign_id IS NOT NULL OR digest_id IS NOT NULL",
            name="has_content",
        ),
        # A campaign or a digest mails each subscriber at most once, however often its expansion is resumed.
        UniqueConstraint("campaign_id", "subscriber_id", name="uq_outbox_campaign_recipient"),
        UniqueConstraint("digest_id", "subscriber_id", name="uq_outbox_digest_recipient"),
        # A group of intents (one organiser's message to a webinar's registrants, its recording follow-ups)
        # reaches each address at most once, however often it is queued again; its rows are found by it.
        Index("uq_outbox_group_recipient", "group_key", "to_address", unique=True),
        Index("ix_outbox_due", "status", "next_attempt_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # confirmation, cancellation, campaign, ...
    to_address: Mapped[str] = mapped_column(String(254))
    raw: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # What to send, for the kind's renderer: ids and facts frozen at queueing time, never personal data
    # (the address is to_address, erased with the row; names are read from their rows at send time).
    payload: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # The group an intent belongs to ("registrant-message:12"), chosen by the part that queues it; None for
    # a message on its own.
    group_key: Mapped[str | None] = mapped_column(String(60), nullable=True)
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=True, index=True
    )
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digests.id", ondelete="CASCADE"), nullable=True)
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="SET NULL"), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A worker owns a 'sending' row until its lease runs out; then another may take it over.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Suppression(db.Model):
    """An address that hard-bounced (5xx on RCPT): no campaign is sent to it any more."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
