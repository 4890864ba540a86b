"""Read-side functions for the catalogue: what is upcoming, what is archived, one webinar."""

from datetime import datetime

from flask import abort
from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from ..extensions import db
from .models import AgendaSection, Topic, Webinar, webinar_topics

PUBLIC_STATUSES = ("published", "cancelled")


def _public(query: Select, topic: Topic | None) -> Select:
    query = query.where(Webinar.status.in_(PUBLIC_STATUSES))
    if topic is not None:
        query = query.where(Webinar.topics.contains(topic))
    return query


def upcoming(now: datetime, topic: Topic | None = None) -> list[Webinar]:
    """Webinars that have not ended yet, soonest first."""
    # "Not over yet": a webinar that is live now is still listed as upcoming.
    query = (
        _public(select(Webinar), topic)
        .where(Webinar.ends_at > now)
        .order_by(Webinar.starts_at, Webinar.id)
        .options(selectinload(Webinar.topics))
    )
    return list(db.session.scalars(query))


def archive(now: datetime, page: int, per_page: int, topic: Topic | None = None):
    """Past published webinars, most recent first, a page at a time."""
    query = (
        _public(select(Webinar), topic)
        .where(Webinar.status == "published", Webinar.ends_at <= now)
        .order_by(Webinar.starts_at.desc(), Webinar.id.desc())
        .options(selectinload(Webinar.topics))
    )
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def topics_in_use() -> list[Topic]:
    query = (
        select(Topic)
        .join(webinar_topics, webinar_topics.c.topic_id == Topic.id)
        .join(Webinar, Webinar.id == webinar_topics.c.webinar_id)
        .where(Webinar.status.in_(PUBLIC_STATUSES))
        .group_by(Topic.id)
        .order_by(Topic.name)
    )
    return list(db.session.scalars(query))


def topic_by_slug(slug: str | None) -> Topic | None:
    if not slug or len(slug) > 80:
        return None
    return db.session.scalar(select(Topic).where(Topic.slug == slug))


def public_webinar_or_404(slug: str) -> Webinar:
    """A published or cancelled webinar with everything its page shows; drafts are not public."""
    if len(slug) > 120:
        abort(404)
    query = (
        select(Webinar)
        .where(Webinar.slug == slug, Webinar.status.in_(PUBLIC_STATUSES))
        .options(
            selectinload(Webinar.topics),
            selectinload(Webinar.sections).selectinload(AgendaSection.speakers),
            selectinload(Webinar.partners),
            selectinload(Webinar.documents),
        )
    )
    webinar = db.session.scalar(query)
    if webinar is None:
        abort(404)
    return webinar


def count_public() -> int:
    return db.session.scalar(select(func.count(Webinar.id)).where(Webinar.status.in_(PUBLIC_STATUSES)))
