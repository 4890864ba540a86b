"""Organisers who sign in, and the audit trail of what they changed."""

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..database import UTCDateTime, utcnow
from ..extensions import db


class Organiser(UserMixin, db.Model):
    __tablename__ = "organisers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Part of every session's user id: raising it (sign-out, new password, deactivation) ends every
    # session of this organiser, copied cookies included.
    session_version: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def get_id(self) -> str:  # Flask-Login: what the session cookie carries
        return f"{self.id}:{self.session_version}"

    def end_sessions(self) -> None:
        """End every session of this organiser, on every device (the caller commits)."""
        self.session_version = (self.session_version or 0) + 1


class AuditEvent(db.Model):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    organiser_id: Mapped[int | None] = mapped_column(ForeignKey("organisers.id", ondelete="SET NULL"), nullable=True)
    webinar_id: Mapped[int | None] = mapped_column(
        ForeignKey("webinars.id", ondelete="CASCADE"), nullable=True, index=True
    )
    # The registration an organiser acted on (a seat given, a cancellation): shown by its current name,
    # so that the audit text holds no personal data and erasing the person leaves none behind.
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("registrations.id", ondelete="SET NULL"), nullable=True, index=True
    )
    # A content item's history, kept the same way as a webinar's.
    item_id: Mapped[int | None] = mapped_column(
        ForeignKey("content_items.id", ondelete="CASCADE"), nullable=True, index=True
    )
    action: Mapped[str] = mapped_column(String(60))  # created, updated, published, rescheduled, ...
    details: Mapped[str] = mapped_column(Text, default="")

    organiser: Mapped[Organiser | None] = relationship()
    webinar: Mapped["Webinar | None"] = relationship()  # noqa: F821 (the catalogue imports this module)
    registration: Mapped["Registration | None"] = relationship()  # noqa: F821 (registrations imports admin)
