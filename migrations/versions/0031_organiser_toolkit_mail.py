"""the organisers' toolkit, its mail: messages to registrants, grouped intents, scheduled and approved campaigns

- outbox_messages.group_key: the group an intent belongs to (a message to a webinar's registrants, its
  recording follow-ups); a unique index on (group_key, to_address) lets a group reach each address once;
- registrant_messages: organisers' messages to a webinar's registrants, expanded with a checkpoint;
- campaigns: drafts, approval by an owner (needs_approval, approved_by, approved_at), scheduling
  (scheduled_for in UTC and the zone it was entered in), started_at; the status CHECK gains 'draft'
  and 'scheduled', and a scheduled campaign must say when.

The downgrade refuses while messages only the newer code can build wait to be sent, and marks drafts
and scheduled campaigns (which the older code cannot hold) failed, with the reason.

Revision ID: 0031_organiser_toolkit_mail
Revises: 0030_organiser_toolkit
Create Date: 2026-11-29 15:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0031_organiser_toolkit_mail"
down_revision = "0030_organiser_toolkit"
branch_labels = None
depends_on = None

OLD_STATUS = "status IN ('expanding', 'sending', 'done', 'failed')"
NEW_STATUS = "status IN ('draft', 'scheduled', 'expanding', 'sending', 'done', 'failed')"
SCHEDULED = "status <> 'scheduled' OR (scheduled_for IS NOT NULL AND scheduled_zone IS NOT NULL)"
NEW_KINDS = ("registrant_message", "registrant_message_test", "recording_followup", "campaign_test")


def upgrade():
    # A plain ADD COLUMN and an index: the outbox, which can be large, is not rebuilt.
    op.add_column("outbox_messages", sa.Column("group_key", sa.String(length=60), nullable=True))
    op.create_index("uq_outbox_group_recipient", "outbox_messages", ["group_key", "to_address"], unique=True)

    op.create_table(
        "registrant_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("webinar_id", sa.Integer(), nullable=False),
        sa.Column("audience", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body_markdown", sa.Text(), nullable=False),
        sa.Column("translations", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("expanded_through_id", sa.Integer(), nullable=False),
        sa.Column("recipients_count", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "audience IN ('confirmed', 'waitlisted', 'all')", name=op.f("ck_registrant_messages_audience")
        ),
        sa.CheckConstraint(
            "status IN ('expanding', 'sending', 'done', 'failed')", name=op.f("ck_registrant_messages_status")
        ),
        sa.ForeignKeyConstraint(
            ["webinar_id"],
            ["webinars.id"],
            name=op.f("fk_registrant_messages_webinar_id_webinars"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registrant_messages")),
    )
    op.create_index("ix_registrant_messages_webinar_id", "registrant_messages", ["webinar_id"])

    # campaigns is small and referenced by campaign_topics and the outbox: its rebuild on SQLite runs
    # with foreign keys off (migrations/env.py), so no reference is touched.
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scheduled_for", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("scheduled_zone", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("needs_approval", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("approved_by", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("approved_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("started_at", sa.DateTime(), nullable=True))
        batch_op.create_index("ix_campaigns_scheduled_for", ["scheduled_for"], unique=False)
        batch_op.drop_constraint(op.f("ck_campaigns_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_campaigns_status"), NEW_STATUS)
        batch_op.create_check_constraint(op.f("ck_campaigns_scheduled"), SCHEDULED)


def downgrade():
    bind = op.get_bind()
    kinds = ", ".join(f"'{kind}'" for kind in NEW_KINDS)
    waiting = bind.execute(
        sa.text(f"SELECT count(*) FROM outbox_messages WHERE status IN ('queued', 'sending') AND kind IN ({kinds})")
    ).scalar()
    if waiting:
        raise RuntimeError(
            f"{waiting} queued messages are of kinds the older code cannot build: "
            "deliver them first (flask --app webinars mail send), then downgrade."
        )
    op.execute(
        "UPDATE campaigns SET status = 'failed', error = 'Never sent: the service was downgraded before it left.'"
        " WHERE status IN ('draft', 'scheduled')"
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_campaigns_scheduled"), type_="check")
        batch_op.drop_constraint(op.f("ck_campaigns_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_campaigns_status"), OLD_STATUS)
        batch_op.drop_index("ix_campaigns_scheduled_for")
        for column in ("started_at", "approved_at", "approved_by", "needs_approval", "scheduled_zone", "scheduled_for"):
            batch_op.drop_column(column)

    op.drop_index("ix_registrant_messages_webinar_id", table_name="registrant_messages")
    op.drop_table("registrant_messages")
    op.drop_index("uq_outbox_group_recipient", table_name="outbox_messages")
    # Native on both (SQLite 3.35+): the outbox is not rebuilt.
    op.execute("ALTER TABLE outbox_messages DROP COLUMN group_key")
