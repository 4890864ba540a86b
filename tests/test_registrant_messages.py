"""Organisers write to a webinar's registrants, from the command line and the admin: through the outbox
as grouped intents queued in checkpointed batches (resumable, once per registrant), built by the mail
worker once per message and language with each registrant's own manage link, with a preview, a test to
the organiser, the number reached said first, and the sending in the webinar's history."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests._support.forms import post_form
from tests.factories import make_webinar
from tests.test_admin import signed_in
from webinars.audit import AuditEvent
from webinars.catalogue.models import Webinar
from webinars.database import utcnow
from webinars.extensions import db
from webinars.outbox.models import OutboxMessage
from webinars.outbox.sender import deliver_due
from webinars.registrations import messages
from webinars.registrations.models import RegistrantMessage, Registration
from webinars.registrations.operations import cancel_registration, register

BODY = "Dear participants,\n\nThe **slides** are [online](https://example.org/slides).\n\n<script>alert(1)</script>\n"
FRENCH = "Chers participants,\n\nLes **diapositives** sont en ligne.\n"


def _webinar(
    app, people=(("Ana", "ana@example.org", "en"), ("Béa", "bea@example.org", "fr"), ("Cid", "cid@example.org", "en"))
):
    """A webinar with two seats: the first two people confirmed, the third on the waiting list."""
    with app.app_context():
        webinar = make_webinar(local_start=datetime(2030, 6, 4, 10, 0), capacity=2, slug="forum", title="Forum")
        for name, email, language in people:
            register(webinar, name=name, email=email, language=language, now=utcnow())
        db.session.commit()
        webinar_id = webinar.id
        deliver_due()  # the confirmations, out of the way
    return webinar_id


def _deliver(app):
    with app.app_context():
        return deliver_due()


def _received(smtp_server, kind_subject: str) -> dict[str, object]:
    return {m.rcpt_tos[0]: m for m in smtp_server.messages if kind_subject in m.subject}


def test_a_registrant_receives_a_message_sent_with_the_command_in_their_language_with_their_own_link(
    app, runner, smtp_server, tmp_path, client
):
    _webinar(app)
    smtp_server.clear()
    body, body_fr = tmp_path / "message.md", tmp_path / "message.fr.md"
    body.write_text(BODY, encoding="utf-8")
    body_fr.write_text(FRENCH, encoding="utf-8")
    dry = runner.invoke(
        args=["registrations", "message", "forum", "--subject", "Slides", "--body-file", str(body), "--dry-run"]
    )
    assert dry.exit_code == 0 and "It would reach 2 registrants" in dry.output
    with app.app_context():
        assert db.session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.kind == messages.KIND)) == 0
    result = runner.invoke(
        args=[
            "registrations",
            "message",
            "forum",
            "--subject",
            "Slides",
            "--body-file",
            str(body),
            "--translation",
            "fr",
            "Diapositives",
            str(body_fr),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "queued for 2 registrants" in result.output
    _deliver(app)
    ana = _received(smtp_server, "Slides")["ana@example.org"]
    bea = _received(smtp_server, "Diapositives")["bea@example.org"]
    assert "cid@example.org" not in {m.rcpt_tos[0] for m in smtp_server.messages}  # on the waiting list
    assert "<strong>slides</strong>" in ana.body("html") and "<script>" not in ana.body("html")
    assert "Les diapositives sont en ligne." in bea.body("plain") and "slides" not in bea.body("plain")
    assert "inscrit" in bea.body("plain")  # the footer in French too
    # Each copy carries its own registrant's link, which opens their registration.
    links = {
        email: re.search(r"http://webinars\.test(/registrations/[^\s\"<]+)", m.body("plain")).group(1)
        for email, m in (("ana", ana), ("bea", bea))
    }
    assert links["ana"] != links["bea"]
    page = client.get(links["ana"])
    assert page.status_code == 200 and "<dd>Ana</dd>" in page.get_data(as_text=True)
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "message sent"))
        assert event.details.startswith("Slides (those with a seat)")
        assert db.session.scalar(select(RegistrantMessage.status)) == "sending"
        messages.tend_messages()
        assert db.session.scalar(select(RegistrantMessage.status)) == "done"


@pytest.mark.parametrize(
    ("audience", "expected"),
    [("waitlisted", {"cid@example.org"}), ("all", {"ana@example.org", "bea@example.org", "cid@example.org"})],
)
def test_the_audience_is_the_waiting_list_or_everyone_registered(
    app, runner, smtp_server, tmp_path, audience, expected
):
    _webinar(app)
    smtp_server.clear()
    body = tmp_path / "m.md"
    body.write_text("Hello", encoding="utf-8")
    assert (
        runner.invoke(
            args=[
                "registrations",
                "message",
                "forum",
                "--subject",
                "Hi",
                "--body-file",
                str(body),
                "--status",
                audience,
            ]
        ).exit_code
        == 0
    )
    _deliver(app)
    assert {m.rcpt_tos[0] for m in smtp_server.messages} == expected


def test_an_interrupted_expansion_resumes_and_reaches_each_registrant_exactly_once(app, smtp_server, monkeypatch):
    people = [(f"P{n}", f"p{n}@example.org", "en") for n in range(7)]
    with app.app_context():
        webinar = make_webinar(local_start=datetime(2030, 6, 4, 10, 0), slug="big")
        for name, email, language in people:
            register(webinar, name=name, email=email, language=language, now=utcnow())
        message = messages.create_message(
            webinar,
            subject="Hi",
            body="Hello",
            audience="confirmed",
            created_by="test",
            now=utcnow() - timedelta(minutes=5),
        )
        db.session.commit()
        deliver_due()
        smtp_server.clear()
        real, calls = messages.enqueue_group, []

        def crash_on_the_third_batch(*args, **kwargs):
            calls.append(1)
            if len(calls) == 3:
                raise RuntimeError("the worker was killed")
            return real(*args, **kwargs)

        monkeypatch.setattr(messages, "enqueue_group", crash_on_the_third_batch)
        with pytest.raises(RuntimeError):
            messages.expand_message(message, batch_size=2)
        db.session.rollback()
        monkeypatch.setattr(messages, "enqueue_group", real)
        message = db.session.get(RegistrantMessage, message.id)
        assert (message.status, message.expanded_through_id, message.recipients_count) == ("expanding", 4, 4)
        # Expanding the same batch again (a checkpoint saved late) adds nobody twice.
        message.expanded_through_id = 2
        db.session.commit()
        messages.tend_messages()  # the mail worker's housekeeping finishes it
        assert db.session.get(RegistrantMessage, message.id).recipients_count == 7
        deliver_due()
    assert Counter(m.rcpt_tos[0] for m in smtp_server.messages) == Counter({email: 1 for _, email, _ in people})


def test_someone_who_cancels_before_their_copy_is_built_is_skipped(app, smtp_server):
    webinar_id = _webinar(app)
    with app.app_context():
        webinar = db.session.get(Webinar, webinar_id)
        message = messages.create_message(
            webinar, subject="Hi", body="Hello", audience="confirmed", created_by="t", now=utcnow()
        )
        db.session.commit()
        messages.expand_message(message)
        ana = db.session.scalar(select(Registration).where(Registration.email == "ana@example.org"))
        cancel_registration(ana, now=utcnow())
        db.session.commit()
    smtp_server.clear()
    _deliver(app)
    hi = [m for m in smtp_server.messages if m.subject == "Hi"]
    assert [m.rcpt_tos for m in hi] == [("bea@example.org",)]
    with app.app_context():
        assert messages.message_progress(db.session.get(RegistrantMessage, 1))["suppressed"] == 1


def test_the_admin_page_previews_tests_on_the_organiser_says_how_many_then_sends(app, client, smtp_server):
    webinar_id = _webinar(app)
    organiser = signed_in(app, client)
    smtp_server.clear()
    url = f"/admin/webinars/{webinar_id}/messages"
    page = organiser.get(url).get_data(as_text=True)
    assert "This message goes to 2 registrants." in page and "(1 person)" in page
    data = {"audience": "all", "subject": "Slides", "body": BODY, "subject_fr": "", "body_fr": ""}
    preview = post_form(organiser, url, {**data, "action": "preview"})
    text = preview.get_data(as_text=True)
    assert (
        preview.status_code == 200
        and "<strong>slides</strong>" in text
        and "This message goes to 3 registrants." in text
    )
    test = post_form(organiser, url, {**data, "action": "test"})
    assert test.status_code == 200 and "A test is on its way to organiser@example.org" in test.get_data(as_text=True)
    _deliver(app)
    [trial] = smtp_server.messages
    assert trial.rcpt_tos == ("organiser@example.org",) and trial.subject == "[Test] Slides"
    assert "http://webinars.test/webinars/forum" in trial.body("plain")  # where each registrant's link will be
    unticked = post_form(organiser, url, {**data, "action": "send"})
    assert unticked.status_code == 422 and "Tick this box to send the message." in unticked.get_data(as_text=True)
    half = post_form(organiser, url, {**data, "action": "send", "confirm": "y", "subject_fr": "Diapos"})
    assert half.status_code == 422 and "or neither" in half.get_data(as_text=True)
    sent = post_form(organiser, url, {**data, "action": "send", "confirm": "y"})
    assert sent.status_code == 303
    listing = organiser.get(sent.headers["Location"]).get_data(as_text=True)
    assert "The message is queued for 3 registrants" in listing
    _deliver(app)
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages if m.subject == "Slides") == [
        "ana@example.org",
        "bea@example.org",
        "cid@example.org",
    ]
    listing = organiser.get(url).get_data(as_text=True)
    assert re.search(r'<td data-label="Delivered">3</td>', listing)


def test_a_subject_that_cannot_be_a_header_is_refused_beside_the_field(app, client):
    webinar_id = _webinar(app)
    organiser = signed_in(app, client)
    url = f"/admin/webinars/{webinar_id}/messages"
    response = post_form(
        organiser,
        url,
        {"audience": "confirmed", "subject": "Hi\u2028Bcc: x@evil.test", "body": "x", "action": "send", "confirm": "y"},
    )
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(func.count(RegistrantMessage.id))) == 0


def test_a_message_is_rendered_once_per_language_and_each_copy_has_its_own_link(sqlite_app, monkeypatch):
    # Speed itself is for `make bench`; here, the property it rests on: the templates and the Markdown
    # are rendered once per message and language, not once per registrant.
    renders = []
    original = messages._render
    monkeypatch.setattr(messages, "_render", lambda *args: renders.append(args[1]) or original(*args))
    people = [(f"P{n}", f"p{n}@example.org", "fr" if n % 2 else "en") for n in range(40)]
    with sqlite_app.app_context():
        webinar = make_webinar(local_start=datetime(2030, 6, 4, 10, 0), slug="many")
        for name, email, language in people:
            register(webinar, name=name, email=email, language=language, now=utcnow())
        message = messages.create_message(
            webinar,
            subject="Hi",
            body="Hello",
            audience="all",
            translations={"fr": ("Salut", "Bonjour")},
            created_by="t",
            now=utcnow(),
        )
        db.session.commit()
        messages.expand_message(message)
        rows = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == messages.KIND).order_by(OutboxMessage.id)
        ).all()
        built = [messages.render_message(row) for row in rows]
    assert sorted(renders) == ["Hi", "Salut"]
    assert len(built) == 40 and len(set(built)) == 40
    links = {re.search(rb"/registrations/([^\s\"<=]+)", raw).group(1) for raw in built}
    assert len(links) == 40


@pytest.mark.parametrize(
    "fields",
    [
        {"audience": "everyone-ever"},
        {"audience": ""},
        {"subject": "x" * 301},
        {"subject": "\x00"},
        {"body": "x" * 100_001},
        {"body": ""},
        {"subject_fr": "Salut", "body_fr": ""},
        {"action": "launch"},
    ],
)
def test_hostile_messages_get_an_answer_and_queue_nothing(app, client, fields):
    webinar_id = _webinar(app)
    organiser = signed_in(app, client)
    data = {"audience": "all", "subject": "Hi", "body": "Hello", "action": "send", "confirm": "y"}
    data.update(fields)
    response = post_form(organiser, f"/admin/webinars/{webinar_id}/messages", data)
    assert response.status_code in (200, 400, 422)
    with app.app_context():
        assert db.session.scalar(select(func.count(RegistrantMessage.id))) == 0
        assert db.session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.kind == messages.KIND)) == 0
