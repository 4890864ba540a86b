"""Content items (news, articles, interviews, publications, presentations, videos) and what they are tied to.

An item's `published_on` is the date the item itself carries ("27 September 2017"): a calendar date
with no time and no zone, shown as given, and empty when the source gives none. `published_at` is the
instant the item first went public on this site, which is what the newsletter digest counts from.
"""

from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    event,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from ..catalogue.models import Topic, Webinar, page_date_check
from ..database import UTCDateTime, utcnow
from ..extensions import db

# The closed list of types, in the order the admin offers them. The database refuses anything else.
ITEM_TYPES = ("news", "article", "interview", "publication", "presentation", "video")
TYPE_LABELS = {
    "news": _l("News"),
    "article": _l("Article"),
    "interview": _l("Interview"),
    "publication": _l("Publication"),
    "presentation": _l("Presentation"),
    "video": _l("Video"),
}
ITEM_STATUSES = ("draft", "published")


# The sort key of items without a date: before any date, so that newest-first listings show them last.
UNDATED = date(1, 1, 1)


content_item_topics = Table(
    "content_item_topics",
    db.metadata,
    Column("item_id", ForeignKey("content_items.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True),
    # Copies of the item's status, type and sort date (kept in step by the flush listeners below), so
    # that a topic's listing is read in order from one index, however deep the page: with them in
    # content_items only, page 200 of a topic with 16,000 items cost a 57 ms hash join and sort on PostgreSQL.
    Column("status", String(20), nullable=False, server_default="draft"),
    Column("type", String(20), nullable=False, server_default="news"),
    Column("sort_date", Date, nullable=False, server_default="0001-01-01"),
    Index("ix_content_item_topics_listing", "topic_id", "status", "sort_date", "item_id"),
    Index("ix_content_item_topics_type_listing", "topic_id", "status", "type", "sort_date", "item_id"),
)

# "Related content" of a webinar, in the organiser's order.
webinar_items = Table(
    "webinar_items",
    db.metadata,
    Column("webinar_id", ForeignKey("webinars.id", ondelete="CASCADE"), primary_key=True),
    Column("item_id", ForeignKey("content_items.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, nullable=False, default=0),
    Index("ix_webinar_items_item_id", "item_id"),
)


class ContentItem(db.Model):
    __tablename__ = "content_items"
    __table_args__ = (
        CheckConstraint(
            "type IN ('news', 'article', 'interview', 'publication', 'presentation', 'video')", name="type"
        ),
        CheckConstraint("status IN ('draft', 'published')", name="status"),
        CheckConstraint(page_date_check("published_on"), name="published_on_in_range"),
        # Alt text first: an image without a description of it is refused.
        CheckConstraint("image_url = '' OR image_alt <> ''", name="image_has_alt"),
        # Listings: public items newest first, read backwards from these on both databases.
        Index("ix_content_items_listing", "status", "sort_date", "id"),
        Index("ix_content_items_type_listing", "status", "type", "sort_date", "id"),
        # The digest: items that went public within a period.
        Index("ix_content_items_published_at", "published_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(160), unique=True)
    type: Mapped[str] = mapped_column(String(20))
    # The source's own series or label, kept verbatim ("Spotlight Interviews with Co-operators").
    label: Mapped[str] = mapped_column(String(200), default="")
    title: Mapped[str] = mapped_column(String(500))
    published_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    # published_on, or UNDATED: a key without NULLs sorts the same on SQLite and PostgreSQL (which
    # puts NULLs first when descending) and lets both read the listing indexes in order. Set on flush.
    sort_date: Mapped[date] = mapped_column(Date, default=UNDATED)
    summary: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")  # Markdown; an item with a body has its own page
    external_url: Mapped[str] = mapped_column(String(1000), default="")
    image_url: Mapped[str] = mapped_column(String(1000), default="")
    image_alt: Mapped[str] = mapped_column(String(500), default="")
    language: Mapped[str] = mapped_column(String(10), default="en")
    status: Mapped[str] = mapped_column(String(20), default="draft")
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    topics: Mapped[list[Topic]] = relationship(secondary=content_item_topics, order_by="Topic.name")
    webinars: Mapped[list[Webinar]] = relationship(secondary=webinar_items, viewonly=True)

    @property
    def has_page(self) -> bool:
        return bool(self.body.strip())

    @property
    def type_label(self) -> str:
        return str(TYPE_LABELS.get(self.type, self.type))

    def __repr__(self) -> str:
        return f"<ContentItem {self.slug}>"


@event.listens_for(Session, "before_flush")
def _set_sort_date(session, flush_context, instances) -> None:
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, ContentItem):
            obj.sort_date = obj.published_on or UNDATED


@event.listens_for(Session, "after_flush")
def _copy_listing_columns(session, flush_context) -> None:
    """After any flush that added or changed items (their topics included), copy each one's status,
    type and sort date onto its topic rows: one UPDATE, on the flush's own connection."""
    ids = [obj.id for obj in (*session.new, *session.dirty) if isinstance(obj, ContentItem) and obj.id is not None]
    if not ids:
        return
    links, items = content_item_topics, ContentItem.__table__

    def copied(column):
        return select(items.c[column]).where(items.c.id == links.c.item_id).scalar_subquery()

    session.connection().execute(
        update(links)
        .where(links.c.item_id.in_(ids))
        .values(status=copied("status"), type=copied("type"), sort_date=copied("sort_date"))
    )
