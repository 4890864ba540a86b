"""The test fixtures themselves: real PostgreSQL, real SMTP, schema built by the migrations."""

from __future__ import annotations

import email.policy
import os
import smtplib
import socket
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests._support.forms import csrf_token_from_html, post_form
from tests._support.postgres import DatabasePool


def _message(to: list[str], subject: str = "Hello") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Organiser <organiser@webinars.test>"
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg.set_content("Café at 10:00 Paris time.\n")
    return msg


def _send(server, to: list[str], subject: str = "Hello") -> dict:
    with smtplib.SMTP(server.host, server.port, timeout=5) as smtp:
        return smtp.send_message(_message(to, subject))


# -- PostgreSQL --------------------------------------------------------------------------------


def test_postgres_url_points_at_a_real_postgresql_server(postgres_url):
    assert postgres_url.startswith("postgresql+psycopg://")
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            version = conn.execute(sa.text("select version()")).scalar_one()
            host = conn.execute(sa.text("select inet_server_addr()::text")).scalar_one()
    finally:
        engine.dispose()
    assert version.startswith("PostgreSQL ")
    assert host.startswith("127.0.0.1")


@pytest.mark.slow
@pytest.mark.parametrize(("ci", "outcome"), [("false", "1 skipped"), ("true", "1 error")])
def test_missing_postgresql_skips_locally_and_fails_in_ci(ci, outcome):
    env = dict(os.environ, CI=ci, WEBINARS_PG_BINDIR="/nonexistent")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "-q",
            "-rs",
            f"{__file__}::test_postgres_url_points_at_a_real_postgresql_server",
        ],
        cwd=Path(__file__).parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert outcome in result.stdout, result.stdout + result.stderr
    assert (result.returncode != 0) == (ci == "true")
    assert "PostgreSQL unavailable: WEBINARS_PG_BINDIR=/nonexistent" in result.stdout


def test_postgres_cluster_runs_fast_and_loose_with_room_for_many_connections(postgres_cluster):
    with postgres_cluster.connect() as conn:
        assert conn.execute("show fsync").fetchone() == ("off",)
        assert int(conn.execute("show max_connections").fetchone()[0]) >= 200


def test_pooled_databases_come_back_wiped_with_seed_rows_and_sequences_restored(postgres_cluster):
    cluster = postgres_cluster
    cluster.create_database("pooltest")
    with cluster.connect("pooltest") as conn:
        conn.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('head')")
        conn.execute("CREATE TABLE parent (id serial PRIMARY KEY, name text NOT NULL)")
        conn.execute("CREATE TABLE child (id serial PRIMARY KEY, parent_id int NOT NULL REFERENCES parent)")
        conn.execute("INSERT INTO parent (name) VALUES ('seeded by a migration')")
    pool = DatabasePool(cluster, "pooltest")

    name = pool.acquire()
    with cluster.connect(name) as conn:
        assert conn.execute("SELECT id, name FROM parent").fetchall() == [(1, "seeded by a migration")]
        conn.execute("INSERT INTO parent (name) VALUES ('left by a test')")
        conn.execute("INSERT INTO child (parent_id) VALUES (2)")
    pool.release(name)

    assert pool.acquire() == name
    with cluster.connect(name) as conn:
        assert conn.execute("SELECT id, name FROM parent").fetchall() == [(1, "seeded by a migration")]
        assert conn.execute("SELECT count(*) FROM child").fetchone() == (0,)
        assert conn.execute("INSERT INTO parent (name) VALUES ('x') RETURNING id").fetchone() == (2,)
        assert conn.execute("INSERT INTO child (parent_id) VALUES (1) RETURNING id").fetchone() == (1,)
        # A test that changes the schema must not hand its database to the next one.
        conn.execute("ALTER TABLE parent ADD COLUMN extra int")
    pool.release(name)

    other = pool.acquire()
    assert other != name
    pool.release(other)
    for db in (other, "pooltest"):
        cluster.drop_database(db)


def test_a_connection_left_open_by_a_test_does_not_block_the_next_one(postgres_cluster):
    cluster = postgres_cluster
    cluster.create_database("leftopen")
    with cluster.connect("leftopen") as conn:
        conn.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        conn.execute("CREATE TABLE t (id serial PRIMARY KEY)")
    pool = DatabasePool(cluster, "leftopen")
    name = pool.acquire()
    leaked = cluster.connect(name)
    leaked.autocommit = False
    leaked.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")  # e.g. a thread stuck mid-transaction
    pool.release(name)
    assert pool.acquire() == name
    leaked.close()
    pool.release(name)
    for db in (name, "leftopen"):
        cluster.drop_database(db)


# -- SMTP --------------------------------------------------------------------------------------


def test_smtp_server_records_a_message_sent_with_smtplib(smtp_server):
    _send(smtp_server, ["ada@example.org", "Grace@Example.org"], subject="Welcome")

    [received] = smtp_server.wait_for(1)
    assert received.mail_from == "organiser@webinars.test"
    assert received.rcpt_tos == ("ada@example.org", "Grace@Example.org")
    assert received.subject == "Welcome"
    assert received.body() == "Café at 10:00 Paris time.\n"
    assert b"Subject: Welcome" in received.data
    assert smtp_server.messages_to("grace@example.org") == [received]

    smtp_server.clear()
    assert smtp_server.messages == []


def test_smtp_wait_for_gives_up_with_a_clear_message(smtp_server):
    with pytest.raises(AssertionError, match="expected 1 message"):
        smtp_server.wait_for(1, timeout=0.1)


def test_smtp_server_can_go_down_and_come_back_on_the_same_port(smtp_server):
    port = smtp_server.port
    smtp_server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((smtp_server.host, port), timeout=2).close()

    smtp_server.start()
    assert smtp_server.port == port
    _send(smtp_server, ["ada@example.org"])
    assert len(smtp_server.wait_for(1)) == 1


def test_refused_recipient_gets_a_permanent_550(smtp_server):
    smtp_server.refuse_rcpt("bounce@example.org")

    with pytest.raises(smtplib.SMTPRecipientsRefused) as excinfo:
        _send(smtp_server, ["bounce@example.org"])
    code, _ = excinfo.value.recipients["bounce@example.org"]
    assert code == 550

    # With several recipients only the refused one is reported; the others get the message.
    refused = _send(smtp_server, ["ada@example.org", "bounce@example.org"])
    assert refused["bounce@example.org"][0] == 550
    [received] = smtp_server.wait_for(1)
    assert received.rcpt_tos == ("ada@example.org",)


def test_refuse_rcpt_accepts_a_predicate_and_a_custom_code(smtp_server):
    smtp_server.refuse_rcpt(lambda address: address.endswith("@blocked.example"), code=553)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as excinfo:
        _send(smtp_server, ["someone@blocked.example"])
    assert excinfo.value.recipients["someone@blocked.example"][0] == 553


def test_temporary_refusal_answers_4xx_then_accepts(smtp_server):
    smtp_server.defer_rcpt("later@example.org", code=451, times=1)

    with pytest.raises(smtplib.SMTPRecipientsRefused) as excinfo:
        _send(smtp_server, ["later@example.org"])
    assert excinfo.value.recipients["later@example.org"][0] == 451

    _send(smtp_server, ["later@example.org"])
    assert len(smtp_server.wait_for(1)) == 1


def test_refuse_data_drops_the_message_with_the_given_code(smtp_server):
    smtp_server.refuse_data(code=452, times=1)
    with pytest.raises(smtplib.SMTPDataError) as excinfo:
        _send(smtp_server, ["ada@example.org"])
    assert excinfo.value.smtp_code == 452
    assert smtp_server.messages == []


def test_smtp_server_offers_smtputf8_only_when_asked(smtp_server):
    message = _message(["josé@example.org"], subject="Café")
    raw = message.as_bytes(policy=email.policy.SMTPUTF8)
    assert not smtp_server.smtputf8
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("smtputf8")
        with pytest.raises(smtplib.SMTPNotSupportedError):
            smtp.sendmail("organiser@webinars.test", ["josé@example.org"], raw, mail_options=["SMTPUTF8"])

    smtp_server.offer_smtputf8(True)
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("smtputf8")
        smtp.sendmail("organiser@webinars.test", ["josé@example.org"], raw, mail_options=["SMTPUTF8"])
    [received] = smtp_server.wait_for(1)
    assert received.smtputf8 and received.rcpt_tos == ("josé@example.org",)
    assert received.message["To"].addresses[0].addr_spec == "josé@example.org"
    assert received.subject == "Café"

    smtp_server.reset()
    assert not smtp_server.smtputf8 and smtp_server.running


def test_smtp_server_is_reset_between_tests_part_1(smtp_server):
    smtp_server.refuse_rcpt("ada@example.org")
    smtp_server.stop()


def test_smtp_server_is_reset_between_tests_part_2(smtp_server):
    # Runs after part 1 in the same worker when not distributed; harmless otherwise.
    assert smtp_server.running
    assert smtp_server.messages == []
    _send(smtp_server, ["ada@example.org"])
    smtp_server.wait_for(1)


# -- forms helper ------------------------------------------------------------------------------


def test_csrf_token_is_read_whatever_the_attribute_order():
    page = '<form><input value="a&amp;b" type="hidden" name="csrf_token"></form>'
    assert csrf_token_from_html(page) == "a&b"
    page = '<input id="csrf_token" name="csrf_token" type="hidden" value="IjAb.c-d_e">'
    assert csrf_token_from_html(page) == "IjAb.c-d_e"


# -- the app and its schema --------------------------------------------------------------------


def test_migrations_build_the_schema(app):
    from webinars.extensions import db

    with app.app_context():
        inspector = sa.inspect(db.engine)
        assert inspector.has_table("webinars")
        assert inspector.has_table("alembic_version")
        revision = db.session.execute(sa.text("select version_num from alembic_version")).scalar_one()
    assert revision


def test_every_model_table_is_created_by_the_migrations(app):
    """A model without a migration would only show up here, not in create_all()-based tests."""
    from webinars.extensions import db

    with app.app_context():
        tables = set(sa.inspect(db.engine).get_table_names())
    assert set(db.metadata.tables) - tables == set()


def test_app_fixture_runs_on_the_database_it_says(app, request):
    from webinars.extensions import db

    kind = request.node.callspec.params["app"]
    with app.app_context():
        assert db.engine.dialect.name == kind
    if kind == "sqlite":
        assert ":memory:" not in app.config["SQLALCHEMY_DATABASE_URI"]


def test_sqlite_app_and_pg_app(sqlite_app, pg_app):
    from webinars.extensions import db

    with sqlite_app.app_context():
        assert db.engine.dialect.name == "sqlite"
    with pg_app.app_context():
        assert db.engine.dialect.name == "postgresql"


def test_app_points_mail_at_the_test_smtp_server(app, smtp_server):
    assert app.config["MAIL_SERVER"] == "127.0.0.1"
    assert app.config["MAIL_PORT"] == smtp_server.port
    assert app.config["TESTING"] is True


@pytest.mark.app_config(MAIL_RATE_LIMIT=5, SITE_NAME="Overridden")
def test_app_config_marker_overrides_config(sqlite_app):
    assert sqlite_app.config["MAIL_RATE_LIMIT"] == 5
    assert sqlite_app.config["SITE_NAME"] == "Overridden"


def test_csrf_is_enforced_and_post_form_passes_it(sqlite_app):
    from flask import render_template_string

    assert sqlite_app.config.get("WTF_CSRF_ENABLED", True) is True

    def form():
        return render_template_string(
            '<form method="post"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}"></form>'
        )

    sqlite_app.add_url_rule("/_test/form", "test_form", form, methods=["GET", "POST"])
    client = sqlite_app.test_client()

    assert client.post("/_test/form", data={}).status_code == 400
    assert post_form(client, "/_test/form").status_code == 200


def test_migration_0005_bounds_capacity_in_the_database_and_goes_down_and_up_again(app):
    from flask_migrate import downgrade, upgrade

    from tests.conftest import MIGRATIONS, _logging_kept
    from webinars.extensions import db

    def capacity_of(connection, slug):
        return connection.execute(sa.text("SELECT capacity FROM webinars WHERE slug = :s"), {"s": slug}).scalar()

    def add(connection, slug, capacity):
        connection.execute(
            sa.text(
                "INSERT INTO webinars (slug, ical_uid, title, summary, description, starts_at, timezone, ends_at, "
                "display_zones, location, capacity, status, join_url, recording_url, sequence, created_at, "
                "updated_at) VALUES (:slug, :slug, 't', '', '', '2030-01-01 10:00:00', 'UTC', '2030-01-01 11:00:00', "
                "'', 'Online', :capacity, 'draft', '', '', 0, '2030-01-01 00:00:00', '2030-01-01 00:00:00')"
            ),
            {"slug": slug, "capacity": capacity},
        )

    with app.app_context(), _logging_kept():
        downgrade(directory=str(MIGRATIONS), revision="0004_real_people")
        with db.engine.begin() as connection:
            add(connection, "huge", 5_000_000)
            add(connection, "fine", 1_000_000)
            # A draft cancelled by the old code (which made it public), and a published one cancelled.
            for slug, was in (("cancelled-draft", "draft"), ("cancelled-webinar", "published")):
                add(connection, slug, None)
                connection.execute(sa.text("UPDATE webinars SET status = 'cancelled' WHERE slug = :s"), {"s": slug})
                connection.execute(
                    sa.text(
                        "INSERT INTO audit_events (at, webinar_id, action, details) SELECT '2030-01-01 00:00:00', id, "
                        "'cancelled', :details FROM webinars WHERE slug = :s"
                    ),
                    {"s": slug, "details": f"Status: {was} → cancelled\nReason: test"},
                )
        upgrade(directory=str(MIGRATIONS))
        with db.engine.begin() as connection:
            assert capacity_of(connection, "huge") is None  # "no real limit" kept its meaning
            assert capacity_of(connection, "fine") == 1_000_000
            status = dict(connection.execute(sa.text("SELECT slug, status FROM webinars")).all())
            assert (status["cancelled-draft"], status["cancelled-webinar"]) == ("draft", "cancelled")
        for statement in (
            lambda c: add(c, "refused", 1_000_001),
            lambda c: c.execute(sa.text("UPDATE webinars SET capacity = 2000000 WHERE slug = 'fine'")),
        ):
            with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as connection:
                statement(connection)
        with db.engine.begin() as connection:
            assert capacity_of(connection, "fine") == 1_000_000
        db.session.remove()
