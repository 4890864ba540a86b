"""Organisers' everyday tools around webinars: duplicate one as a new draft, preview a draft as the public
will see it, the list with its figures, and registering someone by hand under the same capacity rule."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta

from icalendar import Calendar
from sqlalchemy import select

from tests._support.forms import post_form
from tests.factories import make_topic, make_webinar
from tests.test_admin import signed_in
from webinars.audit import AuditEvent
from webinars.catalogue.models import Partner, Webinar
from webinars.content.models import ContentItem, webinar_items
from webinars.database import utcnow
from webinars.extensions import db
from webinars.outbox.sender import deliver_due
from webinars.registrations.models import Registration, RegistrationAnswer, RegistrationQuestion
from webinars.registrations.operations import register

START = datetime(2030, 6, 4, 10, 0)


def _full_webinar(app) -> int:
    """A published webinar with everything a duplicate should copy, and what it should not."""
    with app.app_context():
        webinar = make_webinar(
            local_start=START,
            timezone="Europe/Paris",
            display_zones=["Europe/Paris", "Asia/Tokyo"],
            title="Worker co-operatives in Japan",
            slug="coops-japan",
            capacity=40,
            topics=[make_topic("coops", "Co-operatives"), make_topic("japan", "Japan")],
            speakers=[("Akiko Sato", "Researcher", "JCA", "Japan"), ("Marc Dubois", "", "OECD", "France")],
            summary="Summary text.",
            description="A **description**.",
            recording_url="https://video.example/old-session",
            confirm_registrations=True,
        )
        webinar.partners.append(Partner(position=0, name="JCA", url="https://jca.example", description="Partner."))
        item = ContentItem(slug="report-2029", type="publication", title="Report 2029", status="published")
        db.session.add(item)
        db.session.flush()
        db.session.execute(webinar_items.insert().values(webinar_id=webinar.id, item_id=item.id, position=0))
        question = RegistrationQuestion(
            webinar_id=webinar.id,
            position=0,
            kind="single_choice",
            label="Session?",
            options_text="A\nB",
            required=True,
        )
        retired = RegistrationQuestion(
            webinar_id=webinar.id, position=1, kind="short_text", label="Old", retired_at=utcnow()
        )
        db.session.add_all([question, retired])
        db.session.flush()
        register(webinar, name="Ana", email="ana@example.org", now=utcnow(), answers=[(question, "A")])
        db.session.commit()
        return webinar.id


def test_a_duplicate_is_a_new_draft_with_the_same_content_and_no_registrations(app, client):
    source_id = _full_webinar(app)
    organiser = signed_in(app, client)
    response = post_form(
        organiser, f"/admin/webinars/{source_id}/duplicate", {}, form_url=f"/admin/webinars/{source_id}"
    )
    assert response.status_code == 303
    copy_id = int(re.search(r"/admin/webinars/(\d+)/edit", response.headers["Location"]).group(1))
    form = organiser.get(response.headers["Location"]).get_data(as_text=True)
    assert "This is a new draft, a copy of “Worker co-operatives in Japan”" in form
    assert 'Status:</strong> <span class="status status-draft">draft' in organiser.get(
        f"/admin/webinars/{copy_id}"
    ).get_data(as_text=True)

    with app.app_context():
        source, copy = db.session.get(Webinar, source_id), db.session.get(Webinar, copy_id)
        assert copy.status == "draft" and copy.published_at is None and copy.sequence == 0
        assert copy.slug != source.slug and copy.slug.startswith("worker-co-operatives-in-japan")
        assert copy.ical_uid != source.ical_uid
        same = (
            "title",
            "summary",
            "description",
            "timezone",
            "display_zones",
            "starts_at",
            "ends_at",
            "location",
            "capacity",
            "confirm_registrations",
        )
        assert {name: getattr(copy, name) for name in same} == {name: getattr(source, name) for name in same}
        assert [t.slug for t in copy.topics] == ["coops", "japan"]
        assert [(s.title, [sp.name for sp in s.speakers]) for s in copy.sections] == [
            ("Panel discussion", ["Akiko Sato", "Marc Dubois"])
        ]
        assert [(p.name, p.url) for p in copy.partners] == [("JCA", "https://jca.example")]
        # Not copied: the meeting room of the last session, its recording, its registrations.
        assert copy.join_url == "" and copy.recording_url == ""
        assert db.session.scalar(select(Registration.id).where(Registration.webinar_id == copy.id)) is None
        questions = db.session.scalars(
            select(RegistrationQuestion).where(RegistrationQuestion.webinar_id == copy.id)
        ).all()
        assert [(q.label, q.kind, q.options, q.required) for q in questions] == [
            ("Session?", "single_choice", ["A", "B"], True)
        ]
        assert (
            db.session.scalar(select(RegistrationAnswer.id).where(RegistrationAnswer.question_id == questions[0].id))
            is None
        )
        related = db.session.scalars(select(webinar_items.c.item_id).where(webinar_items.c.webinar_id == copy.id)).all()
        assert len(related) == 1
        actions = db.session.execute(
            select(AuditEvent.webinar_id, AuditEvent.action, AuditEvent.details).order_by(AuditEvent.id)
        ).all()
    assert (
        copy_id,
        "created",
        f"Created as a draft, a copy of “Worker co-operatives in Japan” (/webinars/coops-japan, id {source_id})",
    ) in actions
    assert any(row[0] == source_id and row[1] == "duplicated" for row in actions)
    # A draft is not public until it is published.
    assert client.get(f"/webinars/{copy.slug}").status_code == 404


def test_a_draft_preview_shows_the_public_page_to_organisers_only_marked_and_never_cached(app, client):
    source_id = _full_webinar(app)
    organiser = signed_in(app, client)
    response = post_form(
        organiser, f"/admin/webinars/{source_id}/duplicate", {}, form_url=f"/admin/webinars/{source_id}"
    )
    copy_id = int(re.search(r"/admin/webinars/(\d+)/edit", response.headers["Location"]).group(1))
    with app.app_context():
        slug = db.session.get(Webinar, copy_id).slug

    preview = organiser.get(f"/admin/webinars/{copy_id}/preview?tz=America/New_York")
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert preview.headers["Cache-Control"] == "no-store"
    assert "noindex" in preview.headers["X-Robots-Tag"] and '<meta name="robots" content="noindex, nofollow">' in page
    assert "This draft is not public: only organisers can see this page." in page
    # What the public will see: the title, the zones, the agenda, the form with its own question...
    assert "<h1>Worker co-operatives in Japan</h1>" in page and "Akiko Sato" in page and "Tokyo" in page
    assert "Session?" in page and "Your time" in page
    # ...but nobody can register from it, and its picker and links stay in the preview.
    assert re.search(r'<button type="submit" disabled>', page)
    assert f'action="/admin/webinars/{copy_id}/preview"' in page
    assert f"/webinars/{slug}.ics" not in page
    assert app.test_client().get(f"/admin/webinars/{copy_id}/preview").status_code == 302
    assert client.get(f"/webinars/{slug}").status_code == 404


def test_the_list_shows_confirmed_waitlisted_and_attended_for_each_webinar(app, client):
    organiser = signed_in(app, client)
    with app.app_context():
        full = make_webinar(local_start=START, capacity=1, title="Full")
        empty = make_webinar(local_start=START + timedelta(days=1), title="Empty")
        past = make_webinar(starts_at=utcnow() - timedelta(days=2), title="Past")
        for n in range(3):
            register(full, name=f"P{n}", email=f"p{n}@example.org", now=utcnow())
        for n in range(4):
            registration = Registration(
                webinar_id=past.id,
                email=f"q{n}@example.org",
                name="Q",
                status="confirmed",
                attended=n < 3,
                created_at=utcnow(),
            )
            db.session.add(registration)
        db.session.commit()
        ids = {"full": full.id, "empty": empty.id, "past": past.id}
    page = organiser.get("/admin/").get_data(as_text=True)

    def row(webinar_id: int) -> str:
        return re.search(
            rf'<tr>\s*<td data-label="Title"><a href="/admin/webinars/{webinar_id}">.*?</tr>', page, re.S
        ).group(0)

    assert '<td data-label="Confirmed" class="count-confirmed">1</td>' in row(ids["full"])
    assert '<td data-label="Waiting list" class="count-waitlisted">2</td>' in row(ids["full"])
    assert '<td data-label="Attended" class="count-attended">—</td>' in row(ids["full"])
    assert '<td data-label="Confirmed" class="count-confirmed">0</td>' in row(ids["empty"])
    assert '<td data-label="Attended" class="count-attended">3 <span class="small">(75%)</span></td>' in row(
        ids["past"]
    )
    rows = list(
        csv.DictReader(io.StringIO(organiser.get("/admin/webinars.csv").get_data(as_text=True).lstrip("\ufeff")))
    )
    by_title = {r["title"]: r for r in rows}
    assert (
        by_title["Full"]["confirmed"],
        by_title["Full"]["waiting list"],
        by_title["Full"]["attendance rate (%)"],
    ) == ("1", "2", "")
    assert by_title["Past"]["attendance rate (%)"] == "75.0"


# -- someone added by hand ----------------------------------------------------------------------------


def _add(organiser, webinar_id: int, **fields):
    data = {
        "name": "Kenji Ito",
        "email": "Kenji@Example.jp",
        "organisation": "JCA",
        "timezone": "Asia/Tokyo",
        "language": "en",
        "notify": "y",
        **fields,
    }
    if data.get("notify") is None:
        data.pop("notify")
    return post_form(organiser, f"/admin/webinars/{webinar_id}/registrations/add", data, form_url="/admin/")


def test_an_organiser_adds_someone_who_gets_the_confirmation_with_the_invite(app, client, smtp_server):
    organiser = signed_in(app, client)
    with app.app_context():
        webinar = make_webinar(local_start=START, capacity=2, confirm_registrations=True, slug="hand")
        question = RegistrationQuestion(
            webinar_id=webinar.id, position=0, kind="short_text", label="Role", required=True
        )
        db.session.add(question)
        db.session.commit()
        webinar_id, question_id = webinar.id, question.id
    form = organiser.get(f"/admin/webinars/{webinar_id}/registrations/add").get_data(as_text=True)
    assert 'name="newsletter"' not in form  # only the person can consent to the newsletter
    response = _add(organiser, webinar_id, language="fr")  # a required question may stay unanswered here
    assert response.status_code == 303
    with app.app_context():
        registration = db.session.scalar(select(Registration))
        # The organiser vouches for the address: a seat at once, even where attendees confirm theirs.
        assert (registration.email, registration.status, registration.confirm_by) == (
            "Kenji@example.jp",
            "confirmed",
            None,
        )
        assert (registration.timezone, registration.language) == ("Asia/Tokyo", "fr")
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "registration added"))
        assert (
            event.registration_id == registration.id and event.details == "Added by hand: confirmed, confirmation sent"
        )
        deliver_due()
    [message] = smtp_server.messages
    assert message.rcpt_tos == ("Kenji@example.jp",)
    assert message.subject.startswith("Inscription confirmée")  # in the language the organiser chose for them
    part = next(p for p in message.message.walk() if p.get_content_type() == "text/calendar")
    assert Calendar.from_ical(part.get_content()).walk("VEVENT")
    assert question_id


def test_someone_added_without_the_confirmation_gets_no_email_and_a_full_webinar_puts_them_on_the_waiting_list(
    app, client, smtp_server
):
    organiser = signed_in(app, client)
    with app.app_context():
        webinar = make_webinar(local_start=START, capacity=1)
        register(webinar, name="First", email="first@example.org", now=utcnow())
        db.session.commit()
        webinar_id = webinar.id
        deliver_due()
    smtp_server.clear()
    response = _add(organiser, webinar_id, notify=None)
    assert response.status_code == 303
    assert "the webinar is full" in organiser.get(response.headers["Location"]).get_data(as_text=True).lower()
    with app.app_context():
        added = db.session.scalar(select(Registration).where(Registration.email == "Kenji@example.jp"))
        assert added.status == "waitlisted"
        deliver_due()
    assert smtp_server.messages == []
    again = _add(organiser, webinar_id, email="kenji@example.jp")
    assert again.status_code == 422
    assert "This address is already registered (on the waiting list)." in again.get_data(as_text=True)
    assert 'value="Kenji Ito"' in again.get_data(as_text=True)


def test_nobody_can_be_added_to_a_draft_or_a_webinar_that_is_over(app, client):
    organiser = signed_in(app, client)
    with app.app_context():
        draft = make_webinar(local_start=START, status="draft").id
        over = make_webinar(starts_at=utcnow() - timedelta(hours=3)).id
        db.session.commit()
    for webinar_id in (draft, over):
        response = _add(organiser, webinar_id)
        assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Registration.id)) is None
