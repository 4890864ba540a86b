"""Organisers create, edit, publish, reschedule and cancel webinars; registrants' calendars follow."""

import re
from datetime import datetime

import icalendar
import pytest
from sqlalchemy import select

from tests._support.forms import post_form
from tests.factories import make_topic, make_webinar
from tests.test_admin import EMAIL, signed_in
from webinars.admin.models import Organiser
from webinars.audit import AuditEvent
from webinars.catalogue.models import Topic, Webinar
from webinars.database import utcnow
from webinars.extensions import db
from webinars.outbox.models import OutboxMessage
from webinars.outbox.sender import deliver_due
from webinars.registrations.models import Registration
from webinars.registrations.operations import register

AGENDA = """Opening remarks
> Welcome and introduction.
- Keiko Tanaka | Senior Researcher | JILPT | Japan
Panel discussion
- Claire Dubois | Policy Analyst | OECD | France
- Min-jun Park
"""


@pytest.fixture
def organiser_client(app, client):
    return signed_in(app, client)


def webinar_form(**overrides) -> dict:
    data = {
        "title": "Worker co-operatives across continents",
        "slug": "",
        "summary": "Policy and practice from Japan and beyond.",
        "description": "A **bold** start.\n\n<script>alert(1)</script>",
        "start_date": "2030-03-12",
        "start_time": "10:00",
        "timezone": "Europe/Paris",
        "duration_minutes": "90",
        "display_zones": "Asia/Tokyo, America/New_York",
        "location": "Online",
        "capacity": "2",
        "deadline_date": "2030-03-11",
        "deadline_time": "18:00",
        "join_url": "https://meet.example.org/room-1",
        "recording_url": "",
        "new_topics": "Co-operatives, Future of work",
        "agenda": AGENDA,
        "partners": "OECD LEED Programme | https://www.oecd.org/cfe/leed/ | Local development since 1982.",
        "related_items": "",
        "action": "save",
    }
    data.update(overrides)
    return data


def create_via_form(client, **overrides) -> int:
    response = post_form(client, "/admin/webinars/new", webinar_form(**overrides))
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])


def test_organiser_creates_a_draft_with_everything_the_model_holds(app, organiser_client):
    webinar_id = create_via_form(organiser_client)
    with app.app_context():
        webinar = db.session.get(Webinar, webinar_id)
        assert webinar.status == "draft" and webinar.sequence == 0
        assert webinar.slug == "worker-co-operatives-across-continents"
        assert webinar.starts_at == datetime(2030, 3, 12, 9, 0, tzinfo=webinar.starts_at.tzinfo)  # 10:00 CET
        assert webinar.duration_minutes == 90
        assert webinar.display_zones == ["Europe/Paris", "Asia/Tokyo", "America/New_York"]
        assert webinar.capacity == 2
        assert webinar.registration_deadline.hour == 17  # 18:00 Paris time
        assert webinar.join_url == "https://meet.example.org/room-1"
        assert sorted(t.slug for t in webinar.topics) == ["co-operatives", "future-of-work"]
        assert [s.title for s in webinar.sections] == ["Opening remarks", "Panel discussion"]
        assert webinar.sections[0].description == "Welcome and introduction."
        assert [s.credentials for s in webinar.sections[1].speakers] == ["Policy Analyst, OECD, France", ""]
        assert webinar.partners[0].url == "https://www.oecd.org/cfe/leed/"
        assert webinar.ical_uid.endswith("@webinars.test")
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.webinar_id == webinar_id)).all()
        assert [e.action for e in events] == ["created"]
        assert db.session.get(Organiser, events[0].organiser_id).email == EMAIL
    # Drafts are not public.
    assert organiser_client.get("/webinars/worker-co-operatives-across-continents").status_code == 404


def test_the_edit_form_shows_what_was_saved_and_saving_it_unchanged_changes_nothing(app, organiser_client):
    webinar_id = create_via_form(organiser_client)
    page = organiser_client.get(f"/admin/webinars/{webinar_id}/edit").get_data(as_text=True)
    assert 'value="2030-03-12"' in page and 'value="10:00"' in page
    assert "- Keiko Tanaka | Senior Researcher | JILPT | Japan" in page
    assert "&gt; Welcome and introduction." in page
    with app.app_context():
        topic_ids = [str(t.id) for t in db.session.get(Webinar, webinar_id).topics]
    data = webinar_form(slug="worker-co-operatives-across-continents", new_topics="")
    data["topics"] = topic_ids
    response = post_form(organiser_client, f"/admin/webinars/{webinar_id}/edit", data)
    assert response.status_code == 302
    assert "Nothing changed." in organiser_client.get(response.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Webinar, webinar_id).sequence == 0
        assert db.session.scalar(select(db.func.count(AuditEvent.id))) == 1


@pytest.mark.parametrize(
    ("day", "clock", "message"),
    [
        ("2030-03-31", "02:30", "02:30 does not exist on Sunday 31 March 2030 in Paris, France"),
        ("2030-10-27", "02:30", "02:30 happens twice on Sunday 27 October 2030 in Paris, France"),
    ],
)
def test_a_local_time_that_a_dst_change_skips_or_repeats_is_refused_beside_the_field(
    app, organiser_client, day, clock, message
):
    response = post_form(organiser_client, "/admin/webinars/new", webinar_form(start_date=day, start_time=clock))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert 'id="start_time-error"' in page and 'value="2030-' in page  # beside the field, input kept
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Webinar.id))) == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("display_zones", "Asia/Tokyo Mars/Olympus", "Unknown time zone: Mars/Olympus"),
        ("join_url", "javascript:alert(1)", "is not a web address starting with http"),
        ("recording_url", "ftp://example.org/x", "is not a web address starting with http"),
        ("partners", "Name | javascript:alert(1)", "Line 1:"),
        ("related_items", "no-such-item | Whatever", "Line 1: no content item has the slug or title"),
        ("agenda", "- A speaker without a section", "Line 1: a speaker needs a section title"),
        ("duration_minutes", "0", "Number must be between"),
        ("deadline_time", "", "Give both a date and a time, or neither."),
        ("deadline_date", "2030-03-13", "must not be after the start"),
        ("slug", "Not A Slug", "Use lower-case letters"),
        # A title and a location go into mail subjects and calendar lines: one line only, whatever
        # the line break (CR, LF, NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR).
        ("title", "Co-operatives\u2028Part 2", "no line breaks"),
        ("title", "Co-operatives\u2029Part 2", "no line breaks"),
        ("title", "Co-operatives\x85Part 2", "no line breaks"),
        ("title", "Co-operatives\nBcc: x@example.org", "no line breaks"),
        ("location", "Room 1\u2028Building B", "no line breaks"),
        ("location", "Room 1\x85Building B", "no line breaks"),
    ],
)
def test_invalid_fields_are_explained_beside_the_field(app, organiser_client, field, value, message):
    response = post_form(organiser_client, "/admin/webinars/new", webinar_form(**{field: value}))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    beside = {"deadline_date": "deadline_time"}.get(field, field)  # the pair's error goes by its time
    assert f'id="{beside}-error"' in page
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Webinar.id))) == 0


def test_slug_must_be_unique(app, organiser_client):
    create_via_form(organiser_client, slug="taken")
    response = post_form(organiser_client, "/admin/webinars/new", webinar_form(slug="taken"))
    assert response.status_code == 422
    assert "Another webinar already uses this slug." in response.get_data(as_text=True)


def test_preview_renders_sanitised_markdown_and_the_zones_line_without_saving(app, organiser_client):
    response = post_form(organiser_client, "/admin/webinars/new", webinar_form(action="preview"))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<strong>bold</strong>" in page
    assert "<script>alert(1)</script>" not in page
    assert "10:00 Paris time | 18:00 Tokyo time | 05:00 New York time" in page
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Webinar.id))) == 0


def test_zones_preview_endpoint_gives_the_line_or_the_dst_error(organiser_client):
    ok = organiser_client.get(
        "/admin/preview/zones?date=2024-03-12&time=10:00&zone=Europe/Paris&zones=Asia/Tokyo America/New_York"
    ).get_json()
    assert ok == {"line": "10:00 Paris time | 18:00 Tokyo time | 05:00 New York time", "error": None}
    skipped = organiser_client.get("/admin/preview/zones?date=2024-03-31&time=02:30&zone=Europe/Paris").get_json()
    assert skipped["line"] == "" and "does not exist" in skipped["error"]
    unknown = organiser_client.get(
        "/admin/preview/zones?date=2024-03-12&time=10:00&zone=Europe/Paris&zones=Nowhere/City"
    ).get_json()
    assert unknown["line"] == "10:00 Paris time" and "Nowhere/City" in unknown["error"]
    assert organiser_client.get("/admin/preview/zones?date=x&time=y&zone=z").get_json()["error"]


def test_form_page_loads_the_external_preview_script_not_inline_code(organiser_client):
    page = organiser_client.get("/admin/webinars/new").get_data(as_text=True)
    assert 'src="/static/js/admin-preview.js"' in page
    assert "<script>" not in page
    assert 'data-endpoint="/admin/preview/zones"' in page
    with organiser_client.get("/static/js/admin-preview.js") as script:
        assert script.status_code == 200


def _publish(client, webinar_id: int):
    return post_form(client, f"/admin/webinars/{webinar_id}/publish", form_url=f"/admin/webinars/{webinar_id}")


def test_publishing_a_draft_makes_it_public_and_raises_the_sequence(app, organiser_client):
    webinar_id = create_via_form(organiser_client)
    assert _publish(organiser_client, webinar_id).status_code == 302
    with app.app_context():
        webinar = db.session.get(Webinar, webinar_id)
        assert (webinar.status, webinar.sequence) == ("published", 1)
    assert organiser_client.get("/webinars/worker-co-operatives-across-continents").status_code == 200
    # Publishing twice does nothing more.
    _publish(organiser_client, webinar_id)
    with app.app_context():
        assert db.session.get(Webinar, webinar_id).sequence == 1
    # Once published, the slug is fixed even if the form says otherwise.
    data = webinar_form(slug="another-slug", title="New title")
    post_form(organiser_client, f"/admin/webinars/{webinar_id}/edit", data)
    with app.app_context():
        webinar = db.session.get(Webinar, webinar_id)
        assert (webinar.slug, webinar.title) == ("worker-co-operatives-across-continents", "New title")


def _registered(app, *, capacity=None, tokyo="tokyo@example.org"):
    """A published webinar (12 March 2030 10:00 Paris) with one confirmed registrant in Tokyo."""
    with app.app_context():
        webinar = make_webinar(
            local_start=datetime(2030, 3, 12, 10, 0),
            timezone="Europe/Paris",
            display_zones=["Europe/Paris", "Asia/Tokyo"],
            capacity=capacity,
            title="Worker co-operatives",
            topics=[make_topic()],
        )
        registration = db.session.get(
            Registration, register(webinar, name="Keiko", email=tokyo, timezone="Asia/Tokyo", now=utcnow()).id
        )
        db.session.commit()
        deliver_due()
        # Keiko's calendar entry: her invite's UID, which updates and the cancellation keep.
        return webinar.id, registration.ical_uid


def _calendar(message) -> icalendar.Calendar:
    parts = [p for p in message.message.walk() if p.get_content_type() == "text/calendar"]
    assert parts, "no calendar part"
    return icalendar.Calendar.from_ical(parts[0].get_payload(decode=True))


def _edit_form(app, webinar_id, **overrides):
    with app.app_context():
        webinar = db.session.get(Webinar, webinar_id)
        data = webinar_form(
            title=webinar.title,
            slug=webinar.slug,
            summary=webinar.summary,
            description=webinar.description,
            duration_minutes=str(webinar.duration_minutes),
            display_zones="Asia/Tokyo",
            capacity="" if webinar.capacity is None else str(webinar.capacity),
            deadline_date="",
            deadline_time="",
            join_url=webinar.join_url,
            new_topics="",
            agenda="Panel discussion",
            partners="",
            related_items="",
            notify="y",  # ticked by default on a published webinar's form
        )
        data["topics"] = [str(t.id) for t in webinar.topics]
    data.update(overrides)
    return data


def test_rescheduling_sends_an_update_with_the_same_uid_and_a_higher_sequence(app, organiser_client, smtp_server):
    webinar_id, uid = _registered(app)
    smtp_server.clear()
    data = _edit_form(app, webinar_id, start_time="11:00", duration_minutes="120")
    response = post_form(organiser_client, f"/admin/webinars/{webinar_id}/edit", data)
    assert response.status_code == 302
    assert "Rescheduled" in organiser_client.get(response.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        webinar = db.session.get(Webinar, webinar_id)
        assert webinar.sequence == 1
        assert webinar.starts_at.hour == 10  # 11:00 Paris = 10:00 UTC
        deliver_due()
    [message] = smtp_server.wait_for(1)
    assert message.rcpt_tos == ("tokyo@example.org",)
    calendar = _calendar(message)
    assert str(calendar["METHOD"]) == "REQUEST"
    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]) == uid and int(event["SEQUENCE"]) == 1
    assert event.decoded("DTSTART").astimezone().utctimetuple()[:5] == (2030, 3, 12, 10, 0)
    # The email says what changed, in the registrant's own zone (Tokyo: 18:00 -> 19:00).
    body = message.body()
    assert "18:00 Tokyo time" in body and "19:00 Tokyo time" in body
    # And the audit trail says who rescheduled, from what to what.
    page = organiser_client.get(f"/admin/webinars/{webinar_id}").get_data(as_text=True)
    assert "rescheduled" in page and EMAIL in page
    assert "Start: 2030-03-12 10:00 (Paris, France, CET) → 2030-03-12 11:00 (Paris, France, CET)" in page


def test_a_change_calendars_do_not_show_keeps_the_sequence_and_sends_nothing(app, organiser_client, smtp_server):
    webinar_id, _uid = _registered(app)
    smtp_server.clear()
    data = _edit_form(app, webinar_id, summary="A better summary.", recording_url="https://video.example.org/1")
    assert post_form(organiser_client, f"/admin/webinars/{webinar_id}/edit", data).status_code == 302
    with app.app_context():
        assert db.session.get(Webinar, webinar_id).sequence == 0
        assert db.session.scalar(select(db.func.count(OutboxMessage.id)).where(OutboxMessage.status == "queued")) == 0
        actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.webinar_id == webinar_id)).all()
        assert actions == ["updated"]


def test_a_new_join_url_is_an_update_too(app, organiser_client, smtp_server):
    webinar_id, uid = _registered(app)
    smtp_server.clear()
    data = _edit_form(app, webinar_id, join_url="https://meet.example.org/new-room")
    assert post_form(organiser_client, f"/admin/webinars/{webinar_id}/edit", data).status_code == 302
    with app.app_context():
        assert db.session.get(Webinar, webinar_id).sequence == 1
        deliver_due()
    [message] = smtp_server.wait_for(1)
    assert "https://meet.example.org/new-room" in message.body()


def test_cancelling_sends_method_cancel_and_the_public_pages_say_so(app, organiser_client, smtp_server):
    webinar_id, uid = _registered(app)
    smtp_server.clear()
    cancel_url = f"/admin/webinars/{webinar_id}/cancel"
    page = organiser_client.get(cancel_url).get_data(as_text=True)
    assert "1 person who holds a seat is sent a cancellation that removes the event from their calendar." in page
    # Without ticking the confirmation nothing happens.
    assert post_form(organiser_client, cancel_url, {"reason": "Speaker ill"}).status_code == 422
    response = post_form(organiser_client, cancel_url, {"reason": "Speaker ill", "confirm": "y"})
    assert response.status_code == 302
    with app.app_context():
        webinar = db.session.get(Webinar, webinar_id)
        assert (webinar.status, webinar.sequence) == ("cancelled", 1)
        slug = webinar.slug
        deliver_due()
    [message] = smtp_server.wait_for(1)
    calendar = _calendar(message)
    assert str(calendar["METHOD"]) == "CANCEL"
    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]) == uid and int(event["SEQUENCE"]) == 1 and str(event["STATUS"]) == "CANCELLED"
    assert "Speaker ill" in message.body()  # the organisers' reason goes to the registrants
    assert "This webinar has been cancelled." in organiser_client.get(f"/webinars/{slug}").get_data(as_text=True)
    feed = organiser_client.get("/calendar.ics").get_data(as_text=True)
    with app.app_context():
        webinar_uid = db.session.get(Webinar, webinar_id).ical_uid
    assert webinar_uid in feed.replace("\r\n ", "") and "STATUS:CANCELLED" in feed
    page = organiser_client.get(f"/admin/webinars/{webinar_id}").get_data(as_text=True)
    assert "cancelled" in page and "Reason: Speaker ill" in page and EMAIL in page
    # A cancelled webinar cannot be cancelled or published again.
    assert organiser_client.get(cancel_url).status_code == 302
    _publish(organiser_client, webinar_id)
    with app.app_context():
        assert db.session.get(Webinar, webinar_id).status == "cancelled"


def test_dashboard_lists_webinars_with_their_zones(app, organiser_client):
    with app.app_context():
        make_webinar(
            local_start=datetime(2030, 3, 12, 10, 0), display_zones=["Europe/Paris", "Asia/Tokyo"], title="Listed"
        )
        db.session.commit()
    page = organiser_client.get("/admin/").get_data(as_text=True)
    assert "Listed" in page and "10:00 Paris time" in page and "18:00 Tokyo time" in page


def test_topics_can_be_picked_from_existing_ones(app, organiser_client):
    with app.app_context():
        topic_id = make_topic("social-economy", "Social economy").id
        db.session.commit()
    page = organiser_client.get("/admin/webinars/new").get_data(as_text=True)
    assert "Social economy" in page
    webinar_id = create_via_form(organiser_client, new_topics="", topics=[str(topic_id)])
    with app.app_context():
        assert [t.slug for t in db.session.get(Webinar, webinar_id).topics] == ["social-economy"]
        assert db.session.scalar(select(db.func.count(Topic.id))) == 1


def test_the_whole_story_from_the_browser(app, organiser_client, smtp_server):
    """Sign in, create, publish, see registrations arrive, reschedule, cancel, export, send a campaign."""
    webinar_id = create_via_form(organiser_client, capacity="1", deadline_date="", deadline_time="")
    assert _publish(organiser_client, webinar_id).status_code == 302
    slug = "worker-co-operatives-across-continents"

    visitor = app.test_client()
    for name, email, zone in [("Keiko", "keiko@example.jp", "Asia/Tokyo"), ("Sam", "sam@example.com", "UTC")]:
        response = post_form(
            visitor,
            f"/webinars/{slug}/register",
            {"name": name, "email": email, "timezone": zone, "organisation": "", "country": ""},
            form_url=f"/webinars/{slug}",
        )
        assert response.status_code == 303, response.get_data(as_text=True)
    page = organiser_client.get(f"/admin/webinars/{webinar_id}/registrations").get_data(as_text=True)
    assert "keiko@example.jp" in page and '<span class="count-confirmed">1</span>' in page
    assert '<span class="count-waitlisted">1</span>' in page
    with app.app_context():
        deliver_due()
        uid = db.session.scalar(select(Registration.ical_uid).where(Registration.email == "keiko@example.jp"))
    smtp_server.clear()

    data = _edit_form(app, webinar_id, start_date="2030-03-13", display_zones="Asia/Tokyo America/New_York")
    assert post_form(organiser_client, f"/admin/webinars/{webinar_id}/edit", data).status_code == 302
    with app.app_context():
        deliver_due()
    update = smtp_server.messages_to("keiko@example.jp")[-1]
    [event] = _calendar(update).walk("VEVENT")
    assert str(event["UID"]) == uid and int(event["SEQUENCE"]) == 2  # published, then rescheduled

    csv_response = organiser_client.get(f"/admin/webinars/{webinar_id}/registrations.csv")
    assert b"keiko@example.jp" in csv_response.data and csv_response.data.startswith(b"\xef\xbb\xbf")

    smtp_server.clear()
    cancel_url = f"/admin/webinars/{webinar_id}/cancel"
    assert post_form(organiser_client, cancel_url, {"confirm": "y"}).status_code == 302
    with app.app_context():
        deliver_due()
    cancel = smtp_server.messages_to("keiko@example.jp")[-1]
    calendar = _calendar(cancel)
    assert str(calendar["METHOD"]) == "CANCEL" and int(calendar.walk("VEVENT")[0]["SEQUENCE"]) == 3

    campaign = post_form(
        organiser_client,
        "/admin/newsletter/campaigns/new",
        {"subject": "Sorry", "body": "We had to cancel.", "action": "send", "confirm": "y"},
    )
    assert campaign.status_code == 302
    history = organiser_client.get(f"/admin/webinars/{webinar_id}").get_data(as_text=True)
    for action in ("created", "published", "rescheduled", "cancelled"):
        assert re.search(rf"<td[^>]*>{action}</td>", history)


def test_agenda_and_partners_survive_a_round_trip_through_their_text_format():
    from webinars.admin.lines import format_agenda, format_partners, parse_agenda, parse_partners, parse_references

    agenda = parse_agenda(AGENDA)
    assert parse_agenda(format_agenda(agenda)) == agenda
    partners = parse_partners("A | https://a.example | Text with | a pipe\nB\nC |  | Only a description")
    assert partners[0].description == "Text with | a pipe" and partners[1].url == ""
    assert parse_partners(format_partners(partners)) == partners
    assert parse_references("a-slug | Its title\n\n  An exact title  \n") == [(1, "a-slug"), (3, "An exact title")]


def test_a_webinar_in_a_zone_alias_stays_editable_and_is_saved_under_the_current_name(app, organiser_client):
    with app.app_context():
        webinar = make_webinar(local_start=datetime(2030, 3, 12, 15, 30), timezone="Asia/Calcutta")
        db.session.commit()
        webinar_id = webinar.id
        starts_at = webinar.starts_at
    page = organiser_client.get(f"/admin/webinars/{webinar_id}/edit").get_data(as_text=True)
    assert '<option selected value="Asia/Kolkata">' in page
    data = _edit_form(app, webinar_id, timezone="Asia/Calcutta", start_time="15:30", title="Still Kolkata")
    data["display_zones"] = "asia/katmandu Europe/Kiev"
    assert post_form(organiser_client, f"/admin/webinars/{webinar_id}/edit", data).status_code == 302
    with app.app_context():
        webinar = db.session.get(Webinar, webinar_id)
        assert webinar.timezone == "Asia/Kolkata" and webinar.starts_at == starts_at
        assert webinar.display_zones == ["Asia/Kolkata", "Asia/Kathmandu", "Europe/Kyiv"]
