"""The request records intent, the worker renders: what an outbox row holds after a registration, how the
mail worker builds it with the renderer its part registered, and what happens when it cannot."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from tests.test_registrations import JOIN_URL, calendar_of, form, make_webinar, register
from webinars.catalogue.models import Webinar
from webinars.database import utcnow
from webinars.extensions import db
from webinars.outbox import register_renderer
from webinars.outbox.models import OutboxMessage
from webinars.outbox.operations import enqueue_intent
from webinars.outbox.sender import deliver_due
from webinars.registrations.models import Registration


def rows(app) -> list[OutboxMessage]:
    with app.app_context():
        found = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        db.session.expunge_all()
        return found


def test_a_registration_stores_what_to_send_and_builds_no_message_in_the_request(app, client, smtp_server):
    webinar_id = make_webinar(app, capacity=10)
    assert register(client, form(name="Ana Lima")).status_code == 303
    [row] = rows(app)
    with app.app_context():
        registration = db.session.scalar(select(Registration))
        sequence = db.session.get(Webinar, webinar_id).sequence
    assert row.raw is None and row.status == "queued" and row.kind == "registration_confirmed"
    assert row.to_address == "Ana.Lima@example.com"
    # Ids and the facts of the moment (the invite's SEQUENCE); no name, no bytes. The language is the
    # registration's own (registrations.language), read when the message is written.
    assert row.payload == {
        "r": registration.id,
        "resent": False,
        "promoted": False,
        "seq": sequence,
        "reason": "freed",
    }
    assert smtp_server.messages == []
    with app.app_context():
        assert deliver_due().sent == 1
    [received] = smtp_server.wait_for(1)
    assert received.subject.startswith("Registration confirmed") and JOIN_URL in received.body("plain")
    assert [row.status for row in rows(app)] == ["sent"]


def test_the_invite_shows_the_webinar_as_it_is_when_sent_at_the_sequence_the_attendee_registered_at(
    app, client, smtp_server
):
    """A title corrected between the registration and the worker's pass: the invite says the new title
    (it is built when sent) at the SEQUENCE the registration was made at, and the update that the change
    raised the SEQUENCE for follows at the higher one, so every calendar applies both in order."""
    from webinars.catalogue.operations import WebinarFields, update_webinar

    webinar_id = make_webinar(app, capacity=10)
    register(client, form())
    with app.app_context():
        webinar = db.session.get(Webinar, webinar_id)
        fields = WebinarFields(
            title="Tax talk, corrected",
            starts_at=webinar.starts_at + timedelta(hours=1),
            ends_at=webinar.ends_at + timedelta(hours=1),
            timezone=webinar.timezone,
            slug=webinar.slug,
            display_zones=webinar.display_zones,
            capacity=webinar.capacity,
            join_url=webinar.join_url,
            location=webinar.location,
        )
        update_webinar(webinar, fields, by=None, now=utcnow())
        db.session.commit()
        new_start = webinar.starts_at
    with app.app_context():
        assert deliver_due().sent == 2
    confirmation, update = smtp_server.messages_to("Ana.Lima@example.com")
    first, second = (calendar_of(m)[0].walk("VEVENT")[0] for m in (confirmation, update))
    assert str(first["SUMMARY"]) == str(second["SUMMARY"]) == "Tax talk, corrected"
    assert first.decoded("DTSTART") == second.decoded("DTSTART") == new_start
    assert (int(first["SEQUENCE"]), int(second["SEQUENCE"])) == (0, 1)
    assert str(first["UID"]) == str(second["UID"])


def test_a_waiting_list_notice_overtaken_by_a_seat_is_not_sent(app, client, smtp_server):
    """Someone waitlisted and moved up before the worker came by gets the seat's confirmation, not also a
    notice that they are on the waiting list (built when sent, it would contradict it)."""
    from tests.test_registrations import manage_link

    make_webinar(app, capacity=1)
    register(client, form(email="seat@example.com"))
    with app.app_context():
        assert deliver_due().sent == 1
    link = manage_link(smtp_server.messages_to("seat@example.com")[0])
    register(client, form(email="wait@example.com"))
    from tests._support.forms import csrf_token

    assert client.post(link, data={"csrf_token": csrf_token(client, link)}).status_code == 303
    with app.app_context():
        report = deliver_due()
    assert (report.sent, report.suppressed) == (2, 1)
    assert [m.subject.split(":")[0] for m in smtp_server.messages_to("wait@example.com")] == ["A seat is yours"]


def _queue(app, kind: str, payload: dict | None = None) -> int:
    with app.app_context():
        row_id = enqueue_intent(kind, "someone@example.org", payload or {"x": 1})
        db.session.commit()
        return row_id


def test_a_message_that_cannot_be_built_fails_at_once_with_its_reason_and_is_not_retried(app, smtp_server):
    def broken(row):
        raise KeyError("the template asked for something the payload lacks")

    register_renderer(app, "test_broken", broken)
    row_id = _queue(app, "test_broken")
    with app.app_context():
        report = deliver_due()
        row = db.session.get(OutboxMessage, row_id)
        assert (report.failed, report.retried, report.sent) == (1, 0, 0)
        assert row.status == "failed" and row.attempts == 1
        assert "could not be built" in row.last_error and "KeyError" in row.last_error
        assert deliver_due(now=utcnow() + timedelta(days=1)).claimed == 0  # not retried for hours
    assert smtp_server.messages == []


def test_a_message_of_a_kind_nobody_renders_fails_with_that_reason(app, smtp_server):
    with app.app_context():
        db.session.add(OutboxMessage(kind="vanished_kind", to_address="a@example.org", payload={"x": 1}))
        db.session.commit()
        report = deliver_due()
        row = db.session.scalar(select(OutboxMessage))
    assert report.failed == 1 and row.status == "failed" and "no renderer" in row.last_error
    with app.app_context(), pytest.raises(LookupError):
        enqueue_intent("vanished_kind", "a@example.org", {"x": 1})


def test_a_database_lost_while_building_is_retried_like_a_server_that_is_down(app, smtp_server):
    def unlucky(row):
        raise OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))

    register_renderer(app, "test_unlucky", unlucky)
    row_id = _queue(app, "test_unlucky")
    with app.app_context():
        report = deliver_due()
        row = db.session.get(OutboxMessage, row_id)
        assert (report.retried, report.failed) == (1, 0)
        assert row.status == "queued" and row.next_attempt_at > utcnow() and "database" in row.last_error


def test_a_renderer_with_nothing_left_to_send_marks_the_row_suppressed(app, client, smtp_server):
    """The registration was erased between the request and the worker: nothing can reach the person."""
    from webinars.registrations.operations import erase_registrations

    make_webinar(app)
    register(client, form())
    with app.app_context():
        erase_registrations("Ana.Lima@example.com", now=utcnow())
        db.session.commit()
        report = deliver_due()
    assert (report.suppressed, report.sent) == (1, 0) and smtp_server.messages == []


def test_a_sigkilled_worker_leaves_an_intent_that_the_next_worker_builds_and_sends_once(app, client, smtp_server):
    from webinars.outbox.sender import Sender

    make_webinar(app)
    register(client, form())
    with app.app_context():
        crashed = Sender(worker_id="crashed")
        assert len(crashed.claim_batch(utcnow(), utcnow())) == 1  # claimed, then the worker dies
        crashed.close()
        assert deliver_due().claimed == 0  # its lease still holds
        assert deliver_due(now=utcnow() + timedelta(minutes=10)).sent == 1
    assert len(smtp_server.wait_for(1)) == 1
