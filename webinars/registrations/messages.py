"""Organisers' messages to the people registered for a webinar, through the outbox.

The request (or `flask registrations message`) records the message; its recipients are then queued as
intents in registration-id order, a batch per transaction with a checkpoint, as campaigns are, so an
interrupted expansion resumes where it stopped (the mail worker's idle hook finishes it) and the
outbox's group key makes sure nobody is queued twice. The mail worker builds each message: the text is
rendered once per message and language (the registrant's, stored when they registered; a message may
carry a version per language) with a marker where each registrant's own manage link goes.

A registrant who left the audience before their message was built (cancelled, erased) is skipped.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, render_template
from flask_babel import gettext as _
from sqlalchemy import and_, func, select, update

from ..addresses import recipient_header
from ..cache import BoundedCache
from ..catalogue.models import Webinar
from ..database import utcnow
from ..extensions import db
from ..forms import is_one_line
from ..language import LOCALES, in_language, language_of
from ..markup import markdown_to_html, markdown_to_text
from ..outbox import queries as outbox_queries
from ..outbox.messages import build_email
from ..outbox.models import OutboxMessage
from ..outbox.operations import enqueue_group, enqueue_intent, message_bytes
from .models import MESSAGE_AUDIENCES, RegistrantMessage, Registration
from .notifications import manage_url, page_url

KIND = "registrant_message"
TEST_KIND = "registrant_message_test"
# Who each audience is: the registrations a message goes to (their addresses not erased).
AUDIENCE_STATUSES = {
    "confirmed": ("confirmed",),
    "waitlisted": ("waitlisted",),
    "all": ("confirmed", "pending", "waitlisted"),
}
MAX_BODY = 100_000
BATCH_SIZE = 1000


class MessageError(ValueError):
    """A message that cannot be sent as it is (said to the organiser beside the field or by the command)."""


def _audience(webinar_id: int, audience: str):
    return and_(
        Registration.webinar_id == webinar_id,
        Registration.status.in_(AUDIENCE_STATUSES[audience]),
        Registration.erased_at.is_(None),
    )


def count_recipients(webinar_id: int, audience: str) -> int:
    """How many registrants a message to `audience` reaches now (the same rule as the expansion's)."""
    return db.session.scalar(select(func.count(Registration.id)).where(_audience(webinar_id, audience)))


def check_text(subject: str, body: str) -> tuple[str, str]:
    """The subject and body as they will be sent; MessageError when they cannot be."""
    subject, body = (subject or "").strip(), (body or "").strip()
    # Every line break counts (U+2028 and the like): the subject becomes a mail header.
    if not subject or len(subject) > 300 or not is_one_line(subject):
        raise MessageError(_("The subject must be one line of at most 300 characters."))
    if not body or len(body) > MAX_BODY:
        raise MessageError(_("Write a message of at most %(num)s characters.", num=MAX_BODY))
    return subject, body


def create_message(
    webinar: Webinar,
    *,
    subject: str,
    body: str,
    audience: str,
    translations: dict[str, tuple[str, str]] | None = None,
    created_by: str,
    now: datetime,
) -> RegistrantMessage:
    """Record a message to the webinar's registrants (`audience`: 'confirmed', 'waitlisted' or 'all'),
    with optional versions by language {language: (subject, body)}; expand_message() queues it."""
    if audience not in MESSAGE_AUDIENCES:
        raise MessageError(f"unknown audience {audience!r}")
    subject, body = check_text(subject, body)
    versions = {}
    for language, (other_subject, other_body) in (translations or {}).items():
        if language in LOCALES and (other_subject or other_body):
            other_subject, other_body = check_text(other_subject, other_body)
            versions[language] = {"subject": other_subject, "body": other_body}
    message = RegistrantMessage(
        webinar_id=webinar.id,
        audience=audience,
        subject=subject,
        body_markdown=body,
        translations=versions,
        status="expanding",
        created_by=created_by[:254],
        created_at=now,
    )
    db.session.add(message)
    db.session.flush()
    return message


def expand_message(message: RegistrantMessage, batch_size: int = BATCH_SIZE) -> int:
    """Queue one intent per registrant of the audience, in id-ordered batches, committing the checkpoint
    with each batch; returns how many were added. Resumable: a second call carries on from the
    checkpoint, and the group key keeps anyone from being queued twice."""
    if message.status != "expanding":
        return 0
    added = 0
    while True:
        rows = db.session.execute(
            select(Registration.id, Registration.email)
            .where(_audience(message.webinar_id, message.audience), Registration.id > message.expanded_through_id)
            .order_by(Registration.id)
            .limit(batch_size)
        ).all()
        if not rows:
            break
        recipients = [(email, {"m": message.id, "r": registration_id}) for registration_id, email in rows]
        count = enqueue_group(KIND, message.group_key, recipients, now=utcnow())
        message.expanded_through_id = rows[-1][0]
        message.recipients_count = (message.recipients_count or 0) + count
        db.session.commit()
        added += count
    message.status = "sending"
    db.session.commit()
    return added


def message_progress(message: RegistrantMessage) -> dict[str, int]:
    """How many of its messages are queued, sending, sent, failed or suppressed (skipped), and 'total'."""
    return outbox_queries.group_counts(message.group_key)


def messages_of(webinar_id: int) -> list[tuple[RegistrantMessage, dict]]:
    """A webinar's messages, newest first, each with its delivery counts."""
    rows = db.session.scalars(
        select(RegistrantMessage)
        .where(RegistrantMessage.webinar_id == webinar_id)
        .order_by(RegistrantMessage.created_at.desc(), RegistrantMessage.id.desc())
    ).all()
    return [(row, message_progress(row)) for row in rows]


def tend_messages(now: datetime | None = None, stale_after: timedelta = timedelta(minutes=2)) -> None:
    """The mail worker's housekeeping: finish an expansion a crash interrupted, and mark messages done
    once everything is delivered. Commits; safe to run from several workers."""
    now = now or utcnow()
    stale = select(RegistrantMessage).where(
        RegistrantMessage.status == "expanding", RegistrantMessage.created_at < now - stale_after
    )
    for message in db.session.scalars(stale.with_for_update(skip_locked=True)).all():
        expand_message(message)
    for message in db.session.scalars(select(RegistrantMessage).where(RegistrantMessage.status == "sending")):
        progress = message_progress(message)
        if not progress["queued"] and not progress["sending"]:
            message.status, message.finished_at = "done", now
    db.session.commit()


def queue_test(webinar: Webinar, *, subject: str, body: str, to: str, language: str, now: datetime):
    """Send a message as it would look, to `to` (the organiser writing it), before sending it to anyone:
    its subject marked as a test, and the webinar's page where each registrant's own link will be."""
    subject, body = check_text(subject, body)
    payload = {"w": webinar.id, "subject": subject, "body": body, "lang": language_of(language)}
    return enqueue_intent(TEST_KIND, to, payload, now=now)


# -- rendering, in the mail worker ---------------------------------------------------------------------

MESSAGE_CACHE_SIZE = 16


@dataclass(frozen=True)
class _Prepared:
    subject: str
    text_parts: tuple[str, ...]  # split where the registrant's manage link goes
    html_parts: tuple[str, ...]


def _render(webinar: Webinar, subject: str, body: str, manage: str) -> tuple[str, str]:
    context = {
        "webinar": webinar,
        "site_name": current_app.config.get("SITE_NAME", ""),
        "page_url": page_url(webinar),
        "manage_url": manage,
        "body_html": markdown_to_html(body),
        "body_text": markdown_to_text(body),
        "subject": subject,
    }
    return (
        render_template("emails/registrations/message.txt", **context),
        render_template("emails/registrations/message.html", **context),
    )


def _prepared(message_id: int, language: str) -> _Prepared | None:
    def build() -> _Prepared | None:
        message = db.session.get(RegistrantMessage, message_id)
        webinar = db.session.get(Webinar, message.webinar_id) if message is not None else None
        if webinar is None:
            return None
        subject, body = message.text_in(language)
        marker = "ZR" + secrets.token_hex(12)  # in no template or body, so replacing it is exact
        with in_language(language):
            text, html = _render(webinar, subject, body, marker)
        return _Prepared(subject, tuple(text.split(marker)), tuple(html.split(marker)))

    cache = current_app.extensions.setdefault("registrations.message_cache", BoundedCache(MESSAGE_CACHE_SIZE))
    return cache.get_or_build((message_id, language), build)


def render_message(row) -> bytes | None:
    """A registrant's copy of an organiser's message; None (skipped) when they are gone from its audience."""
    registration = db.session.get(Registration, row.payload["r"])
    message = db.session.get(RegistrantMessage, row.payload["m"])
    if registration is None or registration.erased_at is not None or message is None:
        return None
    if registration.status not in AUDIENCE_STATUSES[message.audience]:
        return None  # cancelled (or moved) since the message was queued
    language = language_of(registration.language)
    prepared = _prepared(message.id, language)
    if prepared is None:
        return None
    link = manage_url(registration)
    email = build_email(
        to=recipient_header(" ".join(registration.name.split())[:200], row.to_address),
        subject=prepared.subject,
        text=link.join(prepared.text_parts),
        html=link.join(prepared.html_parts),
    )
    return message_bytes(email)


def render_test(row) -> bytes | None:
    webinar = db.session.get(Webinar, row.payload["w"])
    if webinar is None:
        return None
    with in_language(row.payload.get("lang")):
        text, html = _render(webinar, row.payload["subject"], row.payload["body"], page_url(webinar))
        subject = _("[Test] %(subject)s", subject=row.payload["subject"])
    return message_bytes(build_email(to=row.to_address, subject=subject, text=text, html=html))


def message_failed(row, error: Exception, now, worker_id: str) -> tuple[str, str]:
    """A message that cannot be built will not build on the next try either: the whole message stops
    with the reason, its other queued copies failed with it, rather than each retried for hours."""
    reason = f"This message could not be built ({type(error).__name__}: {error}); nothing more of it is sent."
    message_id = row.payload.get("m")
    db.session.execute(
        update(RegistrantMessage)
        .where(RegistrantMessage.id == message_id, RegistrantMessage.status.in_(("expanding", "sending")))
        .values(status="failed", error=reason[:2000], finished_at=now)
    )
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.group_key == f"registrant-message:{message_id}", OutboxMessage.status == "queued")
        .values(status="failed", last_error=reason[:2000])
        .execution_options(synchronize_session=False)
    )
    return f"Message {message_id} to registrants", reason
