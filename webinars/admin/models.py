"""Organisers who sign in, and the audit trail of what they changed."""

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, String, Text
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

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active


class AuditEvent(db.Model):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    organiser_id: Mapped[int | None] = mapped_column(ForeignKey("organisers.id", ondelete="SET NULL"), nullable=True)
    webinar_id: Mapped[int | None] = mapped_column(
        ForeignKey("webinars.id", ondelete="CASCADE"), nullable=True, index=True
    )
    action: Mapped[str] = mapped_column(String(60))  # created, updated, published, rescheduled, ...
    details: Mapped[str] = mapped_column(Text, default="")

    organiser: Mapped[Organiser | None] = relationship()
