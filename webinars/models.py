"""Imports every model so that the metadata (and Alembic) sees the whole schema."""

from .admin.models import Organiser
from .audit import AuditEvent
from .catalogue.models import AgendaSection, Partner, Speaker, Topic, Webinar
from .content.models import ContentItem
from .newsletter.models import Campaign, ConsentEvent, Digest, Subscriber
from .outbox.models import OutboxMessage, Suppression
from .ratelimit import RateLimitBackoff, RateLimitCounter
from .registrations.models import (
    AttendanceImport,
    RegistrantMessage,
    Registration,
    RegistrationAnswer,
    RegistrationQuestion,
)

__all__ = [
    "AgendaSection",
    "AttendanceImport",
    "AuditEvent",
    "Campaign",
    "ConsentEvent",
    "ContentItem",
    "Digest",
    "Organiser",
    "OutboxMessage",
    "Partner",
    "RateLimitBackoff",
    "RateLimitCounter",
    "RegistrantMessage",
    "Registration",
    "RegistrationAnswer",
    "RegistrationQuestion",
    "Speaker",
    "Subscriber",
    "Suppression",
    "Topic",
    "Webinar",
]
