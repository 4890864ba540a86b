"""intent outbox: messages queued as what to send, built by the mail worker; one live registration per mailbox

- outbox_messages.payload (JSON): a message queued as an intent (kind + ids + the facts frozen when it
  was queued) has no bytes until the worker builds it with its kind's renderer. The CHECK that every
  row has something to send now counts a payload too.
- registrations.email_key: the mailbox an address names (domain in ASCII, everything case-folded, as
  webinars/database.py mailbox_key writes it), and the unique index on live registrations moves from
  (webinar_id, email) to (webinar_id, email_key): `Ana@` and `ana@` are one person, and the duplicate
  check under the registration lock reads that index instead of scanning the webinar's registrations
  for lower(email). Live registrations that already named the same mailbox twice (only possible for
  different spellings) keep the earliest; the later ones are cancelled, as a second registration of
  the same person.
- webinars (status, updated_at, id): the catalogue's version (count, last change and id sum of the
  public webinars), which every process re-reads every few seconds, read from the index alone.
- The suppression list and the audit trail moved between packages of the code (outbox, webinars/audit.py):
  their tables are unchanged.

Revision ID: 0010_intent_outbox
Revises: 0020_french_and_zones
Create Date: 2026-11-29 15:00:00.000000

The downgrade refuses while intents wait to be sent (deliver the queue first: the older code could not
build them); sent or failed intents keep their row with empty bytes, so counts and exports stay.
"""

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op
from email_validator import EmailNotValidError, validate_email


# revision identifiers, used by Alembic.
revision = "0010_intent_outbox"
down_revision = "0020_french_and_zones"
branch_labels = None
depends_on = None

LIVE = "status NOT IN ('cancelled', 'expired')"
OLD_CHECK = "raw IS NOT NULL OR campaign_id IS NOT NULL OR digest_id IS NOT NULL"
NEW_CHECK = "raw IS NOT NULL OR payload IS NOT NULL OR campaign_id IS NOT NULL OR digest_id IS NOT NULL"


def _mailbox_key(address):
    # webinars/database.py mailbox_key, copied so that this migration keeps meaning what it meant.
    address = (address or "").strip()
    local, at, domain = address.rpartition("@")
    if at and not domain.isascii():
        try:
            result = validate_email(address, check_deliverability=False)
            address = f"{result.local_part}@{result.ascii_domain}"
        except EmailNotValidError:
            pass
    return address.casefold()


def _live_index(column):
    # Created outside batch mode, so that its WHERE clause is written as it is (as in 0003 and 0004).
    op.create_index(
        "uq_registrations_live_email",
        "registrations",
        ["webinar_id", column],
        unique=True,
        sqlite_where=sa.text(LIVE),
        postgresql_where=sa.text(LIVE),
    )


def _fill_email_keys(bind):
    table = sa.table(
        "registrations",
        sa.column("id", sa.Integer),
        sa.column("webinar_id", sa.Integer),
        sa.column("email", sa.String),
        sa.column("email_key", sa.String),
        sa.column("status", sa.String),
        sa.column("cancelled_at", sa.DateTime),
        sa.column("confirm_by", sa.DateTime),
    )
    live = {}
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = bind.execute(sa.select(table.c.id, table.c.webinar_id, table.c.email, table.c.status).order_by(table.c.id))
    for row in rows.all():
        key = _mailbox_key(row.email)
        values = {"email_key": key}
        if row.status not in ("cancelled", "expired"):
            if (row.webinar_id, key) in live:
                values.update(status="cancelled", cancelled_at=now, confirm_by=None)
            else:
                live[(row.webinar_id, key)] = row.id
        bind.execute(table.update().where(table.c.id == row.id).values(**values))


def upgrade():
    bind = op.get_bind()
    # A plain ADD COLUMN on both databases (registrations is never rebuilt): NOT NULL with a default
    # for the rows already there, filled in right after.
    op.add_column("registrations", sa.Column("email_key", sa.String(length=254), nullable=False, server_default=""))
    op.drop_index("uq_registrations_live_email", table_name="registrations")
    _fill_email_keys(bind)
    _live_index("email_key")
    if bind.dialect.name == "postgresql":
        op.alter_column("registrations", "email_key", server_default=None)

    op.create_index("ix_webinars_status_updated_at", "webinars", ["status", "updated_at", "id"], unique=False)

    # outbox_messages has no children: rebuilding it on SQLite (batch mode) is safe.
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload", sa.JSON(), nullable=True))
        batch_op.drop_constraint(batch_op.f("ck_outbox_messages_has_content"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_outbox_messages_has_content"), NEW_CHECK)


def downgrade():
    bind = op.get_bind()
    waiting = bind.execute(
        sa.text(
            "SELECT count(*) FROM outbox_messages WHERE raw IS NULL AND payload IS NOT NULL "
            "AND status IN ('queued', 'sending')"
        )
    ).scalar_one()
    if waiting:
        raise RuntimeError(
            f"{waiting} queued messages are intents that the older code cannot build: "
            "deliver them first (flask --app webinars mail send), then downgrade."
        )
    op.execute(
        sa.text("UPDATE outbox_messages SET raw = :empty WHERE raw IS NULL AND payload IS NOT NULL").bindparams(
            sa.bindparam("empty", b"", type_=sa.LargeBinary)
        )
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_outbox_messages_has_content"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_outbox_messages_has_content"), OLD_CHECK)
        batch_op.drop_column("payload")

    op.drop_index("ix_webinars_status_updated_at", table_name="webinars")
    op.drop_index("uq_registrations_live_email", table_name="registrations")
    # Native on both (SQLite 3.35+): a batch rebuild of registrations is what must never happen.
    op.execute("ALTER TABLE registrations DROP COLUMN email_key")
    _live_index("email")
