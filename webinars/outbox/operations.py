"""Putting messages in the outbox. Never commits: the caller's transaction carries the message
together with the change that caused it, so either both happen or neither does."""

from email import policy
from email.message import EmailMessage
from email.utils import getaddresses

from ..extensions import db
from .models import OutboxMessage


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
