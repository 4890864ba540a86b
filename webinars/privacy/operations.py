"""Export and erase everything held about one address. Nothing here commits: the caller does, once.

An address matches however it was spelt (Ana.Lima@Example.org is ana.lima@example.org): mailboxes
are case-insensitive in practice, and the person asking cannot know how each form stored it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext

from .. import audit
from ..addresses import lookup_key
from ..audit import Actor
from ..newsletter import operations as newsletter
from ..outbox import operations as outbox
from ..ratelimit import forget_address, records_for_address
from ..registrations import operations as registrations
from ..registrations import queries as registration_queries


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def normalise(email: str) -> str:
    """The address as the service writes it (webinars/addresses.py), lower-cased."""
    return lookup_key(email)


def fingerprint(email: str) -> str:
    """A keyed digest of the address, for the audit trail: it shows that two requests were about the
    same address, and lets an organiser who is given the address check it, without storing it."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, normalise(email).encode(), hashlib.sha256).hexdigest()[:16]


@dataclass
class Holdings:
    """How much is held about one address, part by part."""

    subscriber: int = 0
    consent_events: int = 0
    suppression: int = 0
    registrations: int = 0
    messages: int = 0
    rate_limit_hits: int = 0
    mail_files: int = 0
    lines: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(
            (
                self.subscriber,
                self.suppression,
                self.registrations,
                self.messages,
                self.rate_limit_hits,
                self.mail_files,
            )
        )

    def describe(self) -> list[str]:
        """One line per kind of data held, for people (the admin page, the command, the audit trail)."""
        lines = []
        if self.subscriber:
            lines.append(
                ngettext(
                    "a newsletter subscription with %(num)s consent record",
                    "a newsletter subscription with %(num)s consent records",
                    self.consent_events,
                )
            )
        if self.suppression:
            lines.append(_("a suppressed address (after a hard bounce)"))
        # Each written out, so that the catalogue extraction sees the messages.
        if self.registrations:
            lines.append(ngettext("%(num)s registration", "%(num)s registrations", self.registrations))
        if self.messages:
            lines.append(ngettext("%(num)s email in the outbox", "%(num)s emails in the outbox", self.messages))
        if self.rate_limit_hits:
            lines.append(ngettext("%(num)s rate-limit record", "%(num)s rate-limit records", self.rate_limit_hits))
        if self.mail_files:
            lines.append(ngettext("%(num)s .eml file", "%(num)s .eml files", self.mail_files))
        return lines


def _mail_dir() -> str | None:
    # Only development writes .eml files; with MAIL_SERVER set the folder is not ours to scan.
    return None if current_app.config.get("MAIL_SERVER") else current_app.config.get("MAIL_OUTBOX_DIR")


def find(email: str) -> Holdings:
    """What is held about `email`, counted, without changing anything."""
    subscriber = newsletter.subscriber_of(email)
    directory = _mail_dir()
    return Holdings(
        subscriber=int(subscriber is not None),
        consent_events=len(subscriber.consent_events) if subscriber is not None else 0,
        suppression=int(outbox.suppression_of(email) is not None),
        registrations=len(registration_queries.registrations_of(email)),
        messages=len(outbox.messages_to(email)),
        rate_limit_hits=len(records_for_address(email)),
        mail_files=len(outbox.mail_files_to(email, directory)) if directory else 0,
    )


def export(email: str, *, now: datetime) -> dict:
    """Everything held about `email`, as JSON-ready data."""
    messages = outbox.messages_to(email)
    subjects = newsletter.campaign_subjects(message.campaign_id for message in messages)
    directory = _mail_dir()
    suppression = outbox.suppression_of(email)
    return {
        "email": normalise(email),
        "exported_at": _iso(now),
        **newsletter.export_subscriber(email),
        "suppression": {
            "email": suppression.email,
            "reason": suppression.reason,
            "created_at": _iso(suppression.created_at),
        }
        if suppression is not None
        else None,
        "registrations": registrations.export_registrations(email),
        "messages": [
            {
                "kind": message.kind,
                "to": message.to_address,
                "status": message.status,
                "subject": outbox.subject_of(message) or subjects.get(message.campaign_id),
                "created_at": _iso(message.created_at),
                "sent_at": _iso(message.sent_at),
            }
            for message in messages
        ],
        "rate_limit_hits": records_for_address(email),
        "mail_files": [path.name for path in outbox.mail_files_to(email, directory)] if directory else [],
    }


def erase(email: str, *, now: datetime) -> Holdings:
    """Erase everything held about `email`: the subscription, its consent records and any suppression
    are deleted, registrations anonymised (counts stay right), messages deleted with their bytes and
    links, rate-limit records and development .eml files removed. Returns what there was."""
    newsletter_part = newsletter.erase_subscriber(email)
    directory = _mail_dir()
    return Holdings(
        subscriber=newsletter_part["subscriber"],
        consent_events=newsletter_part["consent_events"],
        suppression=outbox.erase_suppressions_of(email),
        registrations=registrations.erase_registrations(email, now=now),
        messages=outbox.erase_messages_to(email),
        rate_limit_hits=forget_address(email),
        # Files cannot be rolled back with the transaction: removed last, after everything else worked.
        mail_files=outbox.erase_mail_files_to(email, directory) if directory else 0,
    )


def record(action: str, email: str, holdings: Holdings, *, by: Actor | None, now: datetime) -> None:
    """The request in the audit trail: what was held, and the address's fingerprint, never the address."""
    what = "; ".join(holdings.describe()) or _("nothing")
    who = _("an organiser") if by is not None else _("the command line")
    details = _("Address fingerprint %(fingerprint)s (from %(who)s)", fingerprint=fingerprint(email), who=who)
    details += "\n" + what
    audit.record(action, by, now, details)
