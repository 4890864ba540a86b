"""Data rights: one export and one erasure that cover all of a person's data, from the command line
and from the admin, whatever case the address was typed in; and nothing public that tells whether an
address is registered."""

from __future__ import annotations

import email
import email.policy
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests._support.forms import post_form
from tests.factories import make_topic, make_webinar
from tests.test_admin import EMAIL, make_organiser, signed_in
from webinars.audit import AuditEvent
from webinars.database import utcnow
from webinars.extensions import db
from webinars.newsletter import operations as newsletter
from webinars.newsletter.models import ConsentEvent, Subscriber
from webinars.outbox.models import Suppression
from webinars.outbox.sender import deliver_due
from webinars.registrations.models import Registration
from webinars.registrations.operations import counts, register

ANA = "Ana.Lima@Example.org"  # as she typed it when registering; the newsletter stores it lower-cased
BOB = "bob@example.org"


def _plain_text(path) -> str:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    return message.get_body(("plain",)).get_content()


MANAGE_LINK = re.compile(r"http://webinars\.test(/registrations/[A-Za-z0-9_.\-]+)")


def _person_everywhere(app, mail_dir: Path | None = None) -> dict:
    """Ana and Bob each registered for two webinars (Ana once on a waiting list) and asked for the
    newsletter; Ana also confirmed it, bounced once, and tried to sign in to the admin. Their mail
    has gone out (to `mail_dir` as .eml files when given)."""
    with app.app_context():
        topic = make_topic()
        full = make_webinar(title="Full house", capacity=1, local_start=datetime(2030, 6, 4, 10, 0), topics=[topic])
        roomy = make_webinar(title="Plenty of room", capacity=50, local_start=datetime(2030, 7, 4, 10, 0))
        for person, name in ((BOB, "Bob Brown"), (ANA, "Ana Lima")):
            for webinar in (full, roomy):
                register(
                    webinar,
                    name=name,
                    email=person,
                    organisation="Cooperativa Sul",
                    country="Brazil",
                    timezone="America/Sao_Paulo",
                    wants_newsletter=True,
                    now=utcnow(),
                )
        db.session.commit()
        ana = db.session.scalar(select(Subscriber).where(Subscriber.email == ANA.lower()))
        newsletter.confirm(ana)
        newsletter.update_preferences(ana, [topic])
        db.session.add(Suppression(email=ANA.lower(), reason="RCPT 550 mailbox full"))
        from webinars.admin.auth import begin_sign_in

        begin_sign_in(ANA, "203.0.113.7")  # a sign-in attempt under her address
        db.session.commit()
        if mail_dir is not None:
            app.config.update(MAIL_SERVER=None, MAIL_OUTBOX_DIR=str(mail_dir))
        deliver_due()
        return {
            "full": full.id,
            "roomy": roomy.id,
            "confirmed_before": (counts(full)["confirmed"], counts(roomy)["confirmed"]),
        }


def _everything_mentioning(app, needle: str, mail_dir: Path | None = None) -> list[str]:
    """Every stored trace of `needle` (case-insensitive): rows of every table, outbox bytes, mail files."""
    found = []
    needle_bytes = needle.lower().encode()
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(select(table)).mappings():
                for column, value in row.items():
                    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                    if needle.lower() in text.lower():
                        found.append(f"{table.name}.{column} (row {row.get('id')})")
    if mail_dir is not None and mail_dir.exists():
        found += [path.name for path in mail_dir.glob("*.eml") if needle_bytes in path.read_bytes().lower()]
    return found


# Room for every message of the setup (registrations and newsletter confirmations to one address).
ROOMY = pytest.mark.app_config(MAIL_UNCONFIRMED_PER_ADDRESS=10)


@ROOMY
@pytest.mark.app_config(MAIL_SERVER=None)
def test_privacy_export_holds_all_of_a_persons_data(app, runner, tmp_path):
    _person_everywhere(app, tmp_path / "mail")
    result = runner.invoke(args=["privacy", "export", "ana.lima@EXAMPLE.org"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # stderr carries log lines
    assert data["email"] == "ana.lima@example.org"
    assert data["subscriber"]["status"] == "subscribed"
    assert [e["action"] for e in data["subscriber"]["consent_events"]] == [
        "requested",
        "requested",
        "confirmed",
        "preferences",
    ]
    assert data["suppression"]["reason"] == "RCPT 550 mailbox full"
    assert sorted((r["webinar"], r["status"]) for r in data["registrations"]) == [
        ("Full house", "waitlisted"),
        ("Plenty of room", "confirmed"),
    ]
    assert {r["name"] for r in data["registrations"]} == {"Ana Lima"}
    assert {r["organisation"] for r in data["registrations"]} == {"Cooperativa Sul"}
    # Registration mail went to "Ana.Lima@Example.org", newsletter mail to "ana.lima@example.org": both found.
    kinds = sorted(m["kind"] for m in data["messages"])
    assert kinds == ["newsletter_confirm", "newsletter_confirm", "registration_confirmed", "registration_waitlisted"]
    assert all(m["subject"] for m in data["messages"])
    assert sorted(h["bucket"] for h in data["rate_limit_hits"]) == ["login-email", "login-pair", "unconfirmed-mail"]
    assert len(data["mail_files"]) == 4 and all(name.endswith(".eml") for name in data["mail_files"])
    assert "bob" not in result.stdout.lower()
    with app.app_context():  # exported from the command line: recorded, without the address
        [(action, details)] = db.session.execute(select(AuditEvent.action, AuditEvent.details)).all()
        assert action == "data exported" and "ana" not in details.lower()


# Internal numbers that mean nothing outside the database: the export names what they point to instead.
INTERNAL_KEYS = {"id", "webinar_id", "subscriber_id"}
# Columns exported under a name that says more.
EXPORTED_AS = {
    (Registration, "created_at"): "registered_at",
    (Registration, "attended_minutes"): "minutes_attended",
    (Registration, "joined_at"): "first_joined_at",
    (Registration, "left_at"): "last_left_at",
}


def _exported(value):
    return value.isoformat() if isinstance(value, datetime) else value


@ROOMY
def test_the_export_holds_every_stored_column_of_the_persons_rows(app, runner):
    """The language a person reads in (and every column a later change adds) is theirs to see too."""
    _person_everywhere(app)
    with app.app_context():
        for registration in db.session.scalars(select(Registration)):
            registration.language, registration.address_confirmed_at = "fr", utcnow()
        db.session.scalar(select(Subscriber).where(Subscriber.email == ANA.lower())).language = "fr"
        db.session.commit()
    data = json.loads(runner.invoke(args=["privacy", "export", ANA]).stdout)
    with app.app_context():
        ana = db.session.scalar(select(Subscriber).where(Subscriber.email == ANA.lower()))
        stored = {
            Subscriber: [(ana, data["subscriber"])],
            ConsentEvent: list(zip(ana.consent_events, data["subscriber"]["consent_events"], strict=True)),
            Suppression: [(db.session.scalar(select(Suppression)), data["suppression"])],
            Registration: list(
                zip(
                    db.session.scalars(select(Registration).where(Registration.email == ANA).order_by(Registration.id)),
                    sorted(data["registrations"], key=lambda r: r["registered_at"]),
                    strict=True,
                )
            ),
        }
        for model, pairs in stored.items():
            for row, exported in pairs:
                for column in model.__mapper__.column_attrs:
                    if column.key in INTERNAL_KEYS:
                        continue
                    key = EXPORTED_AS.get((model, column.key), column.key)
                    assert key in exported, f"{model.__name__}.{column.key} is not in the export"
                    assert exported[key] == _exported(getattr(row, column.key)), f"{model.__name__}.{column.key}"
    assert {r["language"] for r in data["registrations"]} == {"fr"} and data["subscriber"]["language"] == "fr"


@ROOMY
@pytest.mark.app_config(MAIL_SERVER=None)
def test_privacy_erase_leaves_nothing_of_the_person_and_keeps_the_counts(app, runner, tmp_path):
    mail_dir = tmp_path / "mail"
    before = _person_everywhere(app, mail_dir)
    manage_paths = [
        # The text as a mail client shows it: a non-ASCII place name makes the part quoted-printable,
        # whose soft line breaks cut a long link in the raw file.
        MANAGE_LINK.search(_plain_text(path)).group(1)
        for path in sorted(mail_dir.glob("*registration*.eml"))
        if "Ana.Lima@Example.org" in path.read_text()
    ]
    assert manage_paths and _everything_mentioning(app, "ana.lima", mail_dir)
    bob_before = _everything_mentioning(app, BOB, mail_dir)

    summary = runner.invoke(args=["privacy", "erase", ANA.upper()], input="n\n")
    assert summary.exit_code != 0 and "2 registrations" in summary.output  # says what, asks, and stops
    assert _everything_mentioning(app, "ana.lima", mail_dir)

    result = runner.invoke(args=["privacy", "erase", ANA.upper(), "--yes"])
    assert result.exit_code == 0, result.output
    assert _everything_mentioning(app, "ana.lima", mail_dir) == []
    assert _everything_mentioning(app, "Ana Lima", mail_dir) == []
    assert _everything_mentioning(app, BOB, mail_dir) == bob_before  # nobody else's data is touched
    with app.app_context():
        from webinars.catalogue.models import Webinar

        full, roomy = db.session.get(Webinar, before["full"]), db.session.get(Webinar, before["roomy"])
        # Both webinars are upcoming: her seat is given up (past webinars keep theirs: see below).
        full_before, roomy_before = before["confirmed_before"]
        assert (counts(full)["confirmed"], counts(roomy)["confirmed"]) == (full_before, roomy_before - 1)
        erased = db.session.scalars(select(Registration).where(Registration.erased_at.is_not(None))).all()
        assert sorted(r.status for r in erased) == ["cancelled", "cancelled"]  # nobody can be offered a seat
        assert db.session.scalar(select(func.count()).select_from(ConsentEvent)) == 2  # Bob's
        [(action, details)] = db.session.execute(
            select(AuditEvent.action, AuditEvent.details).where(AuditEvent.action == "data erased")
        ).all()
        assert "2 registrations" in details and "ana" not in details.lower()
    client = app.test_client()
    for path in manage_paths:  # the links in mail already delivered no longer open anything
        response = client.get(path)
        assert response.status_code == 410 and "erased" in response.get_data(as_text=True)
    # Nothing more is sent to the erased registrations (reminders, updates, promotions).
    with app.app_context():
        from webinars.registrations.notifications import send_webinar_update

        assert send_webinar_update(db.session.get(Webinar, before["roomy"]), {"location": ("Online", "Paris")}) == 1
        db.session.rollback()
    empty = json.loads(runner.invoke(args=["privacy", "export", ANA]).stdout)
    assert empty["subscriber"] is None and empty["registrations"] == [] and empty["messages"] == []
    assert empty["rate_limit_hits"] == [] and empty["mail_files"] == [] and empty["suppression"] is None
    again = runner.invoke(args=["privacy", "erase", ANA, "--yes"])
    assert again.exit_code == 0 and "Nothing is stored" in again.output


def _erasure_setup(app) -> dict:
    """Ana holds a seat in three webinars: a full upcoming one with two people waiting, an upcoming one
    that only she filled, and one that took place last month; and a held seat (to confirm) in a fourth."""
    with app.app_context():
        now = utcnow()
        full = make_webinar(title="Full house", capacity=2, local_start=datetime(2030, 6, 4, 10, 0))
        alone = make_webinar(title="Just her", capacity=1, local_start=datetime(2030, 6, 5, 10, 0))
        held = make_webinar(title="Held", capacity=1, confirm_registrations=True, local_start=datetime(2030, 6, 6, 10))
        past = make_webinar(title="Last month", capacity=2, starts_at=now - timedelta(days=30))
        for person in (ANA, "cleo@example.org", "dan@example.org", "eve@example.org"):
            register(full, name=person.split("@")[0], email=person, now=now)
        register(alone, name="Ana Lima", email=ANA, now=now)
        register(held, name="Ana Lima", email=ANA, now=now)
        register(held, name="Fay", email="fay@example.org", now=now)
        # Registered for last month's webinar while it was upcoming.
        register(past, name="Ana Lima", email=ANA, now=now - timedelta(days=40))
        register(past, name="Gil", email="gil@example.org", now=now - timedelta(days=40))
        db.session.commit()
        deliver_due()
        return {"full": full.id, "alone": alone.id, "held": held.id, "past": past.id, "slug": alone.slug}


def _statuses(webinar_id: int) -> dict[str, str]:
    rows = db.session.execute(
        select(Registration.email, Registration.status).where(Registration.webinar_id == webinar_id)
    )
    return {email.split("@")[0]: status for email, status in rows}


@ROOMY
def test_erasing_a_seat_holder_frees_the_seat_and_moves_the_waiting_list_up_in_order(app, runner, smtp_server):
    ids = _erasure_setup(app)
    client = app.test_client()
    assert "This webinar is full" in client.get(f"/webinars/{ids['slug']}").get_data(as_text=True)
    smtp_server.clear()
    result = runner.invoke(args=["privacy", "erase", ANA, "--yes"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        from webinars.catalogue.models import Webinar

        webinars = {name: db.session.get(Webinar, ids[name]) for name in ("full", "alone", "held", "past")}
        # The full webinar: her seat went to the first person waiting, the second still waits.
        assert counts(webinars["full"])["confirmed"] == 2 and counts(webinars["full"])["waitlisted"] == 1
        assert _statuses(ids["full"])["dan"] == "confirmed" and _statuses(ids["full"])["eve"] == "waitlisted"
        # The one only she filled is open again; her held seat went to the next in line.
        assert counts(webinars["alone"])["available"] == 1
        assert counts(webinars["held"])["pending"] == 1 and _statuses(ids["held"])["fay"] == "pending"
        # Last month's webinar keeps its figures: she attended, anonymously.
        assert counts(webinars["past"])["confirmed"] == 2
        erased = db.session.execute(
            select(Registration.webinar_id, Registration.status).where(Registration.erased_at.is_not(None))
        ).all()
        assert sorted(erased) == sorted(
            [
                (ids["full"], "cancelled"),
                (ids["alone"], "cancelled"),
                (ids["held"], "cancelled"),
                (ids["past"], "confirmed"),
            ]
        )
        deliver_due()
    # The people who moved up are told, with the invitation; the erased address gets nothing.
    [promoted] = smtp_server.messages_to("dan@example.org")
    assert "text/calendar" in promoted.data.decode("utf-8", "replace") and "METHOD:REQUEST" in promoted.data.decode()
    assert smtp_server.messages_to("fay@example.org")
    assert not smtp_server.messages_to(ANA.lower()) and not smtp_server.messages_to(ANA)
    assert "This webinar is full" not in client.get(f"/webinars/{ids['slug']}").get_data(as_text=True)


@ROOMY
def test_an_erasure_waits_for_the_webinars_lock_like_a_cancellation(pg_app):
    """Seats are counted under the webinar's row lock: an erasure that frees one takes that lock too,
    so a registration or cancellation running at the same moment cannot count the same seat."""
    import threading

    import psycopg

    from tests._support.live_server import wait_until
    from webinars.privacy import operations as privacy

    ids = _erasure_setup(pg_app)
    database = pg_app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg", "postgresql")

    holder = psycopg.connect(database)
    holder.execute("SELECT id FROM webinars WHERE id = %s FOR UPDATE", (ids["full"],))  # in a transaction
    watcher = psycopg.connect(database, autocommit=True)  # each look at pg_stat_activity is fresh
    outcome = {}

    def erase():
        with pg_app.app_context():
            outcome["holdings"] = privacy.erase(ANA, now=utcnow())
            db.session.commit()

    worker = threading.Thread(target=erase)
    worker.start()
    try:

        def waiting_for_the_lock():
            return watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE%'"
            ).fetchone()[0]

        # The erasure waits for the lock: nothing of hers is changed while the webinar is held.
        wait_until(waiting_for_the_lock, timeout=30, what="the erasure to wait for the webinar's lock")
        assert worker.is_alive() and "holdings" not in outcome
    finally:
        holder.commit()
        holder.close()
        watcher.close()
        worker.join(timeout=30)
    assert outcome["holdings"].registrations == 4
    with pg_app.app_context():
        assert _statuses(ids["full"])["dan"] == "confirmed"


@ROOMY
def test_newsletter_export_and_erase_cover_registrations_too(app, runner):
    _person_everywhere(app)
    data = json.loads(runner.invoke(args=["newsletter", "export", ANA]).stdout)
    assert len(data["registrations"]) == 2
    assert runner.invoke(args=["newsletter", "erase", ANA, "--yes"]).exit_code == 0
    assert _everything_mentioning(app, "ana.lima") == []


@ROOMY
def test_the_admin_exports_and_erases_after_a_confirmation_and_records_it(app, client):
    _person_everywhere(app)
    organiser = signed_in(app, client)
    page = organiser.get("/admin/privacy")
    assert page.status_code == 200
    found = post_form(organiser, "/admin/privacy", {"email": "ANA.LIMA@example.org", "action": "find"})
    assert found.status_code == 200
    text = found.get_data(as_text=True)
    assert "2 registrations" in text and "newsletter subscription" in text

    export = post_form(
        organiser, "/admin/privacy", {"email": "ANA.LIMA@example.org", "action": "export"}, form_url="/admin/privacy"
    )
    assert export.status_code == 200
    assert export.headers["Content-Type"].startswith("application/json")
    assert "attachment" in export.headers["Content-Disposition"] and "no-store" in export.headers["Cache-Control"]
    assert len(json.loads(export.data)["registrations"]) == 2

    refused = post_form(organiser, "/admin/privacy", {"email": "ANA.LIMA@example.org", "action": "erase"})
    assert refused.status_code == 422 and _everything_mentioning(app, "ana.lima")
    erased = post_form(
        organiser, "/admin/privacy", {"email": "ANA.LIMA@example.org", "action": "erase", "confirm": "y"}
    )
    assert erased.status_code == 302
    assert _everything_mentioning(app, "ana.lima") == []
    history = organiser.get("/admin/history").get_data(as_text=True)
    assert "data exported" in history and "data erased" in history and EMAIL in history
    assert "ana" not in history.lower()


def test_an_erasure_request_for_an_unknown_address_says_so(app, client):
    organiser = signed_in(app, client)
    found = post_form(organiser, "/admin/privacy", {"email": "nobody@example.org", "action": "find"})
    assert found.status_code == 200 and "Nothing is stored" in found.get_data(as_text=True)
    assert post_form(organiser, "/admin/privacy", {"email": "not an address", "action": "find"}).status_code == 422


def test_the_privacy_pages_need_an_organiser(app, client):
    make_organiser(app)
    assert client.get("/admin/privacy").status_code == 302


# -- the public seats figure does not tell whether an address is registered ---------------------------


def _seats(client, slug: str) -> str:
    page = client.get(f"/webinars/{slug}").get_data(as_text=True)
    return re.search(r'<p class="seats[^"]*">(.*?)</p>', page, re.S).group(1)


def _register(client, slug: str, email: str):
    return post_form(
        client,
        f"/webinars/{slug}/register",
        {"name": "Someone", "email": email, "timezone": "Europe/Paris"},
        form_url=f"/webinars/{slug}",
    )


def test_the_seats_figure_does_not_tell_whether_an_address_is_registered(app, client):
    with app.app_context():
        slug = make_webinar(capacity=100, slug="hundred").slug
        db.session.commit()
    assert _register(client, slug, "known@example.org").status_code == 303
    shown = _seats(client, slug)
    assert not re.search(r"\d", shown), shown  # no exact number to compare
    assert _register(client, slug, "Known@example.org").status_code == 303  # the same person again
    after_known = _seats(client, slug)
    assert _register(client, slug, "new@example.org").status_code == 303  # a new person takes a seat
    after_new = _seats(client, slug)
    assert shown == after_known == after_new


def test_few_seats_and_a_full_webinar_are_still_told(app, client):
    with app.app_context():
        slug = make_webinar(capacity=3, slug="small").slug
        db.session.commit()
    assert "few seats" in _seats(client, slug)
    for n in range(3):
        _register(client, slug, f"p{n}@example.org")
    assert "full" in _seats(client, slug)
