"""Registrations: never deleted, they move between states."""

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..catalogue.models import Webinar
from ..database import UTCDateTime, utcnow
from ..extensions import db

REGISTRATION_STATUSES = ("confirmed", "waitlisted", "cancelled")


class Registration(db.Model):
    __tablename__ = "registrations"
    __table_args__ = (
        CheckConstraint("status IN ('confirmed', 'waitlisted', 'cancelled')", name="status"),
        # One live registration per address and webinar; cancelled rows stay as history.
        Index(
            "uq_registrations_live_email",
            "webinar_id",
            "email",
            unique=True,
            sqlite_where=text("status != 'cancelled'"),
            postgresql_where=text("status != 'cancelled'"),
        ),
        Index("ix_registrations_webinar_status", "webinar_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webinar_id: Mapped[int] = mapped_column(ForeignKey("webinars.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))  # normalised by email-validator
    name: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str] = mapped_column(String(200), default="")
    country: Mapped[str] = mapped_column(String(100), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    status: Mapped[str] = mapped_column(String(20))
    wants_newsletter: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Each reminder is sent at most once; the column records when (or that it was skipped).
    reminder_24h_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reminder_1h_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    webinar: Mapped[Webinar] = relationship()
