"""Imports every model so that the metadata (and Alembic) sees the whole schema."""

from .admin.models import AuditEvent, Organiser
from .catalogue.models import AgendaSection, Partner, RelatedDocument, Speaker, Topic, Webinar
from .newsletter.models import Campaign, ConsentEvent, Subscriber, Suppression
from .outbox.models import OutboxMessage
from .ratelimit import RateLimitBackoff, RateLimitCounter
from .registrations.models import Registration

__all__ = [
    "AgendaSection",
    "AuditEvent",
    "Campaign",
    "ConsentEvent",
    "Organiser",
    "OutboxMessage",
    "Partner",
    "RateLimitBackoff",
    "RateLimitCounter",
    "Registration",
    "RelatedDocument",
    "Speaker",
    "Subscriber",
    "Suppression",
    "Topic",
    "Webinar",
]
