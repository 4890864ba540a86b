"""Organisers who sign in (what they did is in the audit trail, webinars/audit.py)."""

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

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
