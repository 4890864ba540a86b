"""review fixes: the dates pages carry stay within 1900-2100

- content_items.published_on and topics.page_date: empty, or from 1900-01-01 to 2100-12-31. A date
  far ahead (9999-12-31) was listed first everywhere; 0001-01-01 is the listings' key for "no date".
  A CHECK on PostgreSQL; triggers on SQLite, where a CHECK can only be added by rebuilding the table,
  and both tables are referred to by others (a rebuild would cascade deletes into them).
  A date outside the range already stored was a typing mistake: it becomes empty (undated), and the
  listings' sort key with it. The downgrade leaves those dates empty.

Revision ID: 0040_review_fixes
Revises: 0032_campaign_translations
Create Date: 2027-01-10 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0040_review_fixes"
down_revision = "0032_campaign_translations"
branch_labels = None
depends_on = None

EARLIEST, LATEST = "1900-01-01", "2100-12-31"
UNDATED = "0001-01-01"
# (table, column, constraint name as the models' naming convention writes it)
PAGE_DATES = [
    ("content_items", "published_on", "published_on_in_range"),
    ("topics", "page_date", "page_date_in_range"),
]


def _outside(column: str) -> str:
    return f"{column} IS NOT NULL AND ({column} < '{EARLIEST}' OR {column} > '{LATEST}')"


def upgrade():
    # Typing mistakes already stored: undated, in the listings' copies too.
    op.execute(
        f"UPDATE content_item_topics SET sort_date = '{UNDATED}' WHERE item_id IN "
        f"(SELECT id FROM content_items WHERE {_outside('published_on')})"
    )
    op.execute(f"UPDATE content_items SET published_on = NULL, sort_date = '{UNDATED}' WHERE {_outside('published_on')}")
    op.execute(f"UPDATE topics SET page_date = NULL WHERE {_outside('page_date')}")
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column, name in PAGE_DATES:
        check = f"ck_{table}_{name}"
        if sqlite:
            for event, when in (("insert", "INSERT"), ("update", f"UPDATE OF {column}")):
                op.execute(
                    f"CREATE TRIGGER tr_{table}_{column}_{event} BEFORE {when} ON {table} "
                    f"WHEN {_outside('NEW.' + column)} "
                    f"BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: {check}'); END"
                )
        else:
            op.create_check_constraint(
                name, table, f"{column} IS NULL OR ({column} >= '{EARLIEST}' AND {column} <= '{LATEST}')"
            )


def downgrade():
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column, name in PAGE_DATES:
        if sqlite:
            for event in ("insert", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS tr_{table}_{column}_{event}")
        else:
            op.drop_constraint(op.f(f"ck_{table}_{name}"), table, type_="check")
