"""Admin actions do what organisers expect: drafts stay private, capacity moves the waiting list,
per-registration actions ask first and are audited, registrants are emailed only for what they need,
and emails an organiser caused say so."""

from __future__ import annotations

import html
import re
from datetime import datetime
from html.parser import HTMLParser

import icalendar
import pytest
import pytz
from sqlalchemy import func, select

from tests._support.forms import post_form
from tests.factories import make_webinar
from tests.test_admin import EMAIL, signed_in
from tests.test_admin_webinars import _publish, create_via_form
from webinars.audit import AuditEvent
from webinars.catalogue.models import Webinar
from webinars.database import utcnow
from webinars.extensions import db
from webinars.outbox.models import OutboxMessage
from webinars.outbox.sender import deliver_due
from webinars.registrations.models import Registration
from webinars.registrations.operations import register


@pytest.fixture
def organiser_client(app, client):
    return signed_in(app, client)


PEOPLE = [
    ("Ann", "ann@example.org"),
    ("Bob", "bob@example.org"),
    ("Cat", "cat@example.org"),
    ("Dan", "dan@example.org"),
]


def _full_house(app, capacity: int = 2, people=PEOPLE) -> tuple[int, dict[str, int]]:
    """A published webinar with `capacity` seats and `people` registered in order (the first ones
    confirmed, the others waiting); their mail already delivered."""
    with app.app_context():
        webinar = make_webinar(
            local_start=datetime(2030, 6, 4, 10, 0),
            capacity=capacity,
            title="Full house",
            display_zones=["Europe/Paris", "Asia/Tokyo"],
        )
        ids = {}
        for name, email in people:
            registration = db.session.get(
                Registration, register(webinar, name=name, email=email, timezone="Asia/Tokyo", now=utcnow()).id
            )
            ids[email] = registration.id
        db.session.commit()
        deliver_due()
        return webinar.id, ids


def _statuses(app) -> dict[str, str]:
    with app.app_context():
        return dict(db.session.execute(select(Registration.email, Registration.status)).all())


def _queued(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.status == "queued"))


def _audit(app, webinar_id: int | None = None) -> list[tuple[str, int | None, str]]:
    with app.app_context():
        query = select(AuditEvent.action, AuditEvent.registration_id, AuditEvent.details).order_by(AuditEvent.id)
        if webinar_id is not None:
            query = query.where(AuditEvent.webinar_id == webinar_id)
        return [tuple(row) for row in db.session.execute(query)]


def _text(response) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


class _FormReader(HTMLParser):
    """The values a browser would send for the first form with a given action (or the main form)."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, object] = {}
        self._textarea: str | None = None
        self._select: str | None = None
        self._selects: dict[str, int] = {}  # several <select>s may share a name (display zones)
        self._in_form = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form" and attributes.get("class") == "stacked":
            self._in_form = True
        if not self._in_form:
            return
        name = attributes.get("name")
        if tag == "input" and name:
            if attributes.get("type") == "checkbox":
                if "checked" in attributes:
                    self.data.setdefault(name, []).append(attributes.get("value", "y"))
            else:
                self.data[name] = attributes.get("value", "")
        elif tag == "textarea":
            self._textarea = name
            self.data[name] = ""
        elif tag == "select":
            self._select = name
            self._selects[name] = self._selects.get(name, 0) + 1
        elif tag == "option" and self._select and "selected" in attributes:
            if self._selects[self._select] > 1 or isinstance(self.data.get(self._select), list):
                # The browser sends one value per select of that name.
                earlier = self.data.get(self._select, [])
                self.data[self._select] = [*(earlier if isinstance(earlier, list) else [earlier])]
                self.data[self._select].append(attributes.get("value", ""))
            else:
                self.data[self._select] = attributes.get("value", "")

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None
        elif tag == "form":
            self._in_form = False

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data


def _edit(app, client, webinar_id: int, **overrides) -> dict:
    """The edit form as the browser shows it (read from the page), with `overrides` typed in;
    a value of None unticks a checkbox (the browser then sends nothing for it)."""
    reader = _FormReader()
    reader.feed(client.get(f"/admin/webinars/{webinar_id}/edit").get_data(as_text=True))
    data = {key: value.removeprefix("\n") if isinstance(value, str) else value for key, value in reader.data.items()}
    data["action"] = "save"
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


# -- drafts are never public ----------------------------------------------------------------------


def test_a_draft_cannot_be_cancelled_into_public_view(app, organiser_client):
    webinar_id = create_via_form(organiser_client, slug="a-draft")
    cancel_url = f"/admin/webinars/{webinar_id}/cancel"
    assert organiser_client.get(cancel_url).headers["Location"] == f"/admin/webinars/{webinar_id}/discard"
    response = post_form(organiser_client, cancel_url, {"confirm": "y"}, form_url=f"/admin/webinars/{webinar_id}")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Webinar, webinar_id).status == "draft"
    assert "A draft" not in organiser_client.get("/").get_data(as_text=True)
    assert organiser_client.get("/webinars/a-draft").status_code == 404
    assert b"a-draft" not in organiser_client.get("/calendar.ics").data
    page = organiser_client.get(f"/admin/webinars/{webinar_id}").get_data(as_text=True)
    assert "Discard this draft" in page and "Cancel this webinar" not in page


def test_a_draft_is_discarded_after_confirming_and_its_history_stays(app, organiser_client):
    webinar_id = create_via_form(organiser_client, slug="a-draft", title="Never mind")
    url = f"/admin/webinars/{webinar_id}/discard"
    page = organiser_client.get(url)
    assert page.status_code == 200 and "deleted for good" in page.get_data(as_text=True)
    assert post_form(organiser_client, url, {}).status_code == 422  # the box is not ticked
    response = post_form(organiser_client, url, {"confirm": "y"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    with app.app_context():
        assert db.session.get(Webinar, webinar_id) is None
    history = _audit(app)
    assert [action for action, _r, _d in history] == ["created", "discarded"]
    assert "Never mind" in history[1][2]
    listing = organiser_client.get("/admin/history").get_data(as_text=True)
    assert "discarded" in listing and "Never mind" in listing and EMAIL in listing


def test_a_published_webinar_cannot_be_discarded(app, organiser_client):
    webinar_id = create_via_form(organiser_client)
    _publish(organiser_client, webinar_id)
    url = f"/admin/webinars/{webinar_id}/discard"
    assert organiser_client.get(url).status_code == 302
    post_form(organiser_client, url, {"confirm": "y"}, form_url=f"/admin/webinars/{webinar_id}")
    with app.app_context():
        assert db.session.get(Webinar, webinar_id).status == "published"


def _cancellations(messages) -> dict[str, bool]:
    """Who got the webinar's cancellation, and whether it removes a calendar entry (METHOD:CANCEL)."""
    return {
        message.rcpt_tos[0]: any(part.get_content_type() == "text/calendar" for part in message.message.walk())
        for message in messages
    }


def test_cancelling_a_webinar_says_who_gets_a_calendar_cancellation_and_who_a_plain_notice(
    app, organiser_client, smtp_server
):
    webinar_id, ids = _full_house(app)  # Ann and Bob hold seats, Cat and Dan wait
    with app.app_context():
        # Dan holds a seat that waits for his address to be confirmed: no invite yet, like Cat.
        dan = db.session.get(Registration, ids["dan@example.org"])
        dan.status, dan.confirm_by = "pending", datetime(2030, 6, 1, tzinfo=pytz.utc)
        db.session.commit()
    smtp_server.clear()
    text = _text(organiser_client.get(f"/admin/webinars/{webinar_id}/cancel"))
    assert "2 people who hold a seat are each sent a cancellation that removes the event from their calendar." in text
    assert (
        "2 people on the waiting list or whose address is not confirmed yet never had it in their calendar: "
        "each is sent a notice." in text
    )
    assert "registrants (confirmed or waiting) are each sent a cancellation" not in text
    response = post_form(organiser_client, f"/admin/webinars/{webinar_id}/cancel", {"confirm": "y"})
    assert response.status_code == 302
    with app.app_context():
        deliver_due()
    assert _cancellations(smtp_server.wait_for(4)) == {
        "ann@example.org": True,
        "bob@example.org": True,
        "cat@example.org": False,
        "dan@example.org": False,
    }
    flashed = _text(organiser_client.get(f"/admin/webinars/{webinar_id}"))
    assert "Cancelled: 2 people are sent a cancellation for their calendar, 2 a notice." in flashed


def test_the_cancel_page_counts_one_person_in_the_singular_and_nobody_in_words(app, organiser_client):
    webinar_id, _ids = _full_house(app, capacity=1, people=[("Ann", "ann@example.org"), ("Bob", "bob@example.org")])
    text = _text(organiser_client.get(f"/admin/webinars/{webinar_id}/cancel"))
    assert "1 person who holds a seat is sent a cancellation that removes the event from their calendar." in text
    assert "1 person on the waiting list or whose address is not confirmed yet never had it in their calendar" in text
    with app.app_context():
        empty = make_webinar(local_start=datetime(2030, 6, 5, 10, 0), title="Empty room").id
        db.session.commit()
    text = _text(organiser_client.get(f"/admin/webinars/{empty}/cancel"))
    assert "Nobody is registered: no email is sent." in text and "0 people" not in text


# -- capacity and the waiting list ----------------------------------------------------------------


def test_raising_capacity_moves_the_waiting_list_up_in_order_with_the_promotion_email(
    app, organiser_client, smtp_server
):
    webinar_id, _ids = _full_house(app)
    smtp_server.clear()
    data = _edit(app, organiser_client, webinar_id, capacity="3", notify="y")
    response = post_form(organiser_client, f"/admin/webinars/{webinar_id}/edit", data)
    assert response.status_code == 302
    assert "1 person moved up from the waiting list" in _text(organiser_client.get(response.headers["Location"]))
    assert _statuses(app) == {
        "ann@example.org": "confirmed",
        "bob@example.org": "confirmed",
        "cat@example.org": "confirmed",  # first in line
        "dan@example.org": "waitlisted",
    }
    with app.app_context():
        deliver_due()
    [message] = smtp_server.wait_for(1)
    assert message.rcpt_tos == ("cat@example.org",) and message.subject.startswith("A seat is yours")
    assert "the organisers have added seats" in message.body()
    calendar = [p for p in message.message.walk() if p.get_content_type() == "text/calendar"]
    assert calendar and "METHOD:REQUEST" in calendar[0].get_content()
    assert ("seat given", _ids["cat@example.org"], "Moved up from the waiting list: more seats") in _audit(
        app, webinar_id
    )
    # A newcomer now joins the waiting list behind Dan: there is no free seat for them to take.
    with app.app_context():
        register(db.session.get(Webinar, webinar_id), name="Eve", email="eve@example.org", now=utcnow())
        db.session.commit()
    assert _statuses(app)["eve@example.org"] == "waitlisted"


def test_removing_the_limit_gives_everyone_waiting_a_seat(app, organiser_client):
    webinar_id, _ids = _full_house(app)
    post_form(
        organiser_client, f"/admin/webinars/{webinar_id}/edit", _edit(app, organiser_client, webinar_id, capacity="")
    )
    assert set(_statuses(app).values()) == {"confirmed"}


def test_lowering_capacity_below_the_confirmed_count_is_refused_beside_the_field(app, organiser_client):
    webinar_id, _ids = _full_house(app)
    response = post_form(
        organiser_client, f"/admin/webinars/{webinar_id}/edit", _edit(app, organiser_client, webinar_id, capacity="1")
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="capacity-error"' in page and "2 people already hold a seat" in page
    with app.app_context():
        assert db.session.get(Webinar, webinar_id).capacity == 2


def test_a_registration_between_the_check_and_the_save_still_keeps_the_capacity_honest(app, organiser_client):
    """The form checked 1 confirmed; by the time the edit is saved under the lock there are 2."""
    webinar_id, _ids = _full_house(app, capacity=5, people=PEOPLE[:1])
    page = organiser_client.get(f"/admin/webinars/{webinar_id}/edit").get_data(as_text=True)
    assert 'name="capacity"' in page
    data = _edit(app, organiser_client, webinar_id, capacity="1")
    from webinars.admin import forms

    original = forms.WebinarForm.validate_capacity

    def someone_registers_meanwhile(form, field):
        original(form, field)
        with app.app_context():
            register(db.session.get(Webinar, webinar_id), name="Bob", email="bob@example.org", now=utcnow())
            db.session.commit()

    forms.WebinarForm.validate_capacity = someone_registers_meanwhile
    try:
        response = post_form(organiser_client, f"/admin/webinars/{webinar_id}/edit", data)
    finally:
        forms.WebinarForm.validate_capacity = original
    assert response.status_code == 422
    assert "2 people already hold a seat" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Webinar, webinar_id).capacity == 5


# -- per-registration actions ask first, say what will be sent, and are audited -------------------


@pytest.mark.parametrize(
    ("capacity", "said"),
    [
        (1, "The webinar is full: 1 person already holds a seat, and its capacity is 1. This seat goes beyond it."),
        (3, "1 person holds a seat, and the capacity is 3: this seat is one more."),
    ],
    ids=["full", "room"],
)
def test_the_give_a_seat_page_counts_in_words(app, organiser_client, capacity, said):
    webinar_id, ids = _full_house(
        app, capacity=capacity, people=[("Ann", "ann@example.org"), ("Dan", "dan@example.org")]
    )
    with app.app_context():
        # Dan waits, with room or without (a seat can free up before the waiting list moves): an
        # organiser may still give him one.
        db.session.get(Registration, ids["dan@example.org"]).status = "waitlisted"
        db.session.commit()
    text = _text(organiser_client.get(f"/admin/registrations/{ids['dan@example.org']}/promote"))
    assert said in text
    assert not re.search(r"\b1 (people|seats)\b", text)


def test_giving_a_seat_asks_first_and_never_overbooks_silently(app, organiser_client, smtp_server):
    webinar_id, ids = _full_house(app)
    smtp_server.clear()
    url = f"/admin/registrations/{ids['dan@example.org']}/promote"
    page = organiser_client.get(url)
    assert page.status_code == 200
    text = _text(page)
    assert "Dan is sent a confirmation saying that the organisers have given them a seat" in text
    assert "The webinar is full: 2 people already hold a seat, and its capacity is 2. This seat goes beyond it." in text
    assert "Dan moves ahead of Cat" in text
    assert _statuses(app)["dan@example.org"] == "waitlisted"  # looking changes nothing

    refused = post_form(organiser_client, url, {})
    assert refused.status_code == 422 and "tick this box" in refused.get_data(as_text=True)
    assert _statuses(app)["dan@example.org"] == "waitlisted" and _queued(app) == 0

    assert post_form(organiser_client, url, {"beyond_capacity": "y"}).status_code == 302
    assert _statuses(app)["dan@example.org"] == "confirmed"
    [(action, registration_id, details)] = [e for e in _audit(app, webinar_id) if e[0] == "seat given"]
    assert registration_id == ids["dan@example.org"] and "beyond capacity (3 seats taken of 2)" in details
    history = organiser_client.get(f"/admin/webinars/{webinar_id}").get_data(as_text=True)
    assert "seat given" in history and "Dan" in history and EMAIL in history
    with app.app_context():
        deliver_due()
    [message] = smtp_server.wait_for(1)
    assert message.subject.startswith("The organisers have given you a seat")
    assert "the organisers have given you a seat" in message.body()


def test_giving_a_free_seat_needs_no_extra_tick(app, organiser_client):
    webinar_id, ids = _full_house(app, capacity=3, people=PEOPLE[:3])
    with app.app_context():
        registration = db.session.get(Registration, ids["cat@example.org"])
        registration.status, registration.confirmed_at = "waitlisted", None  # as after a manual fix
        db.session.commit()
    assert post_form(organiser_client, f"/admin/registrations/{ids['cat@example.org']}/promote", {}).status_code == 302
    assert _statuses(app)["cat@example.org"] == "confirmed"


def test_cancelling_a_registration_by_hand_asks_first_says_what_will_be_sent_and_is_audited(
    app, organiser_client, smtp_server
):
    webinar_id, ids = _full_house(app)
    smtp_server.clear()
    url = f"/admin/registrations/{ids['ann@example.org']}/cancel"
    page = organiser_client.get(url)
    assert page.status_code == 200
    text = _text(page)
    assert "Ann is sent an email saying that the organisers have cancelled the registration." in text
    assert "The seat goes to Cat, first on the waiting list" in text
    assert _statuses(app)["ann@example.org"] == "confirmed" and _queued(app) == 0

    assert post_form(organiser_client, url).status_code == 302
    assert _statuses(app)["ann@example.org"] == "cancelled" and _statuses(app)["cat@example.org"] == "confirmed"
    events = [e for e in _audit(app, webinar_id) if e[0] in ("registration cancelled", "seat given")]
    assert events == [
        ("registration cancelled", ids["ann@example.org"], "Cancelled by hand"),
        ("seat given", ids["cat@example.org"], "Moved up from the waiting list: a seat freed"),
    ]
    with app.app_context():
        deliver_due()
    [to_ann] = smtp_server.messages_to("ann@example.org")
    body = to_ann.body()
    assert "The organisers have cancelled your registration" in body
    assert "Changed your mind" not in body and "contact the organisers" in body
    assert (
        "METHOD:CANCEL"
        in [p for p in to_ann.message.walk() if p.get_content_type() == "text/calendar"][0].get_content()
    )
    [to_cat] = smtp_server.messages_to("cat@example.org")
    assert "a seat has freed up" in to_cat.body()


def test_a_person_who_cancels_themselves_is_still_invited_to_come_back(app, smtp_server):
    _webinar_id, ids = _full_house(app)
    from webinars.registrations.operations import cancel_registration

    smtp_server.clear()
    with app.app_context():
        cancel_registration(db.session.get(Registration, ids["ann@example.org"]), now=utcnow(), by="attendee")
        db.session.commit()
        deliver_due()
    [to_ann] = smtp_server.messages_to("ann@example.org")
    assert "Changed your mind?" in to_ann.body() and "The organisers have cancelled" not in to_ann.body()


# -- registrants are emailed for what they need, and the organiser decides --------------------------


def _registered(app) -> int:
    webinar_id, _ids = _full_house(app, capacity=1, people=PEOPLE[:2])  # Ann confirmed, Bob waiting
    return webinar_id


def test_fixing_a_typo_in_the_title_emails_nobody(app, organiser_client, smtp_server):
    webinar_id = _registered(app)
    data = _edit(app, organiser_client, webinar_id, title="Full house (corrected)", notify="y")
    response = post_form(organiser_client, f"/admin/webinars/{webinar_id}/edit", data)
    assert response.status_code == 302
    assert _queued(app) == 0
    with app.app_context():
        webinar = db.session.get(Webinar, webinar_id)
        assert webinar.title == "Full house (corrected)" and webinar.sequence == 1  # calendars still see it
    [(_action, _r, details)] = [e for e in _audit(app, webinar_id) if e[0] == "updated"]
    assert "notified" not in details


def test_a_new_time_is_sent_to_registrants_with_notify_ticked(app, organiser_client, smtp_server):
    webinar_id = _registered(app)
    smtp_server.clear()
    page = organiser_client.get(f"/admin/webinars/{webinar_id}/edit").get_data(as_text=True)
    assert re.search(r'<input[^>]*checked[^>]*name="notify"|<input[^>]*name="notify"[^>]*checked', page)
    data = _edit(app, organiser_client, webinar_id, start_time="11:00", notify="y")
    response = post_form(organiser_client, f"/admin/webinars/{webinar_id}/edit", data)
    assert "Registrants are sent an updated invitation" in _text(organiser_client.get(response.headers["Location"]))
    with app.app_context():
        deliver_due()
    [to_ann] = smtp_server.messages_to("ann@example.org")
    assert "Cannot come any more?" in to_ann.body()
    calendar = icalendar.Calendar.from_ical(
        [p for p in to_ann.message.walk() if p.get_content_type() == "text/calendar"][0].get_payload(decode=True)
    )
    assert str(calendar["METHOD"]) == "REQUEST"
    # Bob, on the waiting list, is told too, and how to leave the waiting list (not "cancel").
    [to_bob] = smtp_server.messages_to("bob@example.org")
    assert "Leave the waiting list" in to_bob.body() and "Cancel your registration" not in to_bob.body()
    assert [e[2].splitlines()[-1] for e in _audit(app, webinar_id) if e[0] == "rescheduled"] == [
        "Registrants notified: 2"
    ]


def test_the_organiser_can_untick_notify_and_nobody_is_emailed(app, organiser_client, smtp_server):
    webinar_id = _registered(app)
    data = _edit(
        app, organiser_client, webinar_id, start_time="11:00", join_url="https://meet.example.org/x", notify=None
    )
    response = post_form(organiser_client, f"/admin/webinars/{webinar_id}/edit", data)
    assert "Registrants were not told" in _text(organiser_client.get(response.headers["Location"]))
    assert _queued(app) == 0
    [(_action, _r, details)] = [e for e in _audit(app, webinar_id) if e[0] == "rescheduled"]
    assert "Registrants not notified" in details
    with app.app_context():
        assert db.session.get(Webinar, webinar_id).sequence == 1  # the calendar files still move


# -- the first edit of a seed webinar records only what changed -----------------------------------------


def test_saving_a_seed_webinar_unchanged_records_nothing(app, organiser_client):
    from webinars.catalogue.demo import load_demo_data

    with app.app_context():
        load_demo_data(today=datetime(2026, 1, 5).date())
        ids = db.session.scalars(select(Webinar.id).order_by(Webinar.id)).all()
    assert len(ids) >= 2
    for webinar_id in ids:
        reader = _FormReader()
        reader.feed(organiser_client.get(f"/admin/webinars/{webinar_id}/edit").get_data(as_text=True))
        data = {
            key: value.removeprefix("\n") if isinstance(value, str) else value for key, value in reader.data.items()
        }
        data["action"] = "save"
        response = post_form(organiser_client, f"/admin/webinars/{webinar_id}/edit", data)
        assert response.status_code == 302, response.get_data(as_text=True)
        assert "Nothing changed." in organiser_client.get(response.headers["Location"]).get_data(as_text=True), _audit(
            app
        )
    assert _audit(app) == []
    assert _queued(app) == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0
