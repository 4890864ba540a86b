"""What the organisers see of the outbox: how many messages are in each state, and which could not
be delivered and why (last_error)."""

from sqlalchemy import func, select

from ..extensions import db
from .models import OUTBOX_STATUSES, OutboxMessage


def status_counts() -> dict[str, int]:
    """{'queued': n, 'sending': n, 'sent': n, 'failed': n, 'suppressed': n}."""
    counts = dict.fromkeys(OUTBOX_STATUSES, 0)
    rows = db.session.execute(select(OutboxMessage.status, func.count(OutboxMessage.id)).group_by(OutboxMessage.status))
    counts.update(dict(rows.all()))
    return counts


def undelivered(limit: int = 200) -> list[OutboxMessage]:
    """Messages that failed, and queued ones already refused at least once, newest first."""
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(
                (OutboxMessage.status == "failed")
                | ((OutboxMessage.status == "queued") & OutboxMessage.last_error.is_not(None))
            )
            .order_by(OutboxMessage.id.desc())
            .limit(limit)
        )
    )


def group_counts(group_key: str) -> dict[str, int]:
    """How many of a group's messages (outbox.operations.enqueue_group) are in each state, and 'total'."""
    counts = dict.fromkeys(OUTBOX_STATUSES, 0)
    rows = db.session.execute(
        select(OutboxMessage.status, func.count(OutboxMessage.id))
        .where(OutboxMessage.group_key == group_key)
        .group_by(OutboxMessage.status)
    )
    counts.update(dict(rows.all()))
    counts["total"] = sum(counts[status] for status in OUTBOX_STATUSES)
    return counts
