"""safe on the public internet: atomic rate limits, organisers' session versions

Revision ID: 0003_safe_public_internet
Revises: 0002_catalogue_indexes
Create Date: 2026-11-29 13:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0003_safe_public_internet"
down_revision = "0002_catalogue_indexes"
branch_labels = None
depends_on = None


def upgrade():
    # Rate limits: one row per key and window, changed by one upsert, instead of one row per hit
    # counted and then inserted (which let parallel requests through). Old hits are not carried
    # over: the longest window is a day, and starting from zero lets nobody through twice as often.
    op.create_table(
        "rate_limit_counters",
        sa.Column("bucket", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "key", "window_start", name=op.f("pk_rate_limit_counters")),
    )
    with op.batch_alter_table("rate_limit_counters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rate_limit_counters_window_start"), ["window_start"], unique=False)
    op.create_table(
        "rate_limit_backoffs",
        sa.Column("bucket", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "key", name=op.f("pk_rate_limit_backoffs")),
    )
    with op.batch_alter_table("rate_limit_backoffs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rate_limit_backoffs_last_at"), ["last_at"], unique=False)
    with op.batch_alter_table("rate_limit_hits", schema=None) as batch_op:
        batch_op.drop_index("ix_rate_limit_hits_bucket_key_at")
    op.drop_table("rate_limit_hits")

    # Raised to end every session of an organiser (sign-out, new password, deactivation).
    with op.batch_alter_table("organisers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), nullable=False, server_default="0"))


def downgrade():
    with op.batch_alter_table("organisers", schema=None) as batch_op:
        batch_op.drop_column("session_version")

    op.create_table(
        "rate_limit_hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_limit_hits")),
    )
    with op.batch_alter_table("rate_limit_hits", schema=None) as batch_op:
        batch_op.create_index("ix_rate_limit_hits_bucket_key_at", ["bucket", "key", "at"], unique=False)
    with op.batch_alter_table("rate_limit_backoffs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rate_limit_backoffs_last_at"))
    op.drop_table("rate_limit_backoffs")
    with op.batch_alter_table("rate_limit_counters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rate_limit_counters_window_start"))
    op.drop_table("rate_limit_counters")
