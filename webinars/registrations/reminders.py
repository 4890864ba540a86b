"""Reminders 24 hours and 1 hour before a webinar: each sent at most once per registration.

A reminder is claimed with a conditional UPDATE (column IS NULL -> now) in the same transaction
that queues its message, so overlapping or repeated runs cannot send it twice. A reminder whose
moment passed before the person's seat was confirmed is marked skipped, never sent late; so is a
24-hour reminder still unsent when the 1-hour one is due.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update

from ..catalogue.models import Webinar
from ..extensions import db
from .models import Registration
from .notifications import queue_reminder

REMINDERS = {
    "24h": (timedelta(hours=24), Registration.reminder_24h_at),
    "1h": (timedelta(hours=1), Registration.reminder_1h_at),
}
BATCH = 500
log = logging.getLogger(__name__)


def _decide(which: str, starts_at: datetime, joined: datetime, now: datetime) -> bool:
    """True to send, False to mark skipped."""
    lead, _column = REMINDERS[which]
    if joined > starts_at - lead:
        return False  # their confirmation came after this reminder's moment
    # The 1-hour reminder is due (or past): a late 24-hour reminder would only repeat it.
    return not (which == "24h" and now >= starts_at - REMINDERS["1h"][0])


def send_due_reminders(now: datetime) -> dict[str, int]:
    """Queue the reminders due at `now`; returns counts of sent and skipped. Commits per batch,
    because a cron run over many registrations should keep what it has done."""
    result = {"24h": 0, "1h": 0, "skipped": 0}
    for which, (lead, column) in REMINDERS.items():
        while True:
            candidates = db.session.execute(
                select(Registration.id, Registration.confirmed_at, Registration.created_at, Webinar.starts_at)
                .join(Webinar, Webinar.id == Registration.webinar_id)
                .where(
                    Registration.status == "confirmed",
                    Registration.erased_at.is_(None),  # no address left to remind
                    column.is_(None),
                    Webinar.status == "published",
                    Webinar.starts_at > now,
                    Webinar.starts_at <= now + lead,
                )
                .order_by(Registration.id)
                .limit(BATCH)
            ).all()
            if not candidates:
                break
            for row in candidates:
                claimed = db.session.execute(
                    update(Registration)
                    .where(Registration.id == row.id, column.is_(None), Registration.status == "confirmed")
                    .values({column.key: now})
                    .execution_options(synchronize_session=False)
                ).rowcount
                if not claimed:
                    continue  # another run took it
                registration = db.session.get(Registration, row.id)
                if not registration.webinar.presentable:
                    # Its time cannot be written out (a row to fix); one bad row must not stop the others.
                    log.error("reminder %s for registration %s skipped: its webinar cannot be shown", which, row.id)
                    result["skipped"] += 1
                elif _decide(which, row.starts_at, row.confirmed_at or row.created_at, now):
                    queue_reminder(registration, which)
                    result[which] += 1
                else:
                    result["skipped"] += 1
            db.session.commit()
    return result
