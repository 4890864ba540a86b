"""What the organisers' newsletter screens show: subscribers by state and topic, a search, campaigns and
their progress. The admin composes these; nothing here changes a row."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from ..catalogue.models import Topic
from ..extensions import db
from .models import SUBSCRIBER_STATUSES, Campaign, Digest, Subscriber, subscriber_topics
from .operations import campaign_progress, count_recipients

__all__ = [
    "SubscriberSearch",
    "campaign",
    "campaign_progress",
    "campaigns_with_progress",
    "recent_digests",
    "count_recipients",
    "search_all",
    "search_page",
    "subscriber",
    "subscribers_by_state",
    "subscribers_by_topic",
]


def subscribers_by_state() -> dict[str, int]:
    counts = dict.fromkeys(SUBSCRIBER_STATUSES, 0)
    counts.update(
        dict(db.session.execute(select(Subscriber.status, func.count(Subscriber.id)).group_by(Subscriber.status)).all())
    )
    return counts


def subscribers_by_topic() -> dict[str, dict]:
    """{topic slug: {'name': ..., 'pending': n, 'subscribed': n, 'unsubscribed': n}}, by topic name."""
    by_topic: dict[str, dict] = {}
    rows = db.session.execute(
        select(Topic.slug, Topic.name, Subscriber.status, func.count(Subscriber.id))
        .join(subscriber_topics, subscriber_topics.c.topic_id == Topic.id)
        .join(Subscriber, Subscriber.id == subscriber_topics.c.subscriber_id)
        .group_by(Topic.slug, Topic.name, Subscriber.status)
        .order_by(Topic.name)
    ).all()
    for slug, name, state, number in rows:
        entry = by_topic.setdefault(slug, {"name": name, **dict.fromkeys(SUBSCRIBER_STATUSES, 0)})
        entry[state] = number
    return by_topic


@dataclass(frozen=True)
class SubscriberSearch:
    text: str = ""  # in the address or the name
    status: str = ""
    topic: str = ""  # a topic's slug


def _search_query(search: SubscriberSearch):
    query = select(Subscriber)
    if search.text:
        pattern = "%" + search.text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                func.lower(Subscriber.email).like(pattern, escape="\\"),
                func.lower(Subscriber.name).like(pattern, escape="\\"),
            )
        )
    if search.status in SUBSCRIBER_STATUSES:
        query = query.where(Subscriber.status == search.status)
    if search.topic:
        query = query.where(Subscriber.topics.any(Topic.slug == search.topic))
    return query.order_by(Subscriber.id).options(selectinload(Subscriber.topics))


def search_page(search: SubscriberSearch, page: int, per_page: int = 50):
    return db.paginate(_search_query(search), page=page, per_page=per_page, error_out=False)


def search_all(search: SubscriberSearch) -> list[Subscriber]:
    return list(db.session.scalars(_search_query(search)))


def campaign(campaign_id: int) -> Campaign | None:
    return db.session.get(Campaign, campaign_id)


def recent_digests(limit: int = 50) -> list[tuple[Digest, dict]]:
    """The latest digests, newest period first, each with its delivery counts."""
    from .digest import digest_progress

    rows = db.session.scalars(select(Digest).order_by(Digest.period_end.desc(), Digest.id.desc()).limit(limit)).all()
    return [(row, digest_progress(row)) for row in rows]


def campaigns_with_progress() -> list[tuple[Campaign, dict]]:
    rows = db.session.scalars(select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc())).all()
    return [(row, campaign_progress(row)) for row in rows]


def subscriber(subscriber_id: int) -> Subscriber | None:
    return db.session.get(Subscriber, subscriber_id)
