"""Read-side functions for content items: listings, topic pages, a webinar's related content, feeds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import abort
from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from ..catalogue.models import Topic, Webinar, webinar_topics
from ..extensions import db
from ..signals import PagePanel
from .models import ITEM_TYPES, ContentItem, content_item_topics, webinar_items

PER_PAGE = 20
MAX_PAGE = 100_000  # a deeper ?page= is refused (and no listing is that long)
RELATED_LIMIT = 6


@dataclass
class Page:
    """One page of a listing, counted without COUNT(*): one row more than the page is read to know
    whether another page follows, so a page costs the same with 100 items or 100,000."""

    items: list[ContentItem]
    page: int
    per_page: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def first_number(self) -> int:
        """The listing's numbering continues from page to page (1., 2., ... 21., 22.)."""
        return (self.page - 1) * self.per_page + 1


def newest_first(query: Select) -> Select:
    # Undated items sort as UNDATED: after every dated one.
    return query.order_by(ContentItem.sort_date.desc(), ContentItem.id.desc())


def _public(query: Select, item_type: str | None = None, topic: Topic | None = None) -> Select:
    query = query.where(ContentItem.status == "published")
    if item_type is not None:
        query = query.where(ContentItem.type == item_type)
    if topic is not None:
        tagged = select(content_item_topics.c.item_id).where(
            content_item_topics.c.topic_id == topic.id, content_item_topics.c.item_id == ContentItem.id
        )
        query = query.where(tagged.exists())
    return query


def listing_query(page: int, *, item_type: str | None = None, topic: Topic | None = None, per_page: int = PER_PAGE):
    """The SELECT behind listing(): the page's ids are picked from one index alone (a topic's from
    content_item_topics, which carries copies of the status, type and date), then only those rows are
    read, so page 200 costs little more than page 1."""
    if item_type is not None and item_type not in ITEM_TYPES:
        raise ValueError(item_type)
    if topic is None:
        ids = newest_first(_public(select(ContentItem.id.label("id")), item_type))
    else:
        links = content_item_topics
        ids = select(links.c.item_id.label("id")).where(links.c.topic_id == topic.id, links.c.status == "published")
        if item_type is not None:
            ids = ids.where(links.c.type == item_type)
        ids = ids.order_by(links.c.sort_date.desc(), links.c.item_id.desc())
    chosen = ids.offset((page - 1) * per_page).limit(per_page + 1).subquery()
    return newest_first(select(ContentItem).join(chosen, chosen.c.id == ContentItem.id))


def listing(page: int, *, item_type: str | None = None, topic: Topic | None = None, per_page: int = PER_PAGE) -> Page:
    """Public items, newest first, one page of them; unknown types must be refused by the caller."""
    query = listing_query(page, item_type=item_type, topic=topic, per_page=per_page)
    rows = list(db.session.scalars(query))
    return Page(items=rows[:per_page], page=page, per_page=per_page, has_next=len(rows) > per_page)


def public_item_or_404(slug: str) -> ContentItem:
    """A published item that has a page of its own (a body); anything else is not found."""
    if len(slug) > 160:
        abort(404)
    item = db.session.scalar(
        select(ContentItem)
        .where(ContentItem.slug == slug, ContentItem.status == "published")
        .options(selectinload(ContentItem.topics))
    )
    if item is None or not item.has_page:
        abort(404)
    return item


def _attached(webinar_id: int, what, *, public_only: bool):
    query = (
        select(*what)
        .join(webinar_items, webinar_items.c.item_id == ContentItem.id)
        .where(webinar_items.c.webinar_id == webinar_id)
        .order_by(webinar_items.c.position, ContentItem.id)
    )
    return query.where(ContentItem.status == "published") if public_only else query


def attached_items(webinar: Webinar, *, public_only: bool = False) -> list[ContentItem]:
    """The items an organiser attached to a webinar, in their order."""
    return list(db.session.scalars(_attached(webinar.id, (ContentItem,), public_only=public_only)))


def _related(webinar_id: int, what, limit: int) -> list:
    """Rows of `what` (columns, or the ContentItem entity) for a webinar's related content: the attached
    items first, in their order, then the newest public items sharing one of its topics."""
    chosen = list(db.session.execute(_attached(webinar_id, what, public_only=True).limit(limit)))
    if len(chosen) < limit:
        topic_ids = select(webinar_topics.c.topic_id).where(webinar_topics.c.webinar_id == webinar_id)
        shares_topic = (
            select(content_item_topics.c.item_id)
            .where(content_item_topics.c.item_id == ContentItem.id, content_item_topics.c.topic_id.in_(topic_ids))
            .exists()
        )
        query = newest_first(_public(select(*what)).where(shares_topic)).limit(limit)
        if chosen:
            taken = [row[0].id if len(what) == 1 and what[0] is ContentItem else row[0] for row in chosen]
            query = query.where(ContentItem.id.not_in(taken))
        chosen += list(db.session.execute(query))[: limit - len(chosen)]
    return chosen


def related_to_webinar(webinar: Webinar, limit: int = RELATED_LIMIT) -> list[ContentItem]:
    """What a webinar page shows as related content: the attached items first, in their order, then
    the newest public items sharing one of its topics, `limit` in all."""
    return [row[0] for row in _related(webinar.id, (ContentItem,), limit)]


def related_panel(
    webinar: Webinar, *, viewer_zone: str | None, now: datetime, preview: bool = False
) -> PagePanel | None:
    """A webinar page's related content (a receiver of signals.webinar_page)."""
    related = related_to_webinar(webinar)
    return PagePanel("end", "content/_related.html", {"related_content": related}) if related else None


def related_version(webinar: Webinar, *, now: datetime) -> tuple:
    """What a webinar page's related content shows (signals.webinar_page_version): the items it would
    list now, each at its version (every change to an item moves updated_at). The panel's two indexed
    queries, for two columns, rather than an aggregate over every item."""
    rows = _related(webinar.id, (ContentItem.id, ContentItem.updated_at), RELATED_LIMIT)
    return ("related", tuple(tuple(row) for row in rows))


def item_by_id(item_id: int | None) -> ContentItem | None:
    return db.session.get(ContentItem, item_id) if item_id is not None else None


def items_by_slugs(slugs: list[str]) -> dict[str, ContentItem]:
    if not slugs:
        return {}
    return {item.slug: item for item in db.session.scalars(select(ContentItem).where(ContentItem.slug.in_(slugs)))}


def items_by_titles(titles: list[str]) -> dict[str, ContentItem]:
    """Items whose title is exactly one of `titles` (the oldest, if two share a title)."""
    if not titles:
        return {}
    found: dict[str, ContentItem] = {}
    for item in db.session.scalars(select(ContentItem).where(ContentItem.title.in_(titles)).order_by(ContentItem.id)):
        found.setdefault(item.title, item)
    return found


def slug_taken(slug: str, exclude_id: int | None = None) -> bool:
    query = select(ContentItem.id).where(ContentItem.slug == slug)
    if exclude_id is not None:
        query = query.where(ContentItem.id != exclude_id)
    return db.session.scalar(query) is not None


def feed_items(topic: Topic | None = None, limit: int = 50) -> list[ContentItem]:
    """The newest public items for an Atom feed."""
    return list(db.session.scalars(newest_first(_public(select(ContentItem), topic=topic)).limit(limit)))


def feed_version(topic: Topic | None = None) -> tuple:
    """What a feed depends on, from one aggregate query: every change touches updated_at, the count
    and id sum catch items that appear or leave."""
    aggregate = select(func.count(ContentItem.id), func.max(ContentItem.updated_at), func.sum(ContentItem.id))
    query = _public(aggregate, topic=topic)
    return tuple(db.session.execute(query).one())


def published_between(start: datetime, end: datetime) -> list[ContentItem]:
    """Items that went public in (start, end], newest first, with their topics: the digest's news."""
    query = newest_first(
        select(ContentItem).where(
            ContentItem.status == "published", ContentItem.published_at > start, ContentItem.published_at <= end
        )
    ).options(selectinload(ContentItem.topics))
    return list(db.session.scalars(query))


def admin_listing(page: int, per_page: int = 50):
    """Every item, drafts included, newest first (for the organisers' list)."""
    query = newest_first(select(ContentItem)).options(selectinload(ContentItem.topics))
    return db.paginate(query, page=page, per_page=per_page, error_out=False)
