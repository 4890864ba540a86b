"""content items, topic pages, webinars' related content, the newsletter digest

Revision ID: 0006_content_items
Revises: 0005_organiser_mistakes
Create Date: 2026-11-29 13:00:00.000000

- content_items (news, articles, interviews, publications, presentations, videos), their topics,
  and webinar_items (a webinar's related content, ordered);
- every related_documents row becomes an item attached to the same webinar (the same title and
  address on several webinars become one item), tagged with the webinar's topics; the table goes;
- topics get a description and a date (a thematic page), webinars the instant they went public;
- audit_events can point at an item; subscribers get a time zone (backfilled from their latest
  registration); digests record each digest period; outbox rows can belong to a digest.

The downgrade turns attached items back into related_documents rows (items attached to no webinar
are lost, as are digests).
"""
import re
import unicodedata
from datetime import date, datetime, timezone

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0006_content_items"
down_revision = "0005_organiser_mistakes"
branch_labels = None
depends_on = None

UNDATED = date(1, 1, 1)  # the sort date of items without a date (see ContentItem.sort_date)
ITEM_TYPES = ("news", "article", "interview", "publication", "presentation", "video")
# What organisers typed as a document's kind, mapped onto the closed list; the kind itself stays as the label.
KIND_TYPES = {"slides": "presentation", "presentation": "presentation", "video": "video", "recording": "video"}


def _slugify(text, max_length=150):
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_length].rstrip("-") or "item"


def _is_postgresql():
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    # Columns are added with ALTER TABLE ... ADD COLUMN, which SQLite does in place: tables that other
    # rows reference (topics, webinars, subscribers) must never be copied and dropped (see downgrade).
    with op.batch_alter_table("topics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("page_date", sa.Date(), nullable=True))

    with op.batch_alter_table("webinars", schema=None) as batch_op:
        batch_op.add_column(sa.Column("published_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE webinars SET published_at = created_at WHERE status IN ('published', 'cancelled')")

    op.create_table(
        "content_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=160), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=True),
        sa.Column("sort_date", sa.Date(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("external_url", sa.String(length=1000), nullable=False),
        sa.Column("image_url", sa.String(length=1000), nullable=False),
        sa.Column("image_alt", sa.String(length=500), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "type IN ('news', 'article', 'interview', 'publication', 'presentation', 'video')",
            name=op.f("ck_content_items_type"),
        ),
        sa.CheckConstraint("status IN ('draft', 'published')", name=op.f("ck_content_items_status")),
        sa.CheckConstraint("image_url = '' OR image_alt <> ''", name=op.f("ck_content_items_image_has_alt")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_items")),
        sa.UniqueConstraint("slug", name=op.f("uq_content_items_slug")),
    )
    # Listings read these backwards (newest first); undated items sort as 0001-01-01, last.
    op.create_index("ix_content_items_listing", "content_items", ["status", "sort_date", "id"])
    op.create_index("ix_content_items_type_listing", "content_items", ["status", "type", "sort_date", "id"])
    op.create_index("ix_content_items_published_at", "content_items", ["published_at"])

    op.create_table(
        "content_item_topics",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["content_items.id"], name=op.f("fk_content_item_topics_item_id_content_items"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"], ["topics.id"], name=op.f("fk_content_item_topics_topic_id_topics"), ondelete="CASCADE"
        ),
        sa.Column("status", sa.String(length=20), nullable=False, server_default="draft"),
        sa.Column("type", sa.String(length=20), nullable=False, server_default="news"),
        sa.Column("sort_date", sa.Date(), nullable=False, server_default="0001-01-01"),
        sa.PrimaryKeyConstraint("item_id", "topic_id", name=op.f("pk_content_item_topics")),
    )
    op.create_index(
        "ix_content_item_topics_listing", "content_item_topics", ["topic_id", "status", "sort_date", "item_id"]
    )
    op.create_index(
        "ix_content_item_topics_type_listing",
        "content_item_topics",
        ["topic_id", "status", "type", "sort_date", "item_id"],
    )

    op.create_table(
        "webinar_items",
        sa.Column("webinar_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["webinar_id"], ["webinars.id"], name=op.f("fk_webinar_items_webinar_id_webinars"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["content_items.id"], name=op.f("fk_webinar_items_item_id_content_items"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("webinar_id", "item_id", name=op.f("pk_webinar_items")),
    )
    op.create_index("ix_webinar_items_item_id", "webinar_items", ["item_id"])

    _documents_to_items()
    with op.batch_alter_table("related_documents", schema=None) as batch_op:
        batch_op.drop_index("ix_related_documents_webinar_id")
    op.drop_table("related_documents")

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("item_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_audit_events_item_id_content_items"), "content_items", ["item_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_index("ix_audit_events_item_id", ["item_id"], unique=False)

    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
    # The zone of each subscriber's latest registration, if they ever registered with the same address.
    op.execute(
        "UPDATE subscribers SET timezone = ("
        " SELECT r.timezone FROM registrations r WHERE lower(r.email) = subscribers.email"
        " ORDER BY r.created_at DESC, r.id DESC LIMIT 1)"
    )

    op.create_table(
        "digests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.DateTime(), nullable=False),
        sa.Column("period_end", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("expanded_through_id", sa.Integer(), nullable=False),
        sa.Column("recipients_count", sa.Integer(), nullable=False),
        sa.Column("considered_count", sa.Integer(), nullable=False),
        sa.Column("items_count", sa.Integer(), nullable=False),
        sa.Column("webinars_count", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("status IN ('expanding', 'sending', 'done')", name=op.f("ck_digests_status")),
        sa.CheckConstraint("period_end > period_start", name=op.f("ck_digests_period_not_empty")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digests")),
        sa.UniqueConstraint("period_start", name=op.f("uq_digests_period_start")),
    )

    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("digest_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_outbox_messages_digest_id_digests"), "digests", ["digest_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_unique_constraint("uq_outbox_digest_recipient", ["digest_id", "subscriber_id"])
        batch_op.drop_constraint(op.f("ck_outbox_messages_has_content"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_outbox_messages_has_content"),
            "raw IS NOT NULL OR campaign_id IS NOT NULL OR digest_id IS NOT NULL",
        )


def _documents_to_items():
    bind = op.get_bind()
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    documents = bind.execute(
        sa.text(
            "SELECT d.webinar_id, d.position, d.title, d.url, d.kind, w.status, w.created_at"
            " FROM related_documents d JOIN webinars w ON w.id = d.webinar_id"
            " ORDER BY d.webinar_id, d.position, d.id"
        )
    ).all()
    webinar_topics = {}
    for webinar_id, topic_id in bind.execute(sa.text("SELECT webinar_id, topic_id FROM webinar_topics")):
        webinar_topics.setdefault(webinar_id, set()).add(topic_id)
    items = {}  # (title, url) -> {"id", "public", "topics", "created"}
    slugs = set()
    attached = set()
    items_table = sa.table(
        "content_items",
        *(sa.column(name) for name in (
            "slug", "type", "label", "title", "published_on", "sort_date", "summary", "body", "external_url", "image_url",
            "image_alt", "language", "status", "published_at", "created_at", "updated_at",
        )),
    )
    for webinar_id, position, title, url, kind, status, created in documents:
        key = (title, url or "")
        public = status in ("published", "cancelled")
        item = items.get(key)
        if item is None:
            kind = (kind or "").strip()
            item_type = kind.lower() if kind.lower() in ITEM_TYPES else KIND_TYPES.get(kind.lower(), "publication")
            slug, number = _slugify(title), 2
            while slug in slugs:
                slug = f"{_slugify(title, 140)}-{number}"
                number += 1
            slugs.add(slug)
            bind.execute(
                items_table.insert().values(
                    slug=slug, type=item_type, label="" if kind.lower() == item_type else kind[:200],
                    title=title[:500], published_on=None, sort_date=UNDATED, summary="", body="", external_url=url or "",
                    image_url="", image_alt="", language="en", status="draft", published_at=None,
                    created_at=created or now, updated_at=now,
                )
            )
            item_id = bind.execute(sa.text("SELECT id FROM content_items WHERE slug = :s"), {"s": slug}).scalar_one()
            item = items[key] = {"id": item_id, "public": False, "topics": set(), "created": created or now}
        item["public"] = item["public"] or public
        item["topics"] |= webinar_topics.get(webinar_id, set())
        if (webinar_id, item["id"]) not in attached:
            attached.add((webinar_id, item["id"]))
            bind.execute(
                sa.text("INSERT INTO webinar_items (webinar_id, item_id, position) VALUES (:w, :i, :p)"),
                {"w": webinar_id, "i": item["id"], "p": position},
            )
    for item in items.values():
        if item["public"]:
            # Already on public webinar pages: published, as of when its webinar was created.
            bind.execute(
                sa.text("UPDATE content_items SET status = 'published', published_at = :at WHERE id = :id"),
                {"at": item["created"], "id": item["id"]},
            )
        for topic_id in sorted(item["topics"]):
            # The listing columns are copies of the item's (see ContentItem).
            bind.execute(
                sa.text(
                    "INSERT INTO content_item_topics (item_id, topic_id, status, type, sort_date)"
                    " SELECT id, :t, status, type, sort_date FROM content_items WHERE id = :i"
                ),
                {"i": item["id"], "t": topic_id},
            )


def downgrade():
    op.execute("DELETE FROM outbox_messages WHERE digest_id IS NOT NULL")
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_outbox_messages_has_content"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_outbox_messages_has_content"), "raw IS NOT NULL OR campaign_id IS NOT NULL"
        )
        batch_op.drop_constraint("uq_outbox_digest_recipient", type_="unique")
        batch_op.drop_constraint(op.f("fk_outbox_messages_digest_id_digests"), type_="foreignkey")
        batch_op.drop_column("digest_id")
    op.drop_table("digests")

    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+), never a batch copy of these tables: on SQLite,
    # dropping the old copy of a referenced table would cascade-delete the rows that point at it.
    op.execute("ALTER TABLE subscribers DROP COLUMN timezone")

    op.execute("DELETE FROM audit_events WHERE item_id IS NOT NULL")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_item_id")
        batch_op.drop_constraint(op.f("fk_audit_events_item_id_content_items"), type_="foreignkey")
        batch_op.drop_column("item_id")

    op.create_table(
        "related_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("webinar_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["webinar_id"], ["webinars.id"], name=op.f("fk_related_documents_webinar_id_webinars"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_related_documents")),
    )
    with op.batch_alter_table("related_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_related_documents_webinar_id"), ["webinar_id"], unique=False)
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT wi.webinar_id, wi.position, i.title, i.external_url, i.label, i.type"
            " FROM webinar_items wi JOIN content_items i ON i.id = wi.item_id"
            " ORDER BY wi.webinar_id, wi.position, i.id"
        )
    ).all()
    for webinar_id, position, title, url, label, item_type in rows:
        bind.execute(
            sa.text(
                "INSERT INTO related_documents (webinar_id, position, title, url, kind)"
                " VALUES (:w, :p, :t, :u, :k)"
            ),
            {"w": webinar_id, "p": position, "t": title[:300], "u": url, "k": (label or item_type)[:60]},
        )

    op.drop_index("ix_webinar_items_item_id", table_name="webinar_items")
    op.drop_table("webinar_items")
    op.drop_index("ix_content_item_topics_type_listing", table_name="content_item_topics")
    op.drop_index("ix_content_item_topics_listing", table_name="content_item_topics")
    op.drop_table("content_item_topics")
    op.drop_index("ix_content_items_published_at", table_name="content_items")
    op.drop_index("ix_content_items_type_listing", table_name="content_items")
    op.drop_index("ix_content_items_listing", table_name="content_items")
    op.drop_table("content_items")

    op.execute("ALTER TABLE webinars DROP COLUMN published_at")
    op.execute("ALTER TABLE topics DROP COLUMN page_date")
    op.execute("ALTER TABLE topics DROP COLUMN description")
