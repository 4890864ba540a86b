"""The transactional outbox: every outgoing message is a row written with the change that causes it."""

from datetime import datetime

from sqlalchemy import (
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
        # Either a fully built message, or a campaign or digest recipient whose message is built at send time.
        CheckConstraint("raw IS NOT NULL OR campaign_id IS NOT NULL OR digest_id IS NOT NULL", name="has_content"),
        # A campaign or a digest mails each subscriber at most once, however often its expansion is resumed.
        UniqueConstraint("campaign_id", "subscriber_id", name="uq_outbox_campaign_recipient"),
        UniqueConstraint("digest_id", "subscriber_id", name="uq_outbox_digest_recipient"),
        Index("ix_outbox_due", "status", "next_attempt_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # confirmation, cancellation, campaign, ...
    to_address: Mapped[str] = mapped_column(String(254))
    raw: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
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
