"""organiser mistakes: capacity bounded in the database, registrations named in the audit trail, erasure

- webinars.capacity at most 1,000,000 (a CHECK on PostgreSQL; triggers on SQLite, where a CHECK can
  only be added by rebuilding `webinars`, the table every other one refers to).
  A larger capacity already stored meant "no real limit" and becomes NULL (unlimited).
- audit_events.registration_id: the registration an organiser acted on (SET NULL if it goes), so the
  audit text itself holds no name or address and erasure leaves nothing personal behind.
- registrations.erased_at: when the person's data was erased (the row stays, anonymised, so that
  seat counts stay right).
- Drafts that were "cancelled" (which made them public) become drafts again: the audit trail tells
  them apart ("Status: draft → cancelled"). The downgrade leaves them drafts.

Revision ID: 0005_organiser_mistakes
Revises: 0004_real_people
Create Date: 2026-11-29 13:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0005_organiser_mistakes"
down_revision = "0004_real_people"
branch_labels = None
depends_on = None

MAX_CAPACITY = 1_000_000
CHECK_NAME = "ck_webinars_capacity_at_most_a_million"
SQLITE_TRIGGERS = {
    "tr_webinars_capacity_insert": "BEFORE INSERT ON webinars",
    "tr_webinars_capacity_update": "BEFORE UPDATE OF capacity ON webinars",
}


def upgrade():
    op.execute(sa.text(f"UPDATE webinars SET capacity = NULL WHERE capacity > {MAX_CAPACITY}"))
    op.get_bind().execute(
        sa.text(
            "UPDATE webinars SET status = 'draft' WHERE status = 'cancelled' AND id IN "
            "(SELECT webinar_id FROM audit_events WHERE action = 'cancelled' AND details LIKE :was_draft)"
        ),
        {"was_draft": "Status: draft → cancelled%"},
    )
    if op.get_bind().dialect.name == "sqlite":
        for name, when in SQLITE_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER {name} {when} WHEN NEW.capacity > {MAX_CAPACITY} "
                f"BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: {CHECK_NAME}'); END"
            )
    else:
        op.create_check_constraint(
            "capacity_at_most_a_million", "webinars", f"capacity IS NULL OR capacity <= {MAX_CAPACITY}"
        )

    # audit_events has no children: rebuilding it on SQLite (batch mode) is safe.
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("registration_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_audit_events_registration_id"), ["registration_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_audit_events_registration_id_registrations"),
            "registrations",
            ["registration_id"],
            ["id"],
            ondelete="SET NULL",
        )

    # A plain ADD COLUMN on both databases: registrations is never rebuilt.
    op.add_column("registrations", sa.Column("erased_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_audit_events_registration_id_registrations"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_audit_events_registration_id"))
        batch_op.drop_column("registration_id")

    # Native on both (SQLite 3.35+): a batch rebuild of registrations is what must never happen.
    op.execute("ALTER TABLE registrations DROP COLUMN erased_at")

    if op.get_bind().dialect.name == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        op.drop_constraint(op.f(CHECK_NAME), "webinars", type_="check")
