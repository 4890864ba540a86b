"""Registrations: never deleted, they move between states.

confirmed   holds a seat
waitlisted  waits for one, in id order
pending     holds a seat until `confirm_by`, for a webinar that asks attendees to confirm their address
            (Webinar.confirm_registrations); a waitlisted registration of such a webinar has a
            `confirm_by` too until its address is confirmed
expired     was pending or waitlisted and not confirmed in time: the seat went to someone else
cancelled   by the attendee or an organiser

A hold past its `confirm_by` no longer counts, even before the mail worker's housekeeping marks it expired.
"""

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from ..catalogue.models import Webinar
from ..database import UTCDateTime, mailbox_key, utcnow
from ..extensions import db

REGISTRATION_STATUSES = ("confirmed", "waitlisted", "pending", "expired", "cancelled")
# States that are over: they hold nothing, and the address may register again.
ENDED_STATUSES = ("cancelled", "expired")


class Registration(db.Model):
    __tablename__ = "registrations"
    __table_args__ = (
        CheckConstraint("status IN ('confirmed', 'waitlisted', 'pending', 'expired', 'cancelled')", name="status"),
        # Only a registration waiting for its address to be confirmed has a deadline.
        CheckConstraint("confirm_by IS NULL OR status IN ('pending', 'waitlisted', 'expired')", name="confirm_by"),
        # One live registration per mailbox and webinar (Ana@ and ana@ are one person); cancelled and
        # expired rows stay as history. It is also what the duplicate check under the lock reads.
        Index(
            "uq_registrations_live_email",
            "webinar_id",
            "email_key",
            unique=True,
            sqlite_where=text("status NOT IN ('cancelled', 'expired')"),
            postgresql_where=text("status NOT IN ('cancelled', 'expired')"),
        ),
        Index("ix_registrations_webinar_status", "webinar_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webinar_id: Mapped[int] = mapped_column(ForeignKey("webinars.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))  # normalised by email-validator
    # The mailbox the address names, for comparing (database.mailbox_key): kept with `email` by the
    # validator below; Core inserts set it themselves.
    email_key: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str] = mapped_column(String(200), default="")
    country: Mapped[str] = mapped_column(String(100), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    status: Mapped[str] = mapped_column(String(20))
    wants_newsletter: Mapped[bool] = mapped_column(Boolean, default=False)
    # The language the registrant signed up in ('en', 'fr'): every email to them is written in it.
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Webinars that ask attendees to confirm their address: the deadline for that (None: nothing to
    # confirm), and when the address was confirmed.
    confirm_by: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    address_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Each reminder is sent at most once; the column records when (or that it was skipped).
    reminder_24h_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reminder_1h_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The UID of this registration's calendar entry (invite, updates, cancellation). Each registration
    # has its own: after cancelling, registering again is a new entry that no calendar confuses with the
    # cancelled one. NULL for registrations made before: they keep the webinar's UID.
    ical_uid: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    # Set when the person's data was erased: the row stays, anonymised, so that counts stay right.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    webinar: Mapped[Webinar] = relationship()

    @validates("email")
    def _keep_email_key(self, _key, email: str) -> str:
        self.email_key = mailbox_key(email)
        return email
