"""Putting messages in the outbox. Never commits: the caller's transaction carries the message
together with the change that caused it, so either both happen or neither does."""

from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import EmailPolicy
from email.utils import getaddresses
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, select

from .. import ratelimit
from ..addresses import needs_smtputf8
from ..database import address_condition, same_address
from ..extensions import db
from .models import OutboxMessage

UNSOLICITED_BUCKET = "unconfirmed-mail"
UNSOLICITED_WINDOW = timedelta(hours=1)

# Header fields whose value is one <URL> (RFC 2369, RFC 8058). Folding a URL longer than a line makes the
# email package RFC 2047-encode it (=?utf-8?q?=3Chttp...?=), and mail clients then offer no unsubscribe.
_WRITTEN_AS_IS = frozenset({"list-unsubscribe", "list-unsubscribe-post"})
_MAX_LINE = 998  # RFC 5322 2.1.1


class _MailPolicy(EmailPolicy):
    """email.policy.SMTP (or SMTPUTF8), except that URL headers are written as they are, on one line."""

    def _as_is(self, name: str, value) -> str | None:
        line = f"{name}: {value}"
        if name.lower() in _WRITTEN_AS_IS and line.isascii() and len(line) <= _MAX_LINE:
            return line + self.linesep
        return None

    def fold(self, name, value):
        return self._as_is(name, value) or super().fold(name, value)

    def fold_binary(self, name, value):
        line = self._as_is(name, value)
        return line.encode("ascii") if line else super().fold_binary(name, value)


SMTP_POLICY = _MailPolicy(linesep="\r\n")
SMTPUTF8_POLICY = SMTP_POLICY.clone(utf8=True)


def message_bytes(message: EmailMessage) -> bytes:
    """The wire form (CRLF line endings). A recipient whose local part is not ASCII can only be
    reached with SMTPUTF8, and then the headers are written in UTF-8 (RFC 6532): with the plain SMTP
    policy the email package would put an encoded-word inside the address, which no server reads."""
    if needs_smtputf8(envelope_recipient(message)):
        return message.as_bytes(policy=SMTPUTF8_POLICY)
    return message.as_bytes(policy=SMTP_POLICY)


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


def requeue_failed(message_id: int, *, now) -> bool:
    """Give a failed message another try now (after the cause was fixed, e.g. the server now offers
    SMTPUTF8). False when there is no such failed message. Its last_error stays until the next attempt."""
    row = db.session.get(OutboxMessage, message_id)
    if row is None or row.status != "failed":
        return False
    row.status, row.attempts, row.next_attempt_at, row.claimed_by, row.lease_until = "queued", 0, now, None, None
    return True


# -- personal data -----------------------------------------------------------------------------------


def messages_to(email: str) -> list[OutboxMessage]:
    """Every queued or sent message to this address, however it was spelt, oldest first."""
    candidates = db.session.scalars(
        select(OutboxMessage).where(address_condition(OutboxMessage.to_address, email)).order_by(OutboxMessage.id)
    )
    return [message for message in candidates if same_address(message.to_address, email)]


def subject_of(message: OutboxMessage) -> str | None:
    """The Subject of a stored message (campaign rows store none: their campaign has it)."""
    if message.raw is None:
        return None
    headers = BytesHeaderParser(policy=policy.default).parsebytes(bytes(message.raw))
    return str(headers["Subject"] or "")


def erase_messages_to(email: str) -> int:
    """Delete every message to this address, whatever its state: the bytes carry the person's name and
    the links to their registration and subscription. One being handed to the SMTP server at this
    moment may still arrive; its worker then finds no row to mark."""
    ids = [message.id for message in messages_to(email)]
    if ids:
        db.session.execute(
            delete(OutboxMessage).where(OutboxMessage.id.in_(ids)).execution_options(synchronize_session=False)
        )
    return len(ids)


def mail_files_to(email: str, directory: str | Path) -> list[Path]:
    """The .eml files that development mode (no MAIL_SERVER) wrote for this address."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.eml")):
        try:
            with path.open("rb") as file:
                headers = BytesHeaderParser(policy=policy.default).parse(file)
        except OSError:
            continue
        recipients = [address for _name, address in getaddresses([str(headers["To"] or "")])]
        if any(same_address(address, email) for address in recipients):
            found.append(path)
    return found


def erase_mail_files_to(email: str, directory: str | Path) -> int:
    files = mail_files_to(email, directory)
    for path in files:
        path.unlink(missing_ok=True)
    return len(files)
