"""Registrations: never deleted, they move between states.

confirmed   holds a seat
waitlisted  waits for one, in id order
pending     holds a seat until `confirm_by`, for a webinar that asks attendees to confirm their address
            (Webinar.confirm_registrations); a waitlisted registration of such a webinar has a
            `confirm_by` too until its address is confirmed
expired     was pending or waitlisted and not confirmed in time: the seat went to someone else
cancelled   by the attendee or an organiser

A hold past its `confirm_by` no longer counts, even before the mail worker's housekeeping marks it expired.

A webinar may ask its own questions on the registration form (RegistrationQuestion); each answer is
stored with the question's wording as it was asked, so that editing a question later never changes
what someone answered. After the webinar, the platform's participant report marks each registration
attended or not (AttendanceImport keeps what each import read).
"""

from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
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
    # From the platform's participant report: True attended, False a no-show, None not known (no
    # report imported, or the registration held no seat). Minutes in the meeting, first join, last leave.
    attended: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    attended_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    webinar: Mapped[Webinar] = relationship()
    answers: Mapped[list["RegistrationAnswer"]] = relationship(
        back_populates="registration", cascade="all, delete-orphan", order_by="RegistrationAnswer.id"
    )

    @validates("email")
    def _keep_email_key(self, _key, email: str) -> str:
        self.email_key = mailbox_key(email)
        return email


# The kinds of question an organiser can ask, in the order the admin offers them.
QUESTION_KINDS = ("short_text", "long_text", "single_choice", "multiple_choice", "checkbox")
CHOICE_KINDS = ("single_choice", "multiple_choice")


class RegistrationQuestion(db.Model):
    """A question of one webinar's registration form. One with answers is never deleted: it is retired
    (left off the form, its answers kept), and its kind no longer changes."""

    __tablename__ = "registration_questions"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('short_text', 'long_text', 'single_choice', 'multiple_choice', 'checkbox')", name="kind"
        ),
        Index("ix_registration_questions_webinar_position", "webinar_id", "position", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webinar_id: Mapped[int] = mapped_column(ForeignKey("webinars.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(300))
    help_text: Mapped[str] = mapped_column(String(500), default="")
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    # The choices of a single or multiple choice question, one per line, in the order shown.
    options_text: Mapped[str] = mapped_column("options", Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @property
    def options(self) -> list[str]:
        return [line for line in self.options_text.splitlines() if line.strip()]

    @options.setter
    def options(self, values: list[str]) -> None:
        self.options_text = "\n".join(dict.fromkeys(value.strip() for value in values if value.strip()))

    @property
    def is_choice(self) -> bool:
        return self.kind in CHOICE_KINDS


class RegistrationAnswer(db.Model):
    """One registrant's answer to one question: the text as given (the chosen options' text, one per
    line, for choices; "yes" or "no" for a checkbox) and the question as it was worded then."""

    __tablename__ = "registration_answers"
    __table_args__ = (UniqueConstraint("registration_id", "question_id", name="uq_registration_answers_question"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"))
    question_id: Mapped[int] = mapped_column(ForeignKey("registration_questions.id", ondelete="CASCADE"), index=True)
    asked_as: Mapped[str] = mapped_column(String(300))
    value: Mapped[str] = mapped_column(Text, default="")

    registration: Mapped[Registration] = relationship(back_populates="answers")
    question: Mapped[RegistrationQuestion] = relationship()

    @property
    def values(self) -> list[str]:
        return [line for line in self.value.splitlines() if line]


class AttendanceImport(db.Model):
    """One participant report read for a webinar: which columns were used and what it found. The
    latest one is what the registrations' attendance comes from (each import replaces the last)."""

    __tablename__ = "attendance_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    webinar_id: Mapped[int] = mapped_column(ForeignKey("webinars.id", ondelete="CASCADE"), index=True)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    filename: Mapped[str] = mapped_column(String(255), default="")
    platform: Mapped[str] = mapped_column(String(40), default="")  # Zoom, Microsoft Teams, or unknown
    columns_used: Mapped[str] = mapped_column(Text, default="")  # "email: User Email; join: Join Time; ..."
    participants: Mapped[int] = mapped_column(Integer, default=0)  # distinct addresses in the report
    attended: Mapped[int] = mapped_column(Integer, default=0)
    no_shows: Mapped[int] = mapped_column(Integer, default=0)
    unregistered: Mapped[int] = mapped_column(Integer, default=0)  # in the report, not registered


MESSAGE_AUDIENCES = ("confirmed", "waitlisted", "all")
MESSAGE_STATUSES = ("expanding", "sending", "done", "failed")


class RegistrantMessage(db.Model):
    """An organiser's message to a webinar's registrants (all of them, or those with a seat, or those on
    the waiting list). Its recipients are queued in registration-id order with a checkpoint, as campaigns
    are, and each message is built by the mail worker in the registrant's language: `translations`
    holds versions of the text by language ({"fr": {"subject": ..., "body": ...}}); a registrant whose
    language has none gets the main one."""

    __tablename__ = "registrant_messages"
    __table_args__ = (
        CheckConstraint("audience IN ('confirmed', 'waitlisted', 'all')", name="audience"),
        CheckConstraint("status IN ('expanding', 'sending', 'done', 'failed')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webinar_id: Mapped[int] = mapped_column(ForeignKey("webinars.id", ondelete="CASCADE"), index=True)
    audience: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(300))
    body_markdown: Mapped[str] = mapped_column(Text)
    translations: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="expanding")
    expanded_through_id: Mapped[int] = mapped_column(Integer, default=0)
    recipients_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(254), default="cli")  # an organiser's address, or "cli"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    @property
    def group_key(self) -> str:
        """Its outbox rows' group (outbox.operations.enqueue_group)."""
        return f"registrant-message:{self.id}"

    def text_in(self, language: str) -> tuple[str, str]:
        """(subject, Markdown body) for a registrant writing `language`: its version, else the main one."""
        version = (self.translations or {}).get(language)
        if isinstance(version, dict) and version.get("subject") and version.get("body"):
            return version["subject"], version["body"]
        return self.subject, self.body_markdown
