"""The migrations and the models describe the same schema, and the newest migration goes down and up again."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from tests.conftest import MIGRATIONS, _logging_kept


def _differences(app) -> list:
    from webinars.extensions import db

    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def test_models_and_migrations_describe_the_same_schema(app):
    assert _differences(app) == []


def test_the_newest_migration_downgrades_and_upgrades_again(app):
    from sqlalchemy import inspect

    from webinars.extensions import db

    with app.app_context(), _logging_kept():
        downgrade(directory=str(MIGRATIONS), revision="-1")
        assert not inspect(db.engine).has_table("rate_limit_counters")
        assert inspect(db.engine).has_table("rate_limit_hits")
        upgrade(directory=str(MIGRATIONS))
        db.engine.dispose()
    assert _differences(app) == []
