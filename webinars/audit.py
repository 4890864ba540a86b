"""The audit trail: who did what, when, to which webinar or registration.

Neutral ground: the catalogue records webinar changes here, the admin records what organisers do to
registrations, and privacy records data requests, without any of them importing another. Rows name
what they are about by id only (organiser, webinar, registration); the admin's history screen puts
names to them from each part's queries. Nothing here commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import ForeignKey, String, Text, select, update
from sqlalchemy.orm import Mapped, mapped_column

from .database import UTCDateTime, utcnow
from .extensions import db


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


class Actor(Protocol):
    """Whoever acted: an organiser (anything with an `id`), or None for the system and the command line."""

    id: int


def record(
    action: str,
    by: Actor | None,
    now: datetime,
    details: str = "",
    *,
    webinar_id: int | None = None,
    registration_id: int | None = None,
    item_id: int | None = None,
) -> AuditEvent:
    """Record who did what. `registration_id` names the registration acted on; its person's name is
    shown from that row, never copied into `details`, so that erasing the person erases it here too."""
    event = AuditEvent(
        webinar_id=webinar_id,
        organiser_id=by.id if by is not None else None,
        registration_id=registration_id,
        item_id=item_id,
        action=action,
        details=details,
        at=now,
    )
    db.session.add(event)
    return event


def detach_webinar(webinar_id: int) -> None:
    """Keep a webinar's history when its row goes (a discarded draft): the events stay, about no webinar."""
    db.session.execute(
        update(AuditEvent)
        .where(AuditEvent.webinar_id == webinar_id)
        .values(webinar_id=None)
        .execution_options(synchronize_session=False)
    )


def events(webinar_id: int | None = None):
    """A SELECT of events, newest first (one webinar's when `webinar_id` is given), for paginating."""
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if webinar_id is not None:
        query = query.where(AuditEvent.webinar_id == webinar_id)
    return query


def events_of_webinar(webinar_id: int) -> list[AuditEvent]:
    return list(db.session.scalars(events(webinar_id)))


def events_of_item(item_id: int) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.item_id == item_id).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        )
    )
