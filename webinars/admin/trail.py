"""The audit trail as organisers read it: each event with who did it, the webinar and the person it
is about, named from each part's own queries (the trail itself holds only ids)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from ..catalogue import queries as catalogue_queries
from ..extensions import db
from ..registrations import queries as registration_queries
from .models import Organiser


@dataclass(frozen=True)
class Line:
    at: datetime
    action: str
    details: str
    organiser: Organiser | None
    webinar: object | None  # the catalogue's Webinar, or None (no webinar, or a discarded draft)
    registration_id: int | None
    registration: registration_queries.Person | None


def lines(events: Sequence) -> list[Line]:
    """The events, in their order, with names put to their ids (three queries, whatever the number)."""
    organiser_ids = {event.organiser_id for event in events if event.organiser_id is not None}
    organisers = (
        {o.id: o for o in db.session.scalars(select(Organiser).where(Organiser.id.in_(organiser_ids)))}
        if organiser_ids
        else {}
    )
    webinars = catalogue_queries.webinars_by_id(event.webinar_id for event in events)
    people = registration_queries.people(event.registration_id for event in events)
    return [
        Line(
            at=event.at,
            action=event.action,
            details=event.details,
            organiser=organisers.get(event.organiser_id),
            webinar=webinars.get(event.webinar_id),
            registration_id=event.registration_id,
            registration=people.get(event.registration_id),
        )
        for event in events
    ]
