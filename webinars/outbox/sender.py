"""The outbox sender: claims due rows, delivers them over one SMTP connection, records the outcome.

Guarantees
- A row is claimed in batches (PostgreSQL: FOR UPDATE SKIP LOCKED, so several workers never take
  the same row; SQLite: a single UPDATE ... RETURNING, atomic because SQLite has one writer) and
  leased to this worker for MAIL_LEASE_SECONDS. A worker that dies leaves 'sending' rows whose
  lease runs out; the next worker takes them over.
- Each row is marked 'sent' in its own commit right after its SMTP transaction, so a SIGKILL
  repeats at most the one message that was in flight. These marks (an attempt's outcome) are
  written on a connection of their own whose commits do not wait for the disk (SQLite
  `synchronous=NORMAL` in WAL mode, PostgreSQL `synchronous_commit=off`): they survive the worker
  being killed, as committed transactions always do; only a power failure or an operating-system
  crash can lose the last moments of them, and then those messages are sent once more, which SMTP
  could not prevent anyway. Everything that queues a message, and everything else the worker does,
  stays fully durable.
- Each message attempt has exactly one outcome, recorded once (see Outcome): sent; retry later
  (4xx); bounced (5xx on RCPT: 'failed' plus a Suppression row for the address); failed (another
  5xx); or connection down (retry later, and the rest of the batch waits too). Temporary trouble
  retries with exponential backoff up to MAIL_MAX_ATTEMPTS, then 'failed'. A connection that drops
  while idle is re-opened once for the message at hand, whose outcome is then that of the retry.
- Addresses go out in their delivery form (webinars/addresses.py: the domain in ASCII). One whose
  local part is not ASCII needs SMTPUTF8: without it on the server, the row is 'failed' at once with
  that reason in last_error (the message is kept, the address is not suppressed).
- With no MAIL_SERVER (development) messages are written as .eml files to MAIL_OUTBOX_DIR.
- A row that holds no bytes is built right before it is sent, by the renderer its part registered for
  its kind (outbox/registry.py). A message that cannot be built fails at once with the reason (a
  database briefly unavailable is the exception: retried like a server that is down).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import secrets
import smtplib
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path

from flask import current_app
from sqlalchemy import and_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import InterfaceError, OperationalError

from ..addresses import delivery_address, needs_smtputf8
from ..database import utcnow
from ..extensions import db
from .models import OutboxMessage
from .operations import suppress
from .registry import idle_hooks, renderer_for

log = logging.getLogger(__name__)

_table = OutboxMessage.__table__
_COLUMNS = (
    _table.c.id,
    _table.c.kind,
    _table.c.to_address,
    _table.c.raw,
    _table.c.payload,
    _table.c.campaign_id,
    _table.c.digest_id,
    _table.c.subscriber_id,
    _table.c.attempts,
)


def _setting(name: str):
    # Every MAIL_* setting and its default lives in config.py.
    return current_app.config[name]


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0  # bounced ones included
    bounced: int = 0
    suppressed: int = 0
    errors: list[str] = field(default_factory=list)
    stopped: dict[str, str] = field(default_factory=dict)  # what stopped ("Campaign 3"): why

    def __str__(self) -> str:
        text = (
            f"{self.sent} sent, {self.retried} to retry, {self.failed} failed ({self.bounced} bounced), "
            f"{self.suppressed} suppressed (of {self.claimed} claimed)"
        )
        for label, reason in self.stopped.items():
            text += f"\n{label} stopped: {reason}"
        return text


class Outcome(enum.Enum):
    """What became of one attempt to hand a message to the SMTP server."""

    SENT = "sent"
    RETRY = "retry"  # 4xx: try this message again later
    BOUNCED = "bounced"  # 5xx on RCPT: the address itself is bad
    FAILED = "failed"  # another 5xx: this message will never go through
    CONNECTION_DOWN = "connection down"  # retry later, and so does the rest of the batch


class TransientError(Exception):
    """Try again later (server down, 4xx)."""


class ConnectionLost(TransientError):
    """The connection is gone; the rest of the batch needs a new one.

    `reused`: it was an open connection that failed (servers drop idle ones), so a fresh one may work;
    False when a new connection could not be opened at all."""

    def __init__(self, message: str, *, reused: bool = False):
        super().__init__(message)
        self.reused = reused


class Unbuildable(Exception):
    """A row whose message cannot be built (no renderer for its kind)."""


class PermanentError(Exception):
    """Do not try again (5xx)."""

    def __init__(self, message: str, *, bounce: bool = False):
        super().__init__(message)
        self.bounce = bounce  # a 5xx on RCPT: the address itself is bad


class SMTPTransport:
    """One SMTP connection, opened on first use and reused for every message until closed."""

    def __init__(self, config):
        self.host = config["MAIL_SERVER"]
        self.port = int(config.get("MAIL_PORT") or 25)
        self.use_tls = bool(config.get("MAIL_USE_TLS"))
        self.username = config.get("MAIL_USERNAME")
        self.password = config.get("MAIL_PASSWORD")
        self.timeout = float(config["MAIL_SMTP_TIMEOUT"])
        self.envelope_from = delivery_address(parseaddr(config["MAIL_DEFAULT_SENDER"])[1])
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            try:
                smtp.ehlo()
                if self.use_tls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self.password or "")
            except BaseException:
                smtp.close()
                raise
        except (OSError, smtplib.SMTPException) as error:
            raise ConnectionLost(f"cannot connect to {self.host}:{self.port}: {error}") from error
        return smtp

    def send(self, row, raw: bytes) -> None:
        reused = self._smtp is not None
        if not reused:
            self._smtp = self._connect()
        recipient = delivery_address(row.to_address)
        options = ["SMTPUTF8"] if _needs_smtputf8(recipient, raw) else []
        try:
            self._smtp.sendmail(self.envelope_from, [recipient], raw, mail_options=options)
        except smtplib.SMTPNotSupportedError as error:
            # Raised before MAIL FROM is sent: the connection stays usable for the next message. Retrying
            # would change nothing until the server is configured differently, so fail now and say why.
            raise PermanentError(
                f"{recipient} has non-ASCII characters before the @, which need SMTPUTF8 (RFC 6531), and the "
                f"mail server {self.host}:{self.port} does not offer it ({error}). The message is kept; "
                "it can be sent again once the server offers SMTPUTF8."
            ) from error
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()), (0, b""))
            _raise_for_code(code, text, "RCPT", bounce=True)
        except smtplib.SMTPResponseException as error:  # sender refused, DATA refused, ...
            _raise_for_code(error.smtp_code, error.smtp_error, type(error).__name__, bounce=False)
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            self._drop()
            raise ConnectionLost(f"connection lost: {error}", reused=reused) from error
        except smtplib.SMTPException as error:
            self._drop()
            raise ConnectionLost(f"SMTP error: {error}", reused=reused) from error

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            finally:
                self._smtp = None

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._drop()


def _raise_for_code(code: int, text, stage: str, *, bounce: bool):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    message = f"{stage} {code} {text}".strip()
    if 500 <= code < 600:
        raise PermanentError(message, bounce=bounce)
    raise TransientError(message)


def _needs_smtputf8(address: str, raw: bytes) -> bool:
    if needs_smtputf8(address):
        return True
    head = raw.split(b"\r\n\r\n", 1)[0]
    return not head.isascii()


class FileTransport:
    """Development: each message becomes an .eml file that any mail client opens."""

    def __init__(self, directory: str):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def send(self, row, raw: bytes) -> None:
        name = f"{row.id:08d}-{row.kind}.eml"
        path = self.directory / name
        tmp = path.with_suffix(".tmp")
        # Write then rename: a reader never sees half a message.
        tmp.write_bytes(raw)
        os.replace(tmp, path)

    def close(self) -> None:
        pass


class Pacer:
    """At most `rate` messages per second from this process (0: no limit)."""

    def __init__(self, rate: float, stop: threading.Event):
        self.interval = 1.0 / rate if rate and rate > 0 else 0.0
        self.stop = stop
        self._next = time.monotonic()

    def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if self._next > now:
            self.stop.wait(self._next - now)
        self._next = max(self._next, now) + self.interval


def backoff_seconds(attempts: int) -> float:
    """60 s, 120 s, 240 s, ... capped at MAIL_RETRY_MAX_SECONDS; never under a second, so a
    single run never retries the same row twice."""
    base = float(_setting("MAIL_RETRY_BASE_SECONDS"))
    cap = float(_setting("MAIL_RETRY_MAX_SECONDS"))
    return max(1.0, min(cap, base * (2 ** max(0, attempts - 1))))


class Sender:
    """Delivers due outbox rows. One instance per worker; not shared between threads."""

    def __init__(self, *, worker_id: str | None = None, stop: threading.Event | None = None):
        config = current_app.config
        self.worker_id = worker_id or new_worker_id()
        self.stop = stop or threading.Event()
        self.batch_size = int(_setting("MAIL_BATCH_SIZE"))
        self.lease = timedelta(seconds=int(_setting("MAIL_LEASE_SECONDS")))
        self.max_attempts = int(_setting("MAIL_MAX_ATTEMPTS"))
        rate = float(config.get("MAIL_RATE_LIMIT") or 0)
        if rate > 0:
            # A batch must finish well within its lease, or another worker would take it over.
            self.batch_size = max(1, min(self.batch_size, int(rate * self.lease.total_seconds() / 2)))
        self.pacer = Pacer(rate, self.stop)
        if config.get("MAIL_SERVER"):
            self.transport = SMTPTransport(config)
        else:
            self.transport = FileTransport(config["MAIL_OUTBOX_DIR"])
        self._marks: Connection | None = None

    def _outcomes(self) -> Connection:
        """The connection that records outcomes: a commit per message, not waiting for the disk (see
        the module docstring). Detached from the pool, so that its setting never reaches another user."""
        if self._marks is None or self._marks.closed or self._marks.invalidated:
            connection = db.engine.connect()
            connection.detach()
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SET synchronous_commit TO off")
            else:
                connection.exec_driver_sql("PRAGMA synchronous = NORMAL")
            connection.commit()
            self._marks = connection
        return self._marks

    def _mark(self, statement) -> None:
        connection = self._outcomes()
        try:
            connection.execute(statement)
            connection.commit()
        except Exception:
            connection.rollback()
            raise

    # -- claiming --------------------------------------------------------------------------------

    def _claim(self, now: datetime, condition) -> list:
        due = select(_table.c.id).where(condition)
        due = due.order_by(_table.c.next_attempt_at, _table.c.id).limit(self.batch_size)
        if db.session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        stmt = (
            update(_table)
            .where(_table.c.id.in_(due.scalar_subquery()))
            .values(
                status="sending",
                claimed_by=self.worker_id,
                lease_until=now + self.lease,
                # Counted at claim time so that a message that kills its worker still runs out.
                attempts=_table.c.attempts + 1,
            )
            .returning(*_COLUMNS)
        )
        rows = db.session.execute(stmt).all()
        db.session.commit()
        return sorted(rows, key=lambda row: row.id)

    def claim_batch(self, now: datetime, due_by: datetime) -> list:
        expired = and_(_table.c.status == "sending", _table.c.lease_until < now)
        rows = self._claim(now, expired)
        if len(rows) < self.batch_size:
            queued = and_(_table.c.status == "queued", _table.c.next_attempt_at <= due_by)
            rows += self._claim(now, queued)
        return rows

    # -- outcomes (each its own small commit) ---------------------------------------------------

    def _finish(self, row, **values) -> None:
        self._mark(
            update(_table)
            .where(_table.c.id == row.id, _table.c.claimed_by == self.worker_id)
            .values(lease_until=None, **values)
        )

    def _retry_or_fail(self, row, error: str, report: DeliveryReport, now: datetime) -> None:
        if row.attempts >= self.max_attempts:
            self._finish(row, status="failed", last_error=error[:2000])
            report.failed += 1
            log.warning("outbox %s to %s failed after %s attempts: %s", row.id, row.to_address, row.attempts, error)
            return
        later = now + timedelta(seconds=backoff_seconds(row.attempts))
        self._finish(row, status="queued", claimed_by=None, next_attempt_at=later, last_error=error[:2000])
        report.retried += 1

    def _release(self, rows: list) -> None:
        """Give back rows this worker claimed but never tried (stopping): no attempt is counted."""
        if not rows:
            return
        self._mark(
            update(_table)
            .where(_table.c.id.in_([row.id for row in rows]), _table.c.claimed_by == self.worker_id)
            .values(status="queued", claimed_by=None, lease_until=None, attempts=_table.c.attempts - 1)
        )

    # -- delivering -----------------------------------------------------------------------------

    def _content(self, row) -> bytes | None:
        """The bytes to send; None: nothing to send any more (skip it)."""
        if row.raw is not None:
            return bytes(row.raw)
        renderer = renderer_for(row.kind)
        if renderer is None:
            raise Unbuildable(f"no renderer is registered for {row.kind!r} messages")
        return renderer.render(row)

    def deliver(self, now: datetime | None = None) -> DeliveryReport:
        """Deliver everything due now, batch after batch, then return. Each row is tried at most
        once per call. `now` is for tests; it fixes the clock for the whole call."""
        report = DeliveryReport()
        fixed_now = now
        started = now or utcnow()
        try:
            while not self.stop.is_set():
                clock = fixed_now or utcnow()
                rows = self.claim_batch(clock, started)
                if not rows:
                    break
                report.claimed += len(rows)
                self._deliver_batch(rows, report, fixed_now)
                db.session.rollback()  # the renderers only read: end the batch's read transaction
        finally:
            db.session.rollback()  # leave no transaction open between runs
        return report

    def _unbuildable(self, row, error: Exception, rest: list, report: DeliveryReport, clock: datetime) -> set[int]:
        """A message that cannot be built will not build on the next try either: it fails now, with
        the reason. Its kind's on_failure may stop what fails with it (a campaign's other messages);
        returns the ids among `rest` (this batch's rows still to go) that it failed."""
        log.error("outbox %s (%s) could not be built: %s", row.id, row.kind, error, exc_info=error)
        reason = f"The message could not be built ({type(error).__name__}: {error})."
        renderer = renderer_for(row.kind)
        stopped = renderer.on_failure(row, error, clock, self.worker_id) if renderer and renderer.on_failure else None
        db.session.commit()  # what on_failure changed, before this row's outcome is recorded on its own connection
        if stopped is not None:
            label, reason = stopped
            report.stopped[label] = reason
            log.error("%s stopped: %s", label, reason)
        self._finish(row, status="failed", last_error=reason[:2000])
        report.failed += 1
        if stopped is None or not rest:
            return set()
        failed = select(_table.c.id).where(_table.c.id.in_([r.id for r in rest]), _table.c.status == "failed")
        return set(db.session.scalars(failed))

    def _deliver_batch(self, rows: list, report: DeliveryReport, fixed_now: datetime | None) -> None:
        connection_down: str | None = None
        failed_with_another: set[int] = set()  # rows stopped with a message that could not be built
        for index, row in enumerate(rows):
            if self.stop.is_set():
                self._release(rows[index:])
                return
            clock = fixed_now or utcnow()
            if connection_down:
                # The server went away earlier in this batch: do not hammer it message by message.
                self._retry_or_fail(row, connection_down, report, clock)
                continue
            if row.id in failed_with_another:
                report.failed += 1
                continue
            try:
                content = self._content(row)
            except (OperationalError, InterfaceError) as error:
                # The database went away while building: like a server that is down, try later.
                db.session.rollback()
                self._retry_or_fail(row, f"database unavailable while building: {error}", report, clock)
                continue
            except Exception as error:  # one message's renderer bug must not stop the whole worker
                db.session.rollback()
                failed_with_another |= self._unbuildable(row, error, rows[index + 1 :], report, clock)
                continue
            if content is None:
                self._finish(row, status="suppressed", last_error=None)
                report.suppressed += 1
                continue
            self.pacer.wait()
            outcome, error = self._attempt(row, content)
            self._record(row, outcome, error, report, clock)
            if outcome is Outcome.CONNECTION_DOWN:
                connection_down = error

    def _attempt(self, row, content: bytes) -> tuple[Outcome, str]:
        """Hand one message to the SMTP server; its one outcome and the error text."""
        try:
            try:
                self.transport.send(row, content)
            except ConnectionLost as lost:
                if not lost.reused:
                    raise
                # An open connection failed (servers drop idle ones): once more on a fresh one, and
                # whatever that attempt says is this message's outcome.
                self.transport.send(row, content)
        except ConnectionLost as error:
            return Outcome.CONNECTION_DOWN, str(error)
        except TransientError as error:
            return Outcome.RETRY, str(error)
        except PermanentError as error:
            return (Outcome.BOUNCED if error.bounce else Outcome.FAILED), str(error)
        return Outcome.SENT, ""

    def _record(self, row, outcome: Outcome, error: str, report: DeliveryReport, now: datetime) -> None:
        """Record one attempt's outcome: each outcome is handled here, once."""
        if outcome is Outcome.SENT:
            self._finish(row, status="sent", sent_at=utcnow(), last_error=None)
            report.sent += 1
        elif outcome in (Outcome.RETRY, Outcome.CONNECTION_DOWN):
            self._retry_or_fail(row, error, report, now)
        else:
            if outcome is Outcome.BOUNCED:
                suppress(row.to_address, error)
                db.session.commit()
                report.bounced += 1
            self._finish(row, status="failed", last_error=error[:2000])
            report.failed += 1

    def close(self) -> None:
        self.transport.close()
        if self._marks is not None:
            self._marks.close()
            self._marks = None


def deliver_due(now: datetime | None = None, *, worker_id: str | None = None) -> DeliveryReport:
    """Deliver what is due once, over one connection, and close it."""
    sender = Sender(worker_id=worker_id)
    try:
        return sender.deliver(now)
    finally:
        sender.close()


def _housekeeping() -> None:
    """While idle: run the hooks the parts registered (outbox/registry.py), such as resuming an
    interrupted campaign or expiring unconfirmed seat holds, each committed on its own."""
    for hook in idle_hooks():
        try:
            hook(utcnow())
            db.session.commit()
        except Exception:  # housekeeping must never stop delivery
            log.exception("outbox worker: idle hook %r failed", hook)
            db.session.rollback()


def run_worker(stop: threading.Event, *, poll_seconds: float = 1.0, echo=None) -> None:
    """Deliver until `stop` is set: poll, and sleep briefly when there is nothing to do."""
    sender = Sender(stop=stop)
    try:
        while not stop.is_set():
            try:
                report = sender.deliver()
            except Exception:  # database briefly unavailable: log, wait, carry on
                log.exception("outbox worker: delivery pass failed")
                db.session.rollback()
                sender.transport.close()
                stop.wait(max(poll_seconds, 5.0))
                continue
            if report.claimed:
                if echo:
                    echo(str(report))
            else:
                # Idle: close the connection rather than let the server time it out under us.
                sender.transport.close()
                _housekeeping()
                stop.wait(poll_seconds)
    finally:
        sender.close()
        db.session.remove()
