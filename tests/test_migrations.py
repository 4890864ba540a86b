"""The migrations and the models describe the same schema, the newest migration goes down and up
again, and migrations that change data are run for real on SQLite and PostgreSQL: rows written in
the old form before the upgrade, read back after it, then the downgrade and a second upgrade."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from tests.conftest import MIGRATIONS, _base_config, _dispose, _logging_kept


def _differences(app) -> list:
    from webinars.extensions import db

    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def test_models_and_migrations_describe_the_same_schema(app):
    assert _differences(app) == []


def _revision(db) -> str:
    with db.engine.connect() as connection:
        return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()


def test_the_newest_migrations_downgrade_and_upgrade_again(app):
    from sqlalchemy import inspect

    from webinars.extensions import db

    with app.app_context(), _logging_kept():
        downgrade(directory=str(MIGRATIONS), revision="-1")
        assert _revision(db) == "0032_campaign_translations"
        with db.engine.begin() as connection:  # the page dates' bounds are gone with 0040
            connection.execute(sa.text("INSERT INTO topics (slug, name, page_date) VALUES ('t', 'T', '9999-12-31')"))
        downgrade(directory=str(MIGRATIONS), revision="-1")
        assert _revision(db) == "0031_organiser_toolkit_mail"
        assert "translations" not in {c["name"] for c in inspect(db.engine).get_columns("campaigns")}
        downgrade(directory=str(MIGRATIONS), revision="-1")
        assert _revision(db) == "0030_organiser_toolkit"
        assert not inspect(db.engine).has_table("registrant_messages")
        assert "group_key" not in {c["name"] for c in inspect(db.engine).get_columns("outbox_messages")}
        assert "scheduled_for" not in {c["name"] for c in inspect(db.engine).get_columns("campaigns")}
        downgrade(directory=str(MIGRATIONS), revision="-1")
        assert _revision(db) == "0010_intent_outbox"
        assert not inspect(db.engine).has_table("registration_questions")
        assert "role" not in {column["name"] for column in inspect(db.engine).get_columns("organisers")}
        assert "attended" not in {column["name"] for column in inspect(db.engine).get_columns("registrations")}
        downgrade(directory=str(MIGRATIONS), revision="-1")
        assert _revision(db) == "0020_french_and_zones"
        assert "payload" not in {c["name"] for c in inspect(db.engine).get_columns("outbox_messages")}
        downgrade(directory=str(MIGRATIONS), revision="-1")
        assert _revision(db) == "0006_content_items"
        assert "language" not in {column["name"] for column in inspect(db.engine).get_columns("registrations")}
        downgrade(directory=str(MIGRATIONS), revision="-1")
        assert _revision(db) == "0005_organiser_mistakes"
        assert not inspect(db.engine).has_table("content_items")
        assert inspect(db.engine).has_table("related_documents")
        downgrade(directory=str(MIGRATIONS), revision="-1")
        assert _revision(db) == "0004_real_people"
        downgrade(directory=str(MIGRATIONS), revision="-1")
        assert _revision(db) == "0003_safe_public_internet"
        downgrade(directory=str(MIGRATIONS), revision="-1")
        assert not inspect(db.engine).has_table("rate_limit_counters")
        assert inspect(db.engine).has_table("rate_limit_hits")
        upgrade(directory=str(MIGRATIONS))
        db.engine.dispose()
    assert _differences(app) == []


BEFORE = "0003_safe_public_internet"
# The revisions from 0010 on, newest last (the 0010 test only asks that no downgrade went below it).
AT_OR_AFTER_0010 = (
    "0010_intent_outbox",
    "0030_organiser_toolkit",
    "0031_organiser_toolkit_mail",
    "0032_campaign_translations",
    "0040_review_fixes",
)
_names = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path) -> Iterator[str]:
    """The URL of a database with no schema at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/migrations.sqlite3"
        return
    cluster = request.getfixturevalue("postgres_cluster")
    name = f"migrations_{next(_names)}"
    url = cluster.create_database(name)
    try:
        yield url
    finally:
        cluster.drop_database(name)


def _migrate(url: str, command: str, revision: str) -> None:
    import flask_migrate

    from webinars import create_app

    app = create_app({"TESTING": True, **_base_config(url, 9)})
    try:
        with app.app_context(), _logging_kept():
            getattr(flask_migrate, command)(directory=str(MIGRATIONS), revision=revision)
    finally:
        _dispose(app)


NOW = datetime(2026, 11, 1, 12, 0)

OLD_ROWS = [
    (
        "INSERT INTO webinars (id, slug, ical_uid, title, summary, description, starts_at, timezone, ends_at,"
        " display_zones, location, status, join_url, recording_url, sequence, created_at, updated_at) VALUES"
        " (1, 'w', 'u@x', 'T', '', '', :start, 'Asia/Calcutta', :end, 'Asia/Calcutta US/Eastern Asia/Tokyo',"
        " 'Online', 'published', '', '', 1, :now, :now)",
        {"start": datetime(2030, 3, 12, 10), "end": datetime(2030, 3, 12, 11)},
    ),
    (
        "INSERT INTO registrations (id, webinar_id, email, name, organisation, country, timezone, status,"
        " wants_newsletter, created_at) VALUES"
        " (1, 1, 'marie@bücher.example', 'Marie', '', '', 'asia/katmandu', 'confirmed', false, :now),"
        " (2, 1, 'ana@example.org', 'Ana', '', '', 'Europe/Kiev', 'confirmed', false, :now),"
        " (3, 1, 'hans@bücher.example', 'Hans', '', '', 'UTC', 'cancelled', false, :now)",
        {},
    ),
    (
        "INSERT INTO subscribers (id, email, name, status, created_at, token_version) VALUES"
        " (1, 'lena@bücher.example', '', 'subscribed', :now, 0),"
        " (2, 'dup@bücher.example', '', 'subscribed', :now, 0),"
        " (3, 'dup@xn--bcher-kva.example', '', 'subscribed', :now, 0)",
        {},
    ),
    (
        "INSERT INTO campaigns (id, subject, body_markdown, body_html, body_text, status, expanded_through_id,"
        " recipients_count, created_by, created_at) VALUES (1, 'S', '', '', '', 'sending', 3, 1, 'cli', :now)",
        {},
    ),
    (
        "INSERT INTO outbox_messages (id, kind, to_address, raw, campaign_id, subscriber_id, status, attempts,"
        " next_attempt_at, created_at) VALUES"
        " (1, 'campaign', 'lena@bücher.example', NULL, 1, 1, 'queued', 0, :now, :now),"
        " (2, 'registration_confirmed', 'marie@bücher.example', :raw, NULL, NULL, 'queued', 0, :now, :now)",
        {"raw": b"To: marie@xn--bcher-kva.example\r\n\r\nHi\r\n"},
    ),
    ("INSERT INTO topics (id, slug, name) VALUES (1, 'coops', 'Co-ops')", {}),
    ("INSERT INTO campaign_topics (campaign_id, topic_id) VALUES (1, 1)", {}),
    (
        "INSERT INTO organisers (id, email, name, password_hash, active, created_at) VALUES"
        " (1, 'olga@bücher.example', 'Olga', 'x', true, :now)",
        {},
    ),
]


def _column(url: str, query: str) -> list:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) if len(row) > 1 else row[0] for row in connection.execute(sa.text(query))]
    finally:
        engine.dispose()


def _execute(url: str, statement: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(statement))
    finally:
        engine.dispose()


def test_0004_brings_stored_zone_names_and_mail_domains_to_one_spelling(empty_database):
    url = empty_database
    _migrate(url, "upgrade", BEFORE)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for statement, params in OLD_ROWS:
            connection.execute(sa.text(statement), {"now": NOW, **params})
    engine.dispose()

    _migrate(url, "upgrade", "head")

    assert _column(url, "SELECT timezone, display_zones FROM webinars") == [
        ("Asia/Kolkata", "Asia/Kolkata America/New_York Asia/Tokyo")
    ]
    assert _column(url, "SELECT email, timezone FROM registrations ORDER BY id") == [
        ("marie@xn--bcher-kva.example", "Asia/Kathmandu"),
        ("ana@example.org", "Europe/Kyiv"),
        ("hans@xn--bcher-kva.example", "UTC"),
    ]
    # The ASCII spelling of dup@ already exists: that row is left (the outbox still sends it in ASCII).
    assert _column(url, "SELECT email FROM subscribers ORDER BY id") == [
        "lena@xn--bcher-kva.example",
        "dup@bücher.example",
        "dup@xn--bcher-kva.example",
    ]
    # The campaign row follows its subscriber, or the sender would skip it as "address changed".
    assert _column(url, "SELECT to_address FROM outbox_messages ORDER BY id") == [
        "lena@xn--bcher-kva.example",
        "marie@xn--bcher-kva.example",
    ]
    assert _column(url, "SELECT email FROM organisers") == ["olga@xn--bcher-kva.example"]
    # Rebuilding campaigns on SQLite (its CHECK constraint changed) kept the rows that reference it.
    assert _column(url, "SELECT campaign_id, topic_id FROM campaign_topics") == [(1, 1)]
    assert _column(url, "SELECT status, error FROM campaigns") == [("sending", None)]
    _execute(url, "UPDATE campaigns SET status = 'failed', error = 'could not be built'")
    with pytest.raises(sa.exc.IntegrityError):
        _execute(url, "UPDATE campaigns SET status = 'lost'")

    _migrate(url, "downgrade", BEFORE)
    assert _column(url, "SELECT status FROM campaigns") == ["done"]
    assert _column(url, "SELECT count(*) FROM outbox_messages") == [2]
    _migrate(url, "upgrade", "head")
    assert _column(url, "SELECT timezone FROM webinars") == ["Asia/Kolkata"]


def test_0020_stores_each_persons_language_and_keeps_one_live_registration_per_address(empty_database):
    url = empty_database
    _migrate(url, "upgrade", "0006_content_items")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for statement, params in OLD_ROWS[:3]:
            connection.execute(sa.text(statement), {"now": NOW, **params})
    engine.dispose()

    _migrate(url, "upgrade", "0020_french_and_zones")
    # Everyone who signed up before French existed signed up in English.
    assert _column(url, "SELECT language FROM registrations ORDER BY id") == ["en", "en", "en"]
    assert _column(url, "SELECT language FROM subscribers ORDER BY id") == ["en", "en", "en"]
    assert _column(url, "SELECT title_fr, summary_fr FROM webinars") == [("", "")]
    # Rebuilding registrations on SQLite kept the partial unique index partial: a cancelled row of an
    # address does not stop a live one, two live ones are refused.
    insert = (
        "INSERT INTO registrations (id, webinar_id, email, name, organisation, country, timezone, status,"
        " wants_newsletter, created_at, language) VALUES ({id}, 1, 'hans@xn--bcher-kva.example', 'Hans', '', '',"
        " 'UTC', '{status}', false, '2026-11-02 10:00:00', 'fr')"
    )
    _execute(url, insert.format(id=4, status="confirmed"))
    with pytest.raises(sa.exc.IntegrityError):
        _execute(url, insert.format(id=5, status="waitlisted"))

    _migrate(url, "downgrade", "0006_content_items")
    assert _column(url, "SELECT count(*) FROM registrations") == [4]
    engine = sa.create_engine(url)
    try:
        columns = {column["name"] for column in sa.inspect(engine).get_columns("subscribers")}
    finally:
        engine.dispose()
    assert "language" not in columns


def test_0010_keys_live_registrations_by_mailbox_and_keeps_intents_until_delivered(empty_database):
    url = empty_database
    _migrate(url, "upgrade", "0020_french_and_zones")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(OLD_ROWS[0][0]), {"now": NOW, **OLD_ROWS[0][1]})
        connection.execute(
            sa.text(
                "INSERT INTO registrations (id, webinar_id, email, name, organisation, country, timezone, status,"
                " wants_newsletter, created_at) VALUES"
                " (1, 1, 'Ana@Example.org', 'Ana', '', '', 'UTC', 'confirmed', false, :now),"
                " (2, 1, 'ana@example.org', 'Ana again', '', '', 'UTC', 'waitlisted', false, :now),"
                " (3, 1, 'ANA@example.org', 'Ana before', '', '', 'UTC', 'cancelled', false, :now),"
                " (4, 1, 'Élise@example.org', 'Élise', '', '', 'UTC', 'confirmed', false, :now)"
            ),
            {"now": NOW},
        )
    engine.dispose()

    _migrate(url, "upgrade", "0010_intent_outbox")  # 0040 follows; this test is about 0010
    # One live registration per mailbox: the later spelling of Ana's address is cancelled, the earlier kept.
    assert _column(url, "SELECT email_key, status FROM registrations ORDER BY id") == [
        ("ana@example.org", "confirmed"),
        ("ana@example.org", "cancelled"),
        ("ana@example.org", "cancelled"),
        ("élise@example.org", "confirmed"),  # case-folded in Python: SQL's lower() leaves É alone
    ]
    with pytest.raises(sa.exc.IntegrityError):
        _execute(
            url,
            "INSERT INTO registrations (webinar_id, email, email_key, name, organisation, country, timezone, status,"
            " wants_newsletter, created_at) VALUES (1, 'ÉLISE@example.org', 'élise@example.org', 'É', '', '',"
            " 'UTC', 'waitlisted', false, '2026-11-01 12:00:00')",
        )

    # An intent still waiting to be sent: the older code could not build it, so no downgrade yet.
    _execute(
        url,
        "INSERT INTO outbox_messages (id, kind, to_address, payload, status, attempts, next_attempt_at, created_at)"
        " VALUES (7, 'registration_confirmed', 'Ana@Example.org', '{\"r\": 1}', 'queued', 0,"
        " '2026-11-01 12:00:00', '2026-11-01 12:00:00')",
    )
    with pytest.raises(SystemExit):  # Flask-Migrate logs "... deliver them first ..." and exits with 1
        _migrate(url, "downgrade", "0020_french_and_zones")
    # Still at 0010 or above (PostgreSQL rolls the whole downgrade back, later migrations included).
    [version] = _column(url, "SELECT version_num FROM alembic_version")
    assert version in AT_OR_AFTER_0010
    _execute(url, "UPDATE outbox_messages SET status = 'sent'")
    _migrate(url, "downgrade", "0020_french_and_zones")
    assert _column(url, "SELECT id, status FROM outbox_messages") == [(7, "sent")]
    assert _column(url, "SELECT count(*) FROM outbox_messages WHERE raw IS NOT NULL") == [1]
    _migrate(url, "upgrade", "head")
    assert _column(url, "SELECT count(*) FROM registrations WHERE email_key = 'ana@example.org'") == [3]


def test_0030_makes_every_existing_organiser_an_owner_who_keeps_the_webinars_they_created(empty_database):
    url = empty_database
    _migrate(url, "upgrade", "0010_intent_outbox")
    _execute(
        url,
        "INSERT INTO organisers (id, email, name, password_hash, active, created_at, session_version) VALUES"
        " (1, 'olga@example.org', 'Olga', 'x', true, '2026-11-01 12:00:00', 0),"
        " (2, 'omar@example.org', 'Omar', 'x', false, '2026-11-01 12:00:00', 0)",
    )
    _execute(
        url,
        "INSERT INTO webinars (id, slug, ical_uid, title, summary, description, starts_at, timezone, ends_at,"
        " display_zones, location, status, join_url, recording_url, sequence, created_at, updated_at,"
        " confirm_registrations) VALUES (1, 'w', 'u@x', 'T', '', '', '2030-03-12 10:00:00', 'Europe/Paris',"
        " '2030-03-12 11:00:00', '', 'Online', 'draft', '', '', 0, '2026-11-01 12:00:00', '2026-11-01 12:00:00',"
        " false)",
    )
    _execute(
        url,
        "INSERT INTO audit_events (at, organiser_id, webinar_id, action, details) VALUES"
        " ('2026-11-01 12:00:00', 2, 1, 'created', 'Created as a draft: T'),"
        " ('2026-11-02 12:00:00', 1, 1, 'updated', 'Title: S → T')",
    )

    _migrate(url, "upgrade", "head")

    assert _column(url, "SELECT email, role FROM organisers ORDER BY id") == [
        ("olga@example.org", "owner"),
        ("omar@example.org", "owner"),
    ]
    assert _column(url, "SELECT webinar_id, organiser_id FROM webinar_editors") == [(1, 2)]
    # The audit trail that refers to the organisers survived the rebuild of their table on SQLite.
    assert _column(url, "SELECT organiser_id FROM audit_events ORDER BY id") == [2, 1]
    with pytest.raises(sa.exc.IntegrityError):
        _execute(url, "UPDATE organisers SET role = 'admin' WHERE id = 1")

    _migrate(url, "downgrade", "0010_intent_outbox")
    assert _column(url, "SELECT organiser_id FROM audit_events ORDER BY id") == [2, 1]
    _migrate(url, "upgrade", "head")
    assert _column(url, "SELECT role FROM organisers ORDER BY id") == ["owner", "owner"]


def test_0040_makes_page_dates_outside_1900_to_2100_empty_and_refuses_new_ones(empty_database):
    url = empty_database
    _migrate(url, "upgrade", "0010_intent_outbox")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO topics (id, slug, name, page_date) VALUES (1, 'far', 'Far', '9999-12-31'),"
                " (2, 'old', 'Old', '1911-03-25'), (3, 'none', 'None', NULL)"
            )
        )
        for number, day in ((1, "9999-12-31"), (2, "0001-01-01"), (3, "2017-09-27"), (4, None)):
            connection.execute(
                sa.text(
                    "INSERT INTO content_items (id, slug, type, label, title, published_on, sort_date, summary,"
                    " body, external_url, image_url, image_alt, language, status, created_at, updated_at)"
                    " VALUES (:id, :slug, 'news', '', 'T', :day, :sort, '', '', '', '', '', 'en', 'published',"
                    " :now, :now)"
                ),
                {"id": number, "slug": f"i{number}", "day": day, "sort": day or "0001-01-01", "now": NOW},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO content_item_topics (item_id, topic_id, status, type, sort_date)"
                    " VALUES (:id, 2, 'published', 'news', :sort)"
                ),
                {"id": number, "sort": day or "0001-01-01"},
            )
    engine.dispose()

    _migrate(url, "upgrade", "head")
    dates = _column(url, "SELECT id, published_on, sort_date FROM content_items ORDER BY id")
    assert [(row[0], str(row[1]) if row[1] else None, str(row[2])) for row in dates] == [
        (1, None, "0001-01-01"),
        (2, None, "0001-01-01"),
        (3, "2017-09-27", "2017-09-27"),
        (4, None, "0001-01-01"),
    ]
    sort_keys = _column(url, "SELECT item_id, sort_date FROM content_item_topics ORDER BY item_id")
    assert [str(day) for _item, day in sort_keys] == ["0001-01-01", "0001-01-01", "2017-09-27", "0001-01-01"]
    topics = _column(url, "SELECT id, page_date FROM topics ORDER BY id")
    assert [(row[0], str(row[1]) if row[1] else None) for row in topics] == [(1, None), (2, "1911-03-25"), (3, None)]
    for statement in (
        "UPDATE topics SET page_date = '2101-01-01' WHERE id = 2",
        "INSERT INTO topics (id, slug, name, page_date) VALUES (4, 'x', 'X', '1899-12-31')",
        "UPDATE content_items SET published_on = '0001-01-01' WHERE id = 3",
    ):
        with pytest.raises(sa.exc.IntegrityError):
            _execute(url, statement)

    _migrate(url, "downgrade", "0020_french_and_zones")
    _execute(url, "UPDATE topics SET page_date = '2101-01-01' WHERE id = 2")
    _migrate(url, "upgrade", "head")
    assert _column(url, "SELECT page_date FROM topics WHERE id = 2") == [None]
