"""safe on the public internet: atomic rate limits, organisers' session versions, confirmed registrations

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

    # Optional confirmed registrations: a per-webinar switch, two new states and a deadline.
    with op.batch_alter_table("webinars", schema=None) as batch_op:
        batch_op.add_column(sa.Column("confirm_registrations", sa.Boolean(), nullable=False, server_default=sa.false()))
    # The partial index is dropped and created outside batch mode, so that its WHERE clause survives SQLite's table copy.
    op.drop_index("uq_registrations_live_email", table_name="registrations")
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("confirm_by", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("address_confirmed_at", sa.DateTime(), nullable=True))
        batch_op.drop_constraint(op.f("ck_registrations_status"), type_="check")
        batch_op.create_check_constraint(
            "status", "status IN ('confirmed', 'waitlisted', 'pending', 'expired', 'cancelled')"
        )
        batch_op.create_check_constraint("confirm_by", "confirm_by IS NULL OR status IN ('pending', 'waitlisted', 'expired')")
    op.create_index(
        "uq_registrations_live_email",
        "registrations",
        ["webinar_id", "email"],
        unique=True,
        sqlite_where=sa.text("status NOT IN ('cancelled', 'expired')"),
        postgresql_where=sa.text("status NOT IN ('cancelled', 'expired')"),
    )


def downgrade():
    # Registrations in the new states become what the old schema knows: a lapsed hold is a
    # cancellation, a held seat a confirmed one.
    op.execute("UPDATE registrations SET status = 'cancelled' WHERE status = 'expired'")
    op.execute("UPDATE registrations SET status = 'confirmed' WHERE status = 'pending'")
    op.drop_index("uq_registrations_live_email", table_name="registrations")
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_registrations_confirm_by"), type_="check")
        batch_op.drop_constraint(op.f("ck_registrations_status"), type_="check")
        batch_op.create_check_constraint("status", "status IN ('confirmed', 'waitlisted', 'cancelled')")
        batch_op.drop_column("address_confirmed_at")
        batch_op.drop_column("confirm_by")
    op.create_index(
        "uq_registrations_live_email",
        "registrations",
        ["webinar_id", "email"],
        unique=True,
        sqlite_where=sa.text("status != 'cancelled'"),
        postgresql_where=sa.text("status != 'cancelled'"),
    )
    with op.batch_alter_table("webinars", schema=None) as batch_op:
        batch_op.drop_column("confirm_registrations")

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
