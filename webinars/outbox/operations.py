"""Putting messages in the outbox, and the list of addresses not to mail. Never commits: the caller's
transaction carries the message together with the change that caused it, so either both happen or
neither does.

Most messages are queued as an intent (`enqueue_intent`: a kind, the recipient and a payload of ids
and frozen facts) and built by the mail worker with the kind's registered renderer; `enqueue` queues
a message already built.
"""

from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import EmailPolicy
from email.utils import getaddresses
from pathlib import Path

from flask import current_app
from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .. import ratelimit
from ..addresses import lookup_key, needs_smtputf8
from ..database import address_condition, same_address, utcnow
from ..extensions import db
from .models import OutboxMessage, Suppression
from .registry import renderer_for

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


def _unsolicited_allowed(address: str, now: datetime | None) -> bool:
    """A message that a public form made us send to an address that has confirmed nothing (a
    registration's confirmation or waitlist notice, its re-sends, a newsletter confirmation): at most
    MAIL_UNCONFIRMED_PER_ADDRESS such messages per address per hour, across every flow, so that nobody
    can turn the service against a stranger's mailbox. Beyond that the message is dropped without a
    trace in the answer: the caller's page must be the same either way."""
    limit = int(current_app.config["MAIL_UNCONFIRMED_PER_ADDRESS"])
    return ratelimit.allow(UNSOLICITED_BUCKET, recipient_key(address), limit, UNSOLICITED_WINDOW, now)


def enqueue_unsolicited(message: EmailMessage, kind: str, now: datetime | None = None) -> OutboxMessage | None:
    """Queue a built message caused by a public form, capped per address (see _unsolicited_allowed).
    Returns the new row, or None when dropped."""
    if not _unsolicited_allowed(envelope_recipient(message), now):
        return None
    return enqueue(message, kind)


_INSERT_INTENT = (
    insert(OutboxMessage.__table__)
    .values(
        kind=bindparam("kind"),
        to_address=bindparam("to"),
        payload=bindparam("payload"),
        status="queued",
        attempts=0,
        next_attempt_at=bindparam("now"),
        created_at=bindparam("now"),
    )
    .returning(OutboxMessage.__table__.c.id)
)


def enqueue_group(kind: str, group_key: str, recipients: list[tuple[str, dict]], *, now: datetime | None = None) -> int:
    """Queue intents of `kind` for `recipients` [(address, payload)] as one group: an address the group
    already has is left as it is, so queueing the same recipients again (a resumed expansion, a second
    press of a button) sends nobody anything twice. One INSERT; returns how many rows were added."""
    if renderer_for(kind) is None:
        raise LookupError(f"no renderer is registered for {kind!r} messages")
    if not recipients:
        return 0
    when = now or utcnow()
    table = OutboxMessage.__table__
    addresses = [to for to, _payload in recipients]
    existing = select(func.count()).where(table.c.group_key == group_key, table.c.to_address.in_(addresses))
    before = db.session.scalar(existing)
    dialect = db.session.get_bind().dialect.name
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(table).on_conflict_do_nothing(
        index_elements=["group_key", "to_address"]
    )
    rows = [
        {
            "kind": kind,
            "to_address": to,
            "payload": payload,
            "group_key": group_key,
            "status": "queued",
            "attempts": 0,
            "next_attempt_at": when,
            "created_at": when,
        }
        for to, payload in recipients
    ]
    db.session.execute(statement, rows)
    # Counted, not read from rowcount (which executemany does not report the same way on both databases).
    return db.session.scalar(existing) - before


def enqueue_intent(kind: str, to: str, payload: dict, *, unsolicited: bool = False, now: datetime | None = None):
    """Queue what to send to `to`: the mail worker builds it with the renderer registered for `kind`.
    `payload` holds ids and the facts that must stay as they are now (JSON types only). A message caused
    by a public form (`unsolicited`) is capped per address. Returns the new row's id, or None when
    dropped. (One INSERT: every registration makes one.)"""
    if renderer_for(kind) is None:
        raise LookupError(f"no renderer is registered for {kind!r} messages")
    if unsolicited and not _unsolicited_allowed(to, now):
        return None
    values = {"kind": kind, "to": to, "payload": payload, "now": now or utcnow()}
    return db.session.execute(_INSERT_INTENT, values).scalar_one()


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
    """The Subject of a message: from its bytes, or for an intent as its renderer writes it now; None
    for a campaign row (its campaign has the subject) or a message with nothing left to send."""
    raw = message.raw
    if raw is None and message.payload is not None:
        renderer = renderer_for(message.kind)
        raw = renderer.render(message) if renderer is not None else None
    if raw is None:
        return None
    headers = BytesHeaderParser(policy=policy.default).parsebytes(bytes(raw))
    return str(headers["Subject"] or "")


def erase_messages_to(email: str) -> int:
    """Delete every message to this address, whatever its state: the row holds the address, and built
    bytes carry the person's name and the links to their registration and subscription. One being
    handed to the SMTP server at this moment may still arrive; its worker then finds no row to mark."""
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


# -- addresses not to mail ---------------------------------------------------------------------------


def suppress(address: str, reason: str) -> None:
    """Stop mailing `address` (a hard bounce); a second bounce changes nothing."""
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(Suppression.__table__).values(email=address.lower(), reason=reason[:2000], created_at=utcnow())
    db.session.execute(stmt.on_conflict_do_nothing(index_elements=["email"]))


def suppressions() -> list[Suppression]:
    return list(db.session.scalars(select(Suppression).order_by(Suppression.created_at, Suppression.id)))


def clear_suppression(email: str) -> bool:
    """Mail this address again (the person fixed their mailbox); False when it was not suppressed."""
    result = db.session.execute(delete(Suppression).where(Suppression.email == lookup_key(email)))
    return bool(result.rowcount)


def _suppressions_of(email: str) -> list[Suppression]:
    candidates = db.session.scalars(select(Suppression).where(address_condition(Suppression.email, email)))
    return [row for row in candidates if same_address(row.email, email)]


def suppression_of(email: str) -> Suppression | None:
    """The suppression of this address however it is spelt (for requests about personal data)."""
    found = _suppressions_of(email)
    return found[0] if found else None


def erase_suppressions_of(email: str) -> int:
    found = _suppressions_of(email)
    for suppression in found:
        db.session.delete(suppression)
    return len(found)
