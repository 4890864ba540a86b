"""campaigns in the subscriber's language: campaigns.translations

A campaign may carry a version per language besides its own ({"fr": {"subject", "body_markdown",
"body_html", "body_text"}}); each subscriber gets the version of the language they signed up in, when
there is one. NULL (every campaign so far) means one version for everyone, as before.

Revision ID: 0032_campaign_translations
Revises: 0031_organiser_toolkit_mail
Create Date: 2026-11-29 17:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0032_campaign_translations"
down_revision = "0031_organiser_toolkit_mail"
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN (nullable): the table is not rebuilt.
    op.add_column("campaigns", sa.Column("translations", sa.JSON(), nullable=True))


def downgrade():
    # Native on both (SQLite 3.35+). The older code sends the campaign's own version to everyone.
    op.execute("ALTER TABLE campaigns DROP COLUMN translations")
