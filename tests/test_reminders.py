"""Reminders 24 hours and 1 hour before: once each, never late, never to latecomers."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from webinars.catalogue.models import Webinar, new_ical_uid
from webinars.database import utcnow
from webinars.extensions import db
from webinars.outbox.models import OutboxMessage
from webinars.registrations.models import Registration
from webinars.registrations.reminders import send_due_reminders

START = utcnow().replace(microsecond=0) + timedelta(days=10)


def setup(app, *registered_before: timedelta, status="confirmed") -> None:
    """A webinar at START and one confirmed registration per `registered_before` (before START)."""
    with app.app_context():
        webinar = Webinar(
            slug="reminded",
            ical_uid=new_ical_uid("webinars.test"),
            title="Reminded webinar",
            starts_at=START,
            ends_at=START + timedelta(hours=1),
            timezone="Europe/Paris",
            status="published",
            join_url="https://meet.example.org/r",
            sequence=0,
        )
        db.session.add(webinar)
        for n, before in enumerate(registered_before):
            at = START - before
            db.session.add(
                Registration(
                    webinar=webinar,
                    email=f"person{n}@example.com",
                    name=f"Person {n}",
                    timezone="Asia/Tokyo",
                    status=status,
                    created_at=at,
                    confirmed_at=at if status == "confirmed" else None,
                )
            )
        db.session.commit()


def queued(app) -> list[tuple[str, str]]:
    with app.app_context():
        return db.session.execute(select(OutboxMessage.to_address, OutboxMessage.kind).order_by(OutboxMessage.id)).all()


def run(app, at):
    with app.app_context():
        return send_due_reminders(at)


def test_each_reminder_is_sent_once_however_often_the_command_runs(app):
    setup(app, timedelta(days=5))
    assert run(app, START - timedelta(hours=30))["24h"] == 0  # too early
    assert run(app, START - timedelta(hours=23, minutes=55))["24h"] == 1
    assert run(app, START - timedelta(hours=23, minutes=50))["24h"] == 0
    assert run(app, START - timedelta(minutes=58))["1h"] == 1
    assert run(app, START - timedelta(minutes=50)) == {"24h": 0, "1h": 0, "skipped": 0}
    assert queued(app) == [("person0@example.com", "reminder_24h"), ("person0@example.com", "reminder_1h")]


def test_someone_registering_after_the_24h_moment_gets_only_the_1h_reminder(app):
    setup(app, timedelta(hours=10))
    run(app, START - timedelta(hours=5))
    run(app, START - timedelta(minutes=30))
    assert queued(app) == [("person0@example.com", "reminder_1h")]


def test_a_run_late_past_the_1h_moment_sends_only_the_1h_reminder(app):
    setup(app, timedelta(days=3))
    result = run(app, START - timedelta(minutes=20))
    assert result == {"24h": 0, "1h": 1, "skipped": 1}
    assert queued(app) == [("person0@example.com", "reminder_1h")]


def test_nothing_is_sent_after_the_start(app):
    setup(app, timedelta(days=3))
    assert run(app, START + timedelta(minutes=5)) == {"24h": 0, "1h": 0, "skipped": 0}
    assert queued(app) == []


def test_waitlisted_and_cancelled_people_get_no_reminder(app):
    setup(app, timedelta(days=3), status="waitlisted")
    run(app, START - timedelta(hours=2))
    run(app, START - timedelta(minutes=30))
    assert queued(app) == []


def test_reminder_email_shows_the_attendee_zone_and_the_join_link(app, runner, smtp_server):
    setup(app, timedelta(days=3))
    run(app, START - timedelta(hours=23))
    with app.app_context():
        assert db.session.scalar(select(func.count(OutboxMessage.id))) == 1
    assert runner.invoke(args=["mail", "send"]).exit_code == 0
    [received] = smtp_server.wait_for(1)
    assert received.subject == "Tomorrow: Reminded webinar"
    assert "Tokyo, Japan" in received.body("plain") and "https://meet.example.org/r" in received.body("plain")


def test_reminders_command_runs(app, runner):
    setup(app, timedelta(days=3))
    result = runner.invoke(args=["reminders", "send"])
    assert result.exit_code == 0 and "Queued 0 24-hour" in result.output
