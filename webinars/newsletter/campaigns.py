"""Building each campaign message at send time, fast: render once per campaign, then fill in per recipient.

The outbox sender calls `campaign_message_bytes(row)` for campaign rows: it is the renderer the
newsletter registers for the "campaign" kind (newsletter/__init__.py). Rendering
templates and building an EmailMessage per recipient costs milliseconds; here the campaign is
rendered once per process and language (the footer is in each subscriber's language) with a random
marker where each recipient's token goes, and a message
is the marker replaced, the two bodies quoted-printable encoded (binascii, in C) and fresh
headers. Quoted-printable is encoded after substitution, so every line stays valid whatever the
token's length.
"""

from __future__ import annotations

import binascii
import secrets
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from flask import current_app, render_template
from flask_babel import gettext as _
from sqlalchemy import select

from ..addresses import delivery_address, mailbox_header
from ..cache import BoundedCache
from ..extensions import db
from ..language import in_language, language_of
from ..outbox.messages import build_email
from ..outbox.models import OutboxMessage, Suppression
from ..outbox.operations import message_bytes
from ..urls import external_url, service_domain
from . import operations
from .models import Campaign, Subscriber

# How many upcoming rows of a campaign to look up in one query, and for how long an answer holds.
LOOKAHEAD = 500
LOOKUP_TTL_SECONDS = 5.0
CACHE_KEY = "newsletter.campaign_cache"


@dataclass(frozen=True)
class _Prepared:
    """One campaign, rendered once: header block and both bodies split around the token marker."""

    campaign_id: int
    head: bytes  # From, Subject, MIME-Version, List-Unsubscribe-Post, Content-Type (CRLF ended)
    text_parts: tuple[str, ...]
    html_parts: tuple[str, ...]
    boundary: bytes
    domain: str
    unsubscribe_prefix: str


@dataclass
class _Recipient:
    email: str
    token_version: int
    deliverable: bool
    loaded_at: float
    language: str = "en"


# Rendered campaigns kept per worker: the ones being sent at the same time, with room to spare; the
# least recently used goes first, so a long-lived worker does not keep every campaign it ever sent.
CAMPAIGN_CACHE_SIZE = 8


class _Cache:
    """Per app: prepared campaigns and a look-ahead of recipients' states."""

    def __init__(self) -> None:
        self.campaigns = BoundedCache(CAMPAIGN_CACHE_SIZE)  # by (campaign id, language)
        self.recipients: dict[tuple[int, int], _Recipient] = {}


def _cache() -> _Cache:
    # Kept on the app, not the module: each app (and each test database) has its own campaigns.
    return current_app.extensions.setdefault(CACHE_KEY, _Cache())


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def _set_header(head: EmailMessage, name: str, value: str) -> None:
    try:
        head[name] = value
    except (ValueError, TypeError) as error:
        # Said so that an organiser knows what to correct (the sender stops the campaign with this).
        raise ValueError(f"the {name} header ({value!r}) cannot be written: {error}") from error


def _prepare(campaign: Campaign, language: str) -> _Prepared:
    with in_language(language):
        return _prepare_now(campaign, campaign.version_in(language))


def _prepare_now(campaign: Campaign, version: dict[str, str]) -> _Prepared:
    marker = "ZQ" + secrets.token_hex(12)  # never in any template or body, so replacing it is exact
    context = {
        "campaign": campaign,
        "subject": version["subject"],
        "body_html": version["body_html"],
        "body_text": version["body_text"],
        "unsubscribe_url": operations.unsubscribe_url(marker),
        "preferences_url": operations.preferences_url(marker),
        "signup_url": external_url("newsletter.signup"),
    }
    text = _crlf(render_template("emails/newsletter/campaign.txt", **context))
    html = _crlf(render_template("emails/newsletter/campaign.html", **context))
    boundary = "==nl_" + secrets.token_hex(16)  # '=' never starts a quoted-printable line's text
    head = EmailMessage(policy=SMTP)
    _set_header(head, "From", mailbox_header(current_app.config["MAIL_DEFAULT_SENDER"]))
    _set_header(head, "Subject", version["subject"])  # encoded (RFC 2047) and checked for line breaks once, here
    head["MIME-Version"] = "1.0"
    head["Auto-Submitted"] = "auto-generated"
    head["Precedence"] = "bulk"
    head["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    head["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
    head_bytes = bytes(head)
    return _Prepared(
        campaign_id=campaign.id,
        head=head_bytes[: head_bytes.index(b"\r\n\r\n") + 2],
        text_parts=tuple(text.split(marker)),
        html_parts=tuple(html.split(marker)),
        boundary=boundary.encode(),
        domain=service_domain(),
        unsubscribe_prefix=operations.unsubscribe_url(marker).split(marker)[0],
    )


def _prepared(campaign_id: int, language: str) -> _Prepared | None:
    def build() -> _Prepared | None:
        campaign = db.session.get(Campaign, campaign_id)
        return None if campaign is None else _prepare(campaign, language)

    return _cache().campaigns.get_or_build((campaign_id, language), build)


def _load_recipients(row: OutboxMessage, cache: _Cache) -> None:
    """Look up this row's subscriber and those of the next LOOKAHEAD rows of the campaign at once."""
    query = (
        select(
            OutboxMessage.subscriber_id,
            Subscriber.email,
            Subscriber.status,
            Subscriber.token_version,
            Suppression.id,
            Subscriber.language,
        )
        .join(Subscriber, Subscriber.id == OutboxMessage.subscriber_id)
        .outerjoin(Suppression, Suppression.email == Subscriber.email)
        .where(
            OutboxMessage.campaign_id == row.campaign_id,
            OutboxMessage.id >= row.id,
            OutboxMessage.status.in_(("queued", "sending")),
        )
        .order_by(OutboxMessage.id)
        .limit(LOOKAHEAD)
    )
    now = time.monotonic()
    if len(cache.recipients) > 4 * LOOKAHEAD:
        cache.recipients.clear()  # rows never asked for (sent by another worker) must not pile up
    for subscriber_id, email, status, version, suppressed, language in db.session.execute(query):
        cache.recipients[(row.campaign_id, subscriber_id)] = _Recipient(
            email=email,
            token_version=version,
            deliverable=status == "subscribed" and suppressed is None,
            loaded_at=now,
            language=language_of(language),
        )


def _recipient(row: OutboxMessage) -> _Recipient | None:
    cache = _cache()
    key = (row.campaign_id, row.subscriber_id)
    found = cache.recipients.pop(key, None)
    # Each answer is used once and only while fresh, so someone who leaves is skipped within seconds.
    if found is None or time.monotonic() - found.loaded_at > LOOKUP_TTL_SECONDS:
        _load_recipients(row, cache)
        found = cache.recipients.pop(key, None)
    return found


_date_cache: tuple[int, str] = (0, "")


def _date_header() -> str:
    global _date_cache
    second = int(time.time())
    if _date_cache[0] != second:
        _date_cache = (second, formatdate(second, usegmt=True))
    return _date_cache[1]


def _qp(text: str) -> bytes:
    return binascii.b2a_qp(text.encode("utf-8"))


def campaign_message_bytes(row: OutboxMessage) -> bytes | None:
    """The message for one campaign recipient, or None when they must be skipped.

    None means: the subscriber was erased, is no longer subscribed, or the address is suppressed.
    """
    if row.campaign_id is None or row.subscriber_id is None:
        return None
    recipient = _recipient(row)
    if recipient is None or not recipient.deliverable:
        return None
    prepared = _prepared(row.campaign_id, recipient.language)
    if prepared is None:
        return None
    address = row.to_address
    if any(ch in address for ch in "\r\n\x00") or recipient.email != address:
        return None  # never let a stored value add a header; a changed address is not who we queued
    token = operations.make_token(operations.MANAGE_PURPOSE, {"s": row.subscriber_id, "v": recipient.token_version})
    boundary = prepared.boundary
    message_id = f"<c{prepared.campaign_id}.m{row.id}.{secrets.token_hex(8)}@{prepared.domain}>"
    return b"".join(
        (
            prepared.head,
            # The domain in ASCII form; a non-ASCII local part stays UTF-8 (RFC 6532), which the sender
            # then delivers with SMTPUTF8.
            f"To: {delivery_address(address)}\r\nDate: {_date_header()}\r\nMessage-ID: {message_id}\r\n".encode(),
            f"List-Unsubscribe: <{prepared.unsubscribe_prefix}{token}>\r\n\r\n".encode(),
            b"--",
            boundary,
            b'\r\nContent-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n',
            _qp(token.join(prepared.text_parts)),
            b"\r\n--",
            boundary,
            b'\r\nContent-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n',
            _qp(token.join(prepared.html_parts)),
            b"\r\n--",
            boundary,
            b"--\r\n",
        )
    )


def campaign_failed(row, error: Exception, now, worker_id: str) -> tuple[str, str]:
    """A campaign message that cannot be built will not build on the next try either (the same
    campaign, rendered the same way): the whole campaign stops with the reason, once, for everyone
    to see, instead of each of its messages being retried for hours. Never commits (the worker does)."""
    reason = (
        f"The messages of this campaign could not be built ({type(error).__name__}: {error}); "
        "nothing more of it is sent. Correct the campaign and send it again as a new one."
    )
    operations.stop_campaign(row.campaign_id, reason, now=now, keep_claimed_by=worker_id)
    return f"Campaign {row.campaign_id}", reason


def render_campaign_test(row) -> bytes | None:
    """A campaign as its subscribers will read it, sent to the organiser trying it (kind "campaign_test"):
    rendered afresh (a draft may have changed since the last test), the subject marked as a test, and the
    sign-up page where each subscriber's own preferences and unsubscribe links go."""
    campaign = db.session.get(Campaign, row.payload["c"])
    if campaign is None:
        return None
    language = language_of(row.payload.get("lang"))
    version = campaign.version_in(language)
    with in_language(language):
        signup = external_url("newsletter.signup")
        context = {
            "campaign": campaign,
            "subject": version["subject"],
            "body_html": version["body_html"],
            "body_text": version["body_text"],
            "unsubscribe_url": signup,
            "preferences_url": signup,
            "signup_url": signup,
        }
        message = build_email(
            to=row.to_address,
            subject=_("[Test] %(subject)s", subject=version["subject"]),
            text=render_template("emails/newsletter/campaign.txt", **context),
            html=render_template("emails/newsletter/campaign.html", **context),
        )
    return message_bytes(message)
