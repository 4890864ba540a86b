"""Content items (news, articles, interviews, publications, presentations, videos) and what they are tied to.

An item's `published_on` is the date the item itself carries ("27 September 2017"): a calendar date
with no time and no zone, shown as given, and empty when the source gives none. `published_at` is the
instant the item first went public on this site, which is what the newsletter digest counts from.
"""

from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint, Column, Date, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..catalogue.models import Topic, Webinar
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

content_item_topics = Table(
    "content_item_topics",
    db.metadata,
    Column("item_id", ForeignKey("content_items.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True),
    # A topic page reads its items from here: topic first.
    Index("ix_content_item_topics_topic_item", "topic_id", "item_id"),
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
        # Alt text first: an image without a description of it is refused.
        CheckConstraint("image_url = '' OR image_alt <> ''", name="image_has_alt"),
        # Listings: public items newest first. On PostgreSQL the migration builds these with
        # `published_on DESC NULLS LAST, id DESC`, the order the listings ask for (undated items last);
        # SQLite reads its plain index backwards in that order already.
        Index("ix_content_items_listing", "status", "published_on", "id"),
        Index("ix_content_items_type_listing", "status", "type", "published_on", "id"),
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
