"""the organisers' toolkit: roles, the webinars an editor looks after, custom questions, attendance

- organisers.role, 'owner' or 'editor' (a CHECK): every organiser who existed before becomes an owner,
  since each of them could do everything until now;
- webinar_editors: the webinars an editor looks after (they see those registrations), filled with
  each webinar's creator as the audit trail records it, so that an owner who is later made an editor
  still sees the registrations of the webinars they created;
- registration_questions (a webinar's own questions) and registration_answers (one per registration
  and question, with the question's wording as it was asked);
- registrations.attended / attended_minutes / joined_at / left_at, from the platform's participant
  report, and attendance_imports, what each import read.

The downgrade drops all of it (answers, attendance and roles are lost).

Revision ID: 0030_organiser_toolkit
Revises: 0010_intent_outbox
Create Date: 2026-12-06 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0030_organiser_toolkit"
down_revision = "0010_intent_outbox"
branch_labels = None
depends_on = None


def upgrade():
    # organisers is small and only referenced by audit_events and webinar_editors; the batch rebuild that
    # SQLite needs for a CHECK runs with foreign keys off (migrations/env.py), so no reference is touched.
    with op.batch_alter_table("organisers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=20), nullable=False, server_default="editor"))
    op.execute("UPDATE organisers SET role = 'owner'")
    with op.batch_alter_table("organisers", schema=None) as batch_op:
        batch_op.create_check_constraint(op.f("ck_organisers_role"), "role IN ('owner', 'editor')")

    op.create_table(
        "webinar_editors",
        sa.Column("webinar_id", sa.Integer(), nullable=False),
        sa.Column("organiser_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["webinar_id"], ["webinars.id"], name=op.f("fk_webinar_editors_webinar_id_webinars"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["organiser_id"],
            ["organisers.id"],
            name=op.f("fk_webinar_editors_organiser_id_organisers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("webinar_id", "organiser_id", name=op.f("pk_webinar_editors")),
    )
    op.create_index("ix_webinar_editors_organiser_id", "webinar_editors", ["organiser_id"])
    op.execute(
        "INSERT INTO webinar_editors (webinar_id, organiser_id)"
        " SELECT DISTINCT a.webinar_id, a.organiser_id FROM audit_events a"
        " JOIN webinars w ON w.id = a.webinar_id JOIN organisers o ON o.id = a.organiser_id"
        " WHERE a.action = 'created'"
    )

    op.create_table(
        "registration_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("webinar_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=300), nullable=False),
        sa.Column("help_text", sa.String(length=500), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("retired_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('short_text', 'long_text', 'single_choice', 'multiple_choice', 'checkbox')",
            name=op.f("ck_registration_questions_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["webinar_id"],
            ["webinars.id"],
            name=op.f("fk_registration_questions_webinar_id_webinars"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registration_questions")),
    )
    op.create_index(
        "ix_registration_questions_webinar_position", "registration_questions", ["webinar_id", "position", "id"]
    )

    op.create_table(
        "registration_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("asked_as", sa.String(length=300), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["registrations.id"],
            name=op.f("fk_registration_answers_registration_id_registrations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["registration_questions.id"],
            name=op.f("fk_registration_answers_question_id_registration_questions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registration_answers")),
        sa.UniqueConstraint("registration_id", "question_id", name="uq_registration_answers_question"),
    )
    op.create_index("ix_registration_answers_question_id", "registration_answers", ["question_id"])

    # Plain ADD COLUMN on both databases: registrations, which others reference, is never rebuilt.
    op.add_column("registrations", sa.Column("attended", sa.Boolean(), nullable=True))
    op.add_column("registrations", sa.Column("attended_minutes", sa.Integer(), nullable=True))
    op.add_column("registrations", sa.Column("joined_at", sa.DateTime(), nullable=True))
    op.add_column("registrations", sa.Column("left_at", sa.DateTime(), nullable=True))

    op.create_table(
        "attendance_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("webinar_id", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("platform", sa.String(length=40), nullable=False),
        sa.Column("columns_used", sa.Text(), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("attended", sa.Integer(), nullable=False),
        sa.Column("no_shows", sa.Integer(), nullable=False),
        sa.Column("unregistered", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["webinar_id"], ["webinars.id"], name=op.f("fk_attendance_imports_webinar_id_webinars"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance_imports")),
    )
    op.create_index("ix_attendance_imports_webinar_id", "attendance_imports", ["webinar_id"])


def downgrade():
    op.drop_index("ix_attendance_imports_webinar_id", table_name="attendance_imports")
    op.drop_table("attendance_imports")
    # Native on both (SQLite 3.35+): a batch rebuild of registrations is what must never happen.
    for column in ("left_at", "joined_at", "attended_minutes", "attended"):
        op.execute(f"ALTER TABLE registrations DROP COLUMN {column}")
    op.drop_index("ix_registration_answers_question_id", table_name="registration_answers")
    op.drop_table("registration_answers")
    op.drop_index("ix_registration_questions_webinar_position", table_name="registration_questions")
    op.drop_table("registration_questions")
    op.drop_index("ix_webinar_editors_organiser_id", table_name="webinar_editors")
    op.drop_table("webinar_editors")
    with op.batch_alter_table("organisers", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_organisers_role"), type_="check")
        batch_op.drop_column("role")
