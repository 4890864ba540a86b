"""French and the visitor's zone: each person's language, and webinars' optional French title and summary

- registrations.language, subscribers.language: the language the person signed up in ('en', 'fr'),
  so that every later email (reminders, updates, cancellations, campaigns) is written in it. Rows
  stored before were all made on the English-only site: 'en'.
- webinars.title_fr, webinars.summary_fr: shown to French readers when filled in; empty otherwise.

Revision ID: 0020_french_and_zones
Revises: 0006_content_items
Create Date: 2026-12-10 10:00:00.000000
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "0020_french_and_zones"
down_revision = "0006_content_items"
branch_labels = None
depends_on = None


def _live_email_index():
    # The partial index is dropped and created outside batch mode, so that its WHERE clause survives
    # SQLite's table copy (as in 0003 and 0004).
    op.create_index(
        "uq_registrations_live_email",
        "registrations",
        ["webinar_id", "email"],
        unique=True,
        sqlite_where=sa.text("status NOT IN ('cancelled', 'expired')"),
        postgresql_where=sa.text("status NOT IN ('cancelled', 'expired')"),
    )


def upgrade():
    op.drop_index("uq_registrations_live_email", table_name="registrations")
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=False, server_default="en"))
    _live_email_index()
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=False, server_default="en"))
    with op.batch_alter_table("webinars", schema=None) as batch_op:
        batch_op.add_column(sa.Column("title_fr", sa.String(length=300), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("summary_fr", sa.Text(), nullable=False, server_default=""))


def downgrade():
    with op.batch_alter_table("webinars", schema=None) as batch_op:
        batch_op.drop_column("summary_fr")
        batch_op.drop_column("title_fr")
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("language")
    op.drop_index("uq_registrations_live_email", table_name="registrations")
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_column("language")
    _live_email_index()
