"""Optional confirmed registrations: a webinar may hold each seat only until the attendee confirms
their address by a link in the first email (48 hours; GET shows a button, POST confirms). A hold
not confirmed in time frees its seat at once, before any housekeeping, and the mail worker's
housekeeping marks it expired and moves the waiting list up."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests._support.forms import post_form
from tests.test_admin import signed_in
from tests.test_registrations import JOIN_URL, calendar_of, deliver, form, make_webinar, register
from webinars.catalogue.models import Webinar
from webinars.database import utcnow
from webinars.extensions import db
from webinars.outbox import sender
from webinars.registrations import operations
from webinars.registrations.models import Registration


def confirming_webinar(app, **fields) -> int:
    return make_webinar(app, confirm_registrations=True, **fields)


def states(app) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.execute(select(Registration.email, Registration.status).order_by(Registration.id)).all()
        return [tuple(row) for row in rows]


def confirm_link(received) -> str:
    match = re.search(r"http://webinars\.test(/registrations/[A-Za-z0-9_.\-]+/confirm)", received.body("plain"))
    assert match, received.body("plain")
    return match.group(1)


def manage_link_of_hold(received) -> str:
    """The manage link of an email that also carries a confirm link (which comes first)."""
    links = re.findall(
        r"http://webinars\.test(/registrations/[A-Za-z0-9_.\-]+)(?![A-Za-z0-9_.\-]|/confirm)", received.body("plain")
    )
    assert links, received.body("plain")
    return links[-1]


def deadline_passes(app, email: str) -> None:
    """As if 48 hours had gone by for this registration: its deadline is a minute ago."""
    with app.app_context():
        db.session.execute(
            update(Registration)
            .where(Registration.email == email)
            .values(confirm_by=utcnow() - timedelta(minutes=1))
            .execution_options(synchronize_session=False)
        )
        db.session.commit()


def has_invite(received) -> bool:
    return any(part.get_content_type() == "text/calendar" for part in received.message.walk())


def test_webinars_do_not_ask_for_confirmation_unless_the_organiser_says_so(app, client):
    make_webinar(app, capacity=5)
    register(client, form())
    assert states(app) == [("Ana.Lima@example.com", "confirmed")]
    with app.app_context():
        assert db.session.scalar(select(Webinar.confirm_registrations)) is False


def test_the_first_email_holds_the_seat_and_asks_to_confirm_within_48_hours(app, client, smtp_server):
    confirming_webinar(app, capacity=2)
    response = register(client, form())
    assert response.status_code == 303
    thanks = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "confirm your address" in thanks
    assert states(app) == [("Ana.Lima@example.com", "pending")]
    with app.app_context():
        registration = db.session.scalar(select(Registration))
        assert timedelta(hours=47, minutes=59) < registration.confirm_by - utcnow() <= timedelta(hours=48)
        assert registration.confirmed_at is None
        assert operations.counts(registration.webinar)["available"] == 1  # the hold takes a seat
    deliver(app)
    [received] = smtp_server.messages_to("Ana.Lima@example.com")
    assert received.subject.startswith("Please confirm your seat")
    assert "/confirm" in confirm_link(received)
    # No invite and no join link until the address is confirmed; the deadline in the attendee's zone.
    assert not has_invite(received) and JOIN_URL not in received.data.decode()
    assert "São Paulo time" in received.body("plain") or "Sao Paulo time" in received.body("plain")


def test_opening_the_link_shows_a_button_and_only_the_post_confirms(app, client, smtp_server):
    confirming_webinar(app, capacity=2)
    register(client, form())
    deliver(app)
    link = confirm_link(smtp_server.messages[0])
    page = client.get(link)
    assert page.status_code == 200 and "Confirm my seat" in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert states(app) == [("Ana.Lima@example.com", "pending")]  # a mail scanner's GET changes nothing
    assert client.post(link).status_code == 400  # no CSRF token
    response = post_form(client, link)
    assert response.status_code == 200 and "Your seat is confirmed" in response.get_data(as_text=True)
    assert states(app) == [("Ana.Lima@example.com", "confirmed")]
    deliver(app)
    confirmation = smtp_server.messages[1]
    assert confirmation.subject.startswith("Registration confirmed")
    assert has_invite(confirmation) and JOIN_URL in confirmation.body("plain")
    _calendar, method = calendar_of(confirmation)
    assert method == "REQUEST"
    # Confirming twice is harmless, and sends nothing more.
    again = post_form(client, link, form_url="/webinars/tax-talk")  # the page has no form any more
    assert "Nothing more to do" in again.get_data(as_text=True)
    deliver(app)
    assert len(smtp_server.messages) == 2


def test_the_confirmation_arrives_even_when_the_address_used_up_its_unsolicited_mail(app, client, smtp_server):
    confirming_webinar(app, capacity=2)
    for _ in range(6):  # the first email, one re-send, then the per-address cap is reached with the newsletter
        register(client, form(newsletter="y"))
    deliver(app)
    assert len(smtp_server.messages) == 3
    seat = next(m for m in smtp_server.messages if m.subject.startswith("Please confirm your seat"))
    post_form(client, confirm_link(seat))
    deliver(app)
    assert smtp_server.messages[-1].subject.startswith("Registration confirmed")  # asked for: not capped


def test_a_lapsed_hold_frees_its_seat_at_once_even_before_housekeeping(app, client):
    confirming_webinar(app, capacity=1)
    register(client, form(email="squatter@example.com"))
    assert "Join the waiting list" in client.get("/webinars/tax-talk").get_data(as_text=True)
    deadline_passes(app, "squatter@example.com")
    page = client.get("/webinars/tax-talk").get_data(as_text=True)
    assert "Only a few seats are left." in page  # no exact count in public (tests/test_privacy.py)
    register(client, form(email="real@example.com"))
    assert states(app) == [("squatter@example.com", "expired"), ("real@example.com", "pending")]


def test_housekeeping_expires_lapsed_holds_and_moves_the_waiting_list_up(app, client, smtp_server):
    confirming_webinar(app, capacity=1)
    register(client, form(email="squatter@example.com"))
    register(client, form(email="keen@example.com"))  # full: waiting list, asked to confirm too
    register(client, form(email="slow@example.com"))
    deliver(app)
    [waitlisted] = smtp_server.messages_to("keen@example.com")
    assert waitlisted.subject.startswith("You are on the waiting list")
    response = post_form(client, confirm_link(waitlisted))
    assert "Your address is confirmed" in response.get_data(as_text=True)
    assert "position 1" in response.get_data(as_text=True)
    smtp_server.clear()

    deadline_passes(app, "squatter@example.com")
    with app.app_context():
        sender._housekeeping()
    assert states(app) == [
        ("squatter@example.com", "expired"),
        ("keen@example.com", "confirmed"),  # her address was confirmed: the seat is hers at once
        ("slow@example.com", "waitlisted"),
    ]
    deliver(app)
    [promoted] = smtp_server.messages_to("keen@example.com")
    assert promoted.subject.startswith("A seat is yours") and has_invite(promoted)
    assert smtp_server.messages_to("squatter@example.com") == []


def test_an_unconfirmed_person_moving_up_gets_a_hold_until_their_own_deadline(app, client, smtp_server):
    webinar_id = confirming_webinar(app, capacity=1)
    register(client, form(email="first@example.com"))
    register(client, form(email="second@example.com"))
    deliver(app)
    smtp_server.clear()
    with app.app_context():
        first = db.session.scalar(select(Registration).where(Registration.email == "first@example.com"))
        second_deadline = db.session.scalar(
            select(Registration.confirm_by).where(Registration.email == "second@example.com")
        )
        operations.cancel_registration(first, now=utcnow())
        db.session.commit()
        second = db.session.scalar(select(Registration).where(Registration.email == "second@example.com"))
        assert (second.status, second.confirm_by) == ("pending", second_deadline)
        assert operations.counts(db.session.get(Webinar, webinar_id))["available"] == 0
    deliver(app)
    [offer] = smtp_server.messages_to("second@example.com")
    assert offer.subject.startswith("A seat is held for you, please confirm")
    assert not has_invite(offer)


def test_waiting_list_places_not_confirmed_in_time_are_skipped(app, client):
    confirming_webinar(app, capacity=1)
    for email in ("seat@example.com", "gone@example.com", "next@example.com"):
        register(client, form(email=email))
    deadline_passes(app, "gone@example.com")
    with app.app_context():
        seat = db.session.scalar(select(Registration).where(Registration.email == "seat@example.com"))
        operations.cancel_registration(seat, now=utcnow())
        db.session.commit()
    assert [state for _email, state in states(app)] == ["cancelled", "waitlisted", "pending"]
    with app.app_context():
        assert operations.expire_lapsed_holds() == 1
    assert [state for _email, state in states(app)] == ["cancelled", "expired", "pending"]


def test_a_link_used_after_the_deadline_says_so_and_registering_again_works(app, client, smtp_server):
    confirming_webinar(app, capacity=3)
    register(client, form())
    deliver(app)
    link = confirm_link(smtp_server.messages[0])
    deadline_passes(app, "Ana.Lima@example.com")
    page = client.get(link)
    assert page.status_code == 410 and "This link has expired" in page.get_data(as_text=True)
    response = post_form(client, link, form_url="/webinars/tax-talk")
    assert response.status_code == 410
    assert states(app) == [("Ana.Lima@example.com", "expired")]
    assert register(client, form()).status_code == 303
    assert states(app) == [("Ana.Lima@example.com", "expired"), ("Ana.Lima@example.com", "pending")]


def test_re_registering_before_the_deadline_sends_the_link_again(app, client, smtp_server):
    confirming_webinar(app, capacity=3)
    register(client, form())
    register(client, form())
    deliver(app)
    subjects = [m.subject.split(":")[0] for m in smtp_server.messages]
    assert subjects == ["Please confirm your seat", "Please confirm your seat"]
    assert "confirm your seat again" in smtp_server.messages[1].body("plain")
    assert states(app) == [("Ana.Lima@example.com", "pending")]


def test_the_manage_page_of_a_hold_offers_to_confirm_and_to_cancel(app, client, smtp_server):
    confirming_webinar(app, capacity=3)
    register(client, form())
    deliver(app)
    manage = manage_link_of_hold(smtp_server.messages[0])
    page = client.get(manage).get_data(as_text=True)
    assert "Held for you until you confirm your address" in page
    assert "Confirm my seat" in page and "Cancel my registration" in page
    action = re.search(r'action="(/registrations/[^"]+/confirm)"', page).group(1)
    assert post_form(client, action, form_url=manage).status_code == 200
    # A confirm link is no manage link (another purpose, another salt), and the reverse.
    assert client.get(confirm_link(smtp_server.messages[0]).removesuffix("/confirm")).status_code == 404
    assert client.get(manage + "/confirm").status_code == 404
    assert states(app) == [("Ana.Lima@example.com", "confirmed")]


def test_reminders_go_to_confirmed_seats_only(app, client):
    from webinars.registrations.reminders import send_due_reminders

    confirming_webinar(app, capacity=3, starts_in=timedelta(hours=20))
    register(client, form(email="held@example.com"))
    with app.app_context():
        assert send_due_reminders(utcnow())["24h"] == 0
        held = db.session.scalar(select(Registration))
        operations.confirm_registration(held, now=utcnow() - timedelta(hours=5))
        db.session.commit()
        assert held.status == "confirmed"


@pytest.fixture
def organiser_client(app, client):
    return signed_in(app, client)


def test_the_admin_form_explains_the_setting_and_the_counts_and_export_show_the_new_states(app, organiser_client):
    webinar_id = make_webinar(app, capacity=2)
    client = organiser_client
    page = client.get(f"/admin/webinars/{webinar_id}/edit").get_data(as_text=True)
    assert "Hold a seat only after the attendee confirms their address" in page
    assert "For high-demand events" in page
    with app.app_context():
        webinar = db.session.get(Webinar, webinar_id)
        webinar.confirm_registrations = True
        db.session.commit()
    visitor = app.test_client()
    for email in ("a@example.com", "b@example.com", "c@example.com", "d@example.com"):
        register(visitor, form(email=email))
    deadline_passes(app, "a@example.com")  # not yet marked: the admin already sees it as expired
    listing = client.get(f"/admin/webinars/{webinar_id}/registrations").get_data(as_text=True)
    assert re.search(r'Awaiting confirmation \(<span class="count-pending">1</span>\)', listing)
    assert re.search(r'Not confirmed in time \(<span class="count-expired">1</span>\)', listing)
    assert re.search(r'Waiting list \(<span class="count-waitlisted">2</span>\)', listing)
    csv_text = client.get(f"/admin/webinars/{webinar_id}/registrations.csv").get_data(as_text=True)
    header = csv_text.splitlines()[0]
    assert "confirm address by (UTC)" in header and "address confirmed at (UTC)" in header
    assert "pending" in csv_text
