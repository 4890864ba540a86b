"""Putting messages in the outbox. Never commits: the caller's transaction carries the message
together with the change that caused it, so either both happen or neither does."""

from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses

from flask import current_app

from .. import ratelimit
from ..extensions import db
from .models import OutboxMessage

UNSOLICITED_BUCKET = "unconfirmed-mail"
UNSOLICITED_WINDOW = timedelta(hours=1)


def message_bytes(message: EmailMessage) -> bytes:
    """The wire form (CRLF line endings). Non-ASCII addresses need SMTPUTF8 on the way out."""
    try:
        return message.as_bytes(policy=policy.SMTP)
    except (UnicodeError, ValueError):
        return message.as_bytes(policy=policy.SMTPUTF8)


def envelope_recipient(message: EmailMessage) -> str:
    addresses = [address for _name, address in getaddresses([str(message["To"] or "")]) if address]
    if len(addresses) != 1:
        raise ValueError("an outbox message goes to exactly one recipient")
    return addresses[0]


def enqueue(message: EmailMessage, kind: str) -> OutboxMessage:
    """Queue a built message (see messages.build_email) for the sender; returns the new row."""
    row = OutboxMessage(
        kind=kind[:40],
        to_address=envelope_recipient(message),
        raw=message_bytes(message),
        status="queued",
        attempts=0,
    )
    db.session.add(row)
    return row


def recipient_key(address: str) -> str:
    """One key per mailbox, whatever the case it was typed in (the rate-limit key of an address)."""
    return (address or "").strip().lower()


def enqueue_unsolicited(message: EmailMessage, kind: str, now: datetime | None = None) -> OutboxMessage | None:
    """Queue a message that a public form made us send to an address that has confirmed nothing
    (a registration's confirmation or waitlist notice, its re-sends, a newsletter confirmation):
    at most MAIL_UNCONFIRMED_PER_ADDRESS such messages per address per hour, across every flow, so
    that nobody can turn the service against a stranger's mailbox. Beyond that the message is
    dropped without a trace in the answer: the caller's page must be the same either way.
    Returns the new row, or None when dropped."""
    limit = int(current_app.config["MAIL_UNCONFIRMED_PER_ADDRESS"])
    key = recipient_key(envelope_recipient(message))
    if not ratelimit.allow(UNSOLICITED_BUCKET, key, limit, UNSOLICITED_WINDOW, now):
        return None
    return enqueue(message, kind)
