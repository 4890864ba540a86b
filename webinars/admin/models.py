"""Organisers who sign in and the webinars each editor looks after (what they did is in the audit
trail, webinars/audit.py).

Two roles: an *owner* does everything, organiser accounts and subscriber data included; an *editor*
works on webinars, content and campaigns (which an owner approves before they are sent), and sees
the registrations of the webinars they look after (`webinar_editors`) only.
"""

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Index, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime, utcnow
from ..extensions import db

ORGANISER_ROLES = ("owner", "editor")

# The webinars an editor looks after (whoever created or duplicated one, and those an owner adds):
# they see its registrations. Owners see every webinar's.
webinar_editors = Table(
    "webinar_editors",
    db.metadata,
    Column("webinar_id", ForeignKey("webinars.id", ondelete="CASCADE"), primary_key=True),
    Column("organiser_id", ForeignKey("organisers.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_webinar_editors_organiser_id", "organiser_id"),
)


class Organiser(UserMixin, db.Model):
    __tablename__ = "organisers"
    __table_args__ = (CheckConstraint("role IN ('owner', 'editor')", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Part of every session's user id: raising it (sign-out, new password, deactivation) ends every
    # session of this organiser, copied cookies included.
    session_version: Mapped[int] = mapped_column(Integer, default=0)
    # Organisers who existed before roles became owners (migration 0030); new ones get the role they are given.
    role: Mapped[str] = mapped_column(String(20), default="editor", server_default="editor")

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def get_id(self) -> str:  # Flask-Login: what the session cookie carries
        return f"{self.id}:{self.session_version}"

    def end_sessions(self) -> None:
        """End every session of this organiser, on every device (the caller commits)."""
        self.session_version = (self.session_version or 0) + 1
