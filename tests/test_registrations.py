"""Registration: the form, capacity and waiting list, duplicates, manage/cancel, hostile input."""

from __future__ import annotations

import re
import threading
from datetime import datetime, time, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import event, func, insert, select, update

from tests._support.forms import csrf_token, post_form
from tests.test_ical import PARSERS
from webinars.catalogue.models import Webinar, new_ical_uid
from webinars.catalogue.operations import cancel_webinar
from webinars.database import utcnow
from webinars.extensions import db
from webinars.outbox.models import OutboxMessage
from webinars.outbox.sender import deliver_due
from webinars.registrations import notifications, operations
from webinars.registrations.models import Registration

JOIN_URL = "https://meet.example.org/secret-room"


def make_webinar(app, *, slug="tax-talk", capacity=None, starts_in=timedelta(days=3), **fields) -> int:
    with app.app_context():
        starts_at = (utcnow() + starts_in).replace(microsecond=0)
        webinar = Webinar(
            slug=slug,
            ical_uid=new_ical_uid("webinars.test"),
            title=fields.pop("title", "Tax & <b>policy</b> talk"),
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=75),
            timezone="Europe/Paris",
            capacity=capacity,
            status="published",
            join_url=JOIN_URL,
            sequence=0,
            **fields,
        )
        webinar.display_zones = ["Europe/Paris", "Asia/Tokyo"]
        db.session.add(webinar)
        db.session.commit()
        return webinar.id


def form(**overrides) -> dict:
    return {
        "name": "Ana Lima",
        "email": "Ana.Lima@Example.COM",
        "organisation": "OECD",
        "country": "Portugal",
        "timezone": "America/Sao_Paulo",
        **overrides,
    }


def register(client, data: dict, slug="tax-talk"):
    return post_form(client, f"/webinars/{slug}/register", data, form_url=f"/webinars/{slug}")


def registrations(app) -> list[tuple[str, str]]:
    with app.app_context():
        return [(r.email, r.status) for r in db.session.scalars(select(Registration).order_by(Registration.id))]


def deliver(app):
    with app.app_context():
        return deliver_due()


def calendar_of(received) -> tuple[Calendar, str]:
    for part in received.message.walk():
        if part.get_content_type() == "text/calendar":
            return Calendar.from_ical(part.get_content()), part.get_param("method")
    raise AssertionError("no calendar part")


def manage_link(received) -> str:
    match = re.search(r"http://webinars\.test(/registrations/[A-Za-z0-9_.\-]+)", received.body("plain"))
    assert match, received.body("plain")
    return match.group(1)


def test_page_shows_the_form_with_the_viewers_zone_prefilled_and_newsletter_unchecked(app, client):
    make_webinar(app, capacity=50)
    page = client.get("/webinars/tax-talk?tz=Asia/Tokyo").get_data(as_text=True)
    assert 'name="csrf_token"' in page and 'name="email"' in page
    assert re.search(r'<option selected value="Asia/Tokyo">|<option value="Asia/Tokyo" selected', page)
    assert re.search(r'<input[^>]*name="newsletter"[^>]*>', page) and "checked" not in re.search(
        r'<input[^>]*name="newsletter"[^>]*>', page
    ).group(0)
    assert "Seats are available." in page  # never an exact count (tests/test_privacy.py)


def selected_zones(page: str) -> list[str]:
    """The selected options of the registration form's zone <select>."""
    select = re.search(r'<select[^>]*name="timezone"[^>]*>(.*?)</select>', page, re.S)
    assert select, "no zone select in the page"
    options = re.findall(r'<option (?:selected value="([^"]+)"|value="([^"]+)" selected)', select.group(1))
    return [first or second for first, second in options]


@pytest.mark.parametrize(
    ("asked", "stored"),
    [
        ("Asia/Calcutta", "Asia/Kolkata"),
        ("Asia/Katmandu", "Asia/Kathmandu"),
        ("utc", "UTC"),
        ("Etc/GMT+5", "Etc/GMT+5"),
    ],
)
def test_the_form_preselects_the_zone_the_page_was_asked_for_and_registers_in_it(app, client, asked, stored):
    make_webinar(app)
    page = client.get("/webinars/tax-talk", query_string={"tz": asked}).get_data(as_text=True)
    assert selected_zones(page) == [stored]
    assert "data-zone-fallback" not in page  # the page knows the zone: the script leaves it alone
    # What the browser submits is the selected option, so the person is registered in that zone.
    assert register(client, form(timezone=stored)).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Registration.timezone)) == stored


def test_the_form_preselects_the_remembered_zone_and_otherwise_the_webinars(app, client):
    make_webinar(app)
    page = client.get("/webinars/tax-talk").get_data(as_text=True)
    assert selected_zones(page) == ["Europe/Paris"]
    # Marked so that the script may put the browser's own zone in its place.
    assert 'data-zone-fallback="Europe/Paris"' in page
    client.get("/webinars/tax-talk?tz=Asia/Rangoon")
    page = client.get("/webinars/tax-talk").get_data(as_text=True)
    assert selected_zones(page) == ["Asia/Yangon"]


@pytest.mark.parametrize(("sent", "stored"), [("Asia/Calcutta", "Asia/Kolkata"), ("us/eastern", "America/New_York")])
def test_a_zone_submitted_under_an_old_name_is_stored_under_its_current_name(app, client, sent, stored):
    make_webinar(app)
    assert register(client, form(timezone=sent)).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Registration.timezone)) == stored


def test_an_unknown_zone_is_refused_beside_the_field_and_never_replaced_by_the_first_option(app, client):
    make_webinar(app)
    response = register(client, form(timezone="Mars/Olympus"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(r'id="timezone-error"[^>]*>[^<]*time zone', page)
    assert "Africa/Abidjan" not in selected_zones(page)
    assert registrations(app) == []


def test_registration_is_confirmed_and_the_email_carries_times_join_link_invite_and_manage_link(
    app, client, runner, smtp_server
):
    make_webinar(app, capacity=10)
    response = register(client, form())
    assert response.status_code == 303
    thanks = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Thank you" in thanks
    assert registrations(app) == [("Ana.Lima@example.com", "confirmed")]

    assert runner.invoke(args=["mail", "send"]).exit_code == 0
    [received] = smtp_server.wait_for(1)
    assert received.rcpt_tos == ("Ana.Lima@example.com",)
    assert received.subject.startswith("Registration confirmed")
    text, html = received.body("plain"), received.body("html")
    assert JOIN_URL in text and JOIN_URL in html
    assert "São Paulo, Brazil" in text and "Tokyo time" in text and "Paris time" in text
    assert "America/Sao_Paulo" not in text and "_" not in text.split("http")[0]  # places, never IANA ids
    assert "Tax &amp; &lt;b&gt;policy&lt;/b&gt; talk" in html
    calendar, method = calendar_of(received)
    assert method == str(calendar["METHOD"]) == "REQUEST"
    event = calendar.walk("VEVENT")[0]
    assert str(event["ATTENDEE"]).lower() == "mailto:ana.lima@example.com"
    assert "/registrations/" in manage_link(received)


def test_full_webinar_waitlists_with_position_and_no_join_link(app, client, smtp_server):
    make_webinar(app, capacity=1)
    register(client, form(email="first@example.com"))
    register(client, form(email="second@example.com"))
    register(client, form(email="third@example.com"))
    assert [s for _, s in registrations(app)] == ["confirmed", "waitlisted", "waitlisted"]
    deliver(app)
    [third] = smtp_server.messages_to("third@example.com")
    assert "waiting list" in third.subject
    assert "position 2" in third.body("plain")
    assert JOIN_URL not in third.data.decode()
    assert not [p for p in third.message.walk() if p.get_content_type() == "text/calendar"]
    assert "Join the waiting list" in client.get("/webinars/tax-talk").get_data(as_text=True)


def test_same_address_twice_is_one_registration_with_the_same_answer_and_the_email_again(app, client, smtp_server):
    make_webinar(app, capacity=5)
    first = register(client, form())
    second = register(client, form(email="ana.lima@example.com", name="Someone else"))
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert registrations(app) == [("Ana.Lima@example.com", "confirmed")]
    deliver(app)
    assert len(smtp_server.messages_to("Ana.Lima@example.com")) == 2


def test_cancelling_sends_cancel_and_promotes_the_first_waitlisted_person(app, client, smtp_server):
    webinar_id = make_webinar(app, capacity=1)
    register(client, form(email="seat@example.com", name="Seat Holder"))
    register(client, form(email="wait1@example.com"))
    register(client, form(email="wait2@example.com"))
    deliver(app)
    [confirmation] = smtp_server.messages_to("seat@example.com")
    link = manage_link(confirmation)
    smtp_server.clear()

    # Opening the link (as a mail scanner would) changes nothing.
    page = client.get(link)
    assert page.status_code == 200 and "Seat Holder" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "private, no-store"
    assert [s for _, s in registrations(app)] == ["confirmed", "waitlisted", "waitlisted"]

    token = csrf_token(client, link)
    response = client.post(link, data={"csrf_token": token})
    assert response.status_code == 303
    assert [s for _, s in registrations(app)] == ["cancelled", "confirmed", "waitlisted"]
    assert "Cancelled" in client.get(link).get_data(as_text=True)
    deliver(app)

    [cancelled] = smtp_server.messages_to("seat@example.com")
    calendar, method = calendar_of(cancelled)
    with app.app_context():
        webinar = db.session.get(Webinar, webinar_id)
        sequence = webinar.sequence
        seat_uid, wait_uid = db.session.scalars(select(Registration.ical_uid).order_by(Registration.id)).all()[:2]
    assert method == str(calendar["METHOD"]) == "CANCEL"
    event = calendar.walk("VEVENT")[0]
    # The entry of her confirmation, one SEQUENCE up: RFC 5546 wants a cancellation to raise it.
    assert str(event["UID"]) == seat_uid and int(event["SEQUENCE"]) == sequence + 1
    assert int(calendar_of(confirmation)[0].walk("VEVENT")[0]["SEQUENCE"]) == sequence

    [promoted] = smtp_server.messages_to("wait1@example.com")
    assert promoted.subject.startswith("A seat is yours")
    assert JOIN_URL in promoted.body("plain")
    calendar, method = calendar_of(promoted)
    assert method == "REQUEST" and str(calendar.walk("VEVENT")[0]["UID"]) == wait_uid != seat_uid
    assert not smtp_server.messages_to("wait2@example.com")

    # A second POST is harmless: no second cancellation, nobody else promoted.
    assert client.post(link, data={"csrf_token": token}).status_code == 303
    assert [s for _, s in registrations(app)] == ["cancelled", "confirmed", "waitlisted"]


def test_cancel_without_csrf_is_refused(app, client):
    make_webinar(app)
    register(client, form())
    with app.app_context():
        registration = db.session.scalar(select(Registration))
        link = "/registrations/" + notifications.manage_token(registration)
    assert client.post(link, data={}).status_code == 400
    assert registrations(app) == [("Ana.Lima@example.com", "confirmed")]


@pytest.mark.parametrize("token", ["garbage", "eyJyIjoxfQ.aaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbb", "x" * 3000])
def test_forged_or_garbled_token_gets_a_clear_4xx_page(app, client, token):
    make_webinar(app)
    for response in (client.get(f"/registrations/{token}"), client.post(f"/registrations/{token}")):
        assert 400 <= response.status_code < 500
        assert "not valid" in response.get_data(as_text=True) or response.status_code in (400, 404)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Ana\r\nBcc: victim@example.com"),
        ("name", "x" * 201),
        ("email", "not-an-address"),
        ("email", "a@example.com\r\nBcc: victim@example.com"),
        ("organisation", "y" * 201),
        ("country", "Bad\x00country"),
        ("timezone", "Mars/Olympus_Mons"),
        ("name", ""),
    ],
)
def test_hostile_or_invalid_input_is_refused_beside_the_field_with_input_kept(app, client, smtp_server, field, value):
    make_webinar(app)
    response = register(client, form(**{field: value}))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'id="{field}-error"' in page
    assert "Portugal" in page or field == "country"  # the other input is kept
    assert 'America/Sao_Paulo" selected' in page or 'selected value="America/Sao_Paulo"' in page or field == "timezone"
    assert registrations(app) == []
    with app.app_context():
        assert db.session.scalar(select(func.count(OutboxMessage.id))) == 0


def test_markup_in_a_name_is_stored_inertly_and_escaped_in_page_and_email(app, client, smtp_server):
    make_webinar(app)
    hostile = '<script>alert("x")</script> Ana'
    register(client, form(name=hostile))
    deliver(app)
    [received] = smtp_server.wait_for(1)
    assert "<script>" not in received.body("html")
    assert "&lt;script&gt;" in received.body("html")
    with app.app_context():
        registration = db.session.scalar(select(Registration))
        assert registration.name == hostile
        link = "/registrations/" + notifications.manage_token(registration)
    page = client.get(link).get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_registration_closes_at_the_deadline(app, client):
    make_webinar(app, registration_deadline=utcnow() - timedelta(minutes=1))
    make_webinar(app, slug="open-one")
    page = client.get("/webinars/tax-talk").get_data(as_text=True)
    assert "Registration for this webinar has closed" in page
    response = post_form(client, "/webinars/tax-talk/register", form(), form_url="/webinars/open-one")
    assert response.status_code == 409
    assert registrations(app) == []


@pytest.mark.slow
def test_forty_concurrent_registrations_for_ten_seats_confirm_exactly_ten(app):
    make_webinar(app, capacity=10)
    clients = []
    for _ in range(40):
        client = app.test_client()
        clients.append((client, csrf_token(client, "/webinars/tax-talk")))
    barrier = threading.Barrier(40)
    statuses = []

    def attempt(n, client, token):
        barrier.wait()
        response = client.post(
            "/webinars/tax-talk/register", data=form(email=f"person{n}@example.com", csrf_token=token)
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=attempt, args=(n, c, t)) for n, (c, t) in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [303] * 40
    result = [s for _, s in registrations(app)]
    assert result.count("confirmed") == 10
    assert result.count("waitlisted") == 30
    with app.app_context():
        assert db.session.scalar(select(func.count(OutboxMessage.id))) == 40
        db.session.remove()


def test_webinar_update_sends_a_new_request_with_the_same_uid_and_a_higher_sequence(app, client, smtp_server):
    webinar_id = make_webinar(app, capacity=1)
    register(client, form(email="seat@example.com", timezone="Asia/Tokyo"))
    register(client, form(email="wait@example.com"))
    deliver(app)
    smtp_server.clear()
    with app.app_context():
        webinar = db.session.get(Webinar, webinar_id)
        old_start = webinar.starts_at
        webinar.starts_at = old_start + timedelta(hours=2)
        webinar.ends_at = webinar.ends_at + timedelta(hours=2)
        webinar.sequence += 1
        assert notifications.send_webinar_update(webinar, {"starts_at": (old_start, webinar.starts_at)}) == 2
        db.session.commit()
        uid = db.session.scalar(select(Registration.ical_uid).where(Registration.email == "seat@example.com"))
    deliver(app)
    [update] = smtp_server.messages_to("seat@example.com")
    calendar, method = calendar_of(update)
    event = calendar.walk("VEVENT")[0]
    assert method == "REQUEST" and str(event["UID"]) == uid and int(event["SEQUENCE"]) == 1
    assert "Tokyo time" in update.body("plain")
    [notice] = smtp_server.messages_to("wait@example.com")
    assert JOIN_URL not in notice.data.decode()
    assert not [p for p in notice.message.walk() if p.get_content_type() == "text/calendar"]


def test_webinar_cancellation_removes_the_invite_and_tells_the_waiting_list_without_one(app, client, smtp_server):
    webinar_id = make_webinar(app, capacity=1)
    register(client, form(email="seat@example.com"))
    register(client, form(email="wait@example.com"))
    deliver(app)
    smtp_server.clear()
    with app.app_context():
        webinar = db.session.get(Webinar, webinar_id)
        cancel_webinar(webinar, by=None, now=utcnow(), reason="Our speaker is ill.\nWe will announce a new date.")
        db.session.commit()
    deliver(app)
    [seat] = smtp_server.messages_to("seat@example.com")
    calendar, method = calendar_of(seat)
    assert method == "CANCEL"
    assert str(calendar.walk("VEVENT")[0]["STATUS"]) == "CANCELLED"
    # Someone on the waiting list never had an invite: a plain notice, no METHOD:CANCEL.
    [wait] = smtp_server.messages_to("wait@example.com")
    assert not [p for p in wait.message.walk() if p.get_content_type() == "text/calendar"]
    assert "waiting list" in wait.body("plain")
    for received in (seat, wait):
        text, html = received.body("plain"), received.body("html")
        # The organiser's reason is sent, and "Other webinars" leads to the catalogue, not the cancelled page.
        assert "Our speaker is ill." in text and "We will announce a new date." in text
        assert "Our speaker is ill.<br>" in html or "Our speaker is ill.\n<br>" in html
        assert re.search(r"Other webinars: http://webinars\.test/\s", text)
        assert 'href="http://webinars.test/"' in html
        assert "http://webinars.test/webinars/tax-talk" not in text


def calendar_messages(smtp_server, address: str) -> list[tuple[str, bytes]]:
    """(MIME method, iCalendar bytes) of every invite or cancellation sent to `address`, in order."""
    found = []
    for received in smtp_server.messages_to(address):
        for part in received.message.walk():
            if part.get_content_type() == "text/calendar":
                found.append((part.get_param("method"), part.get_content().encode("utf-8")))
    return found


def apply_itip(calendar: dict, method: str, event: dict) -> bool:
    """A calendar client (RFC 5546): a message about a known event applies only with a higher SEQUENCE."""
    known = calendar.get(event["uid"])
    if known is not None and event["sequence"] <= known["sequence"]:
        return False
    status = "CANCELLED" if method == "CANCEL" else event["status"]
    calendar[event["uid"]] = {"sequence": event["sequence"], "status": status, "start": event["start"]}
    return True


def test_register_cancel_register_again_and_an_update_are_each_applied_by_every_parser(app, client, smtp_server):
    webinar_id = make_webinar(app, capacity=10)
    assert register(client, form()).status_code == 303
    deliver(app)
    link = manage_link(smtp_server.messages_to("Ana.Lima@example.com")[0])
    assert client.post(link, data={"csrf_token": csrf_token(client, link)}).status_code == 303
    assert register(client, form()).status_code == 303  # changed her mind
    with app.app_context():
        webinar = db.session.get(Webinar, webinar_id)
        old_start, webinar.sequence = webinar.starts_at, webinar.sequence + 1
        webinar.starts_at, webinar.ends_at = old_start + timedelta(hours=1), webinar.ends_at + timedelta(hours=1)
        notifications.send_webinar_update(webinar, {"starts_at": (old_start, webinar.starts_at)})
        db.session.commit()
        new_start = webinar.starts_at
    deliver(app)
    messages = calendar_messages(smtp_server, "Ana.Lima@example.com")
    assert [method for method, _ in messages] == ["REQUEST", "CANCEL", "REQUEST", "REQUEST"]
    for name, parse in PARSERS.items():
        calendar: dict = {}
        for number, (method, data) in enumerate(messages, start=1):
            [event] = parse(data)
            assert apply_itip(calendar, method, event), f"{name} ignores message {number} ({method})"
        live = [entry for entry in calendar.values() if entry["status"] == "CONFIRMED"]
        assert len(live) == 1 and live[0]["start"] == new_start, name
        assert [entry["status"] for entry in calendar.values()].count("CANCELLED") == 1, name


@pytest.mark.parametrize("what", ["the webinar was cancelled", "the webinar is over"])
def test_a_cancel_posted_after_the_webinar_was_cancelled_or_is_over_sends_nothing(app, client, smtp_server, what):
    webinar_id = make_webinar(app)
    register(client, form())
    deliver(app)
    link = manage_link(smtp_server.messages_to("Ana.Lima@example.com")[0])
    token = csrf_token(client, link)  # the page was opened while cancelling was still possible
    with app.app_context():
        webinar = db.session.get(Webinar, webinar_id)
        if what == "the webinar was cancelled":
            cancel_webinar(webinar, by=None, now=utcnow())
        else:
            webinar.starts_at, webinar.ends_at = utcnow() - timedelta(hours=3), utcnow() - timedelta(hours=2)
        db.session.commit()
    deliver(app)
    smtp_server.clear()

    response = client.post(link, data={"csrf_token": token})
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "nothing to cancel" in page and "Cancel my registration" not in page
    assert registrations(app) == [("Ana.Lima@example.com", "confirmed")]
    deliver(app)
    assert smtp_server.messages == []  # no METHOD:CANCEL, no email


def test_operations_for_organisers_cancel_and_count(app, client):
    webinar_id = make_webinar(app, capacity=1)
    register(client, form(email="a@example.com"))
    register(client, form(email="b@example.com"))
    with app.app_context():
        webinar = db.session.get(Webinar, webinar_id)
        expected = {"confirmed": 1, "pending": 0, "waitlisted": 1, "capacity": 1, "available": 0}
        assert operations.counts(webinar) == expected
        first = db.session.scalar(select(Registration).order_by(Registration.id))
        promoted = operations.cancel_registration(first, now=utcnow(), by="organiser")
        assert promoted is not None and promoted.email == "b@example.com"
        db.session.commit()
        assert operations.counts(webinar)["waitlisted"] == 0


def test_newsletter_box_starts_double_opt_in_and_is_off_by_default(app, client):
    from webinars.newsletter.models import Subscriber

    make_webinar(app)
    register(client, form(email="no@example.com"))
    register(client, form(email="yes@example.com", newsletter="y"))
    with app.app_context():
        assert db.session.execute(select(Subscriber.email, Subscriber.status)).all() == [("yes@example.com", "pending")]
        kinds = db.session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)).all()
    assert kinds.count("registration_confirmed") == 2 and len(kinds) == 3


def test_a_registration_post_takes_at_most_eight_sql_statements(app, client):
    make_webinar(app, capacity=10)
    token = csrf_token(client, "/webinars/tax-talk")
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.post("/webinars/tax-talk/register", data=form(csrf_token=token))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert response.status_code == 303
    assert registrations(app) == [("Ana.Lima@example.com", "confirmed")]
    # A look at the client's counter, the webinar's row, the lock (with the reload, the seat count and the
    # duplicate check: two statements on either database), the registration, the address's
    # unconfirmed-mail counter, the outbox row saying what to send, the client's counter. No agenda, no
    # email built.
    assert len(statements) <= 8, "\n".join(statements)


def _before_the_lock(app, monkeypatch, change):
    """Run `change(connection, webinar_id)` on another connection just before register() locks the
    webinar (on SQLite the lock is the post's first write, which takes the database's write lock)."""
    real = operations.lock_and_load

    def changed_first(model, row_id, *columns, **kwargs):
        with db.engine.connect() as other:
            change(other, row_id)
            other.commit()
        return real(model, row_id, *columns, **kwargs)

    monkeypatch.setattr(operations, "lock_and_load", changed_first)


def test_the_last_seat_taken_just_before_the_lock_waitlists_without_invite_or_join_link(
    app, client, smtp_server, monkeypatch
):
    make_webinar(app, capacity=1)

    def take_the_seat(connection, webinar_id):
        now = utcnow()
        connection.execute(
            insert(Registration).values(
                webinar_id=webinar_id,
                email="quick@example.com",
                email_key="quick@example.com",
                name="Quick",
                organisation="",
                country="",
                timezone="UTC",
                status="confirmed",
                wants_newsletter=False,
                created_at=now,
                confirmed_at=now,
            )
        )

    _before_the_lock(app, monkeypatch, take_the_seat)
    assert register(client, form()).status_code == 303
    assert registrations(app) == [("quick@example.com", "confirmed"), ("Ana.Lima@example.com", "waitlisted")]
    deliver(app)
    [received] = smtp_server.messages_to("Ana.Lima@example.com")
    assert "waiting list" in received.subject
    assert JOIN_URL not in received.data.decode()
    assert not [p for p in received.message.walk() if p.get_content_type() == "text/calendar"]


def test_a_webinar_edited_just_before_the_lock_is_what_the_confirmation_and_invite_say(
    app, client, smtp_server, monkeypatch
):
    make_webinar(app, capacity=10)
    new_join = "https://meet.example.org/new-room"

    def edit(connection, webinar_id):
        connection.execute(
            update(Webinar)
            .where(Webinar.id == webinar_id)
            .values(title="Renamed talk", join_url=new_join, sequence=Webinar.sequence + 1, updated_at=utcnow())
        )

    _before_the_lock(app, monkeypatch, edit)
    assert register(client, form()).status_code == 303
    deliver(app)
    [received] = smtp_server.messages_to("Ana.Lima@example.com")
    assert received.subject == "Registration confirmed: Renamed talk"
    assert new_join in received.body("plain") and JOIN_URL not in received.data.decode()
    calendar, _method = calendar_of(received)
    event_ = calendar.walk("VEVENT")[0]
    assert str(event_["SUMMARY"]) == "Renamed talk"
    assert int(event_["SEQUENCE"]) == 1
    assert new_join in str(event_["DESCRIPTION"])


def test_an_address_differing_only_in_the_case_of_a_non_ascii_letter_is_the_same_registration(app, client):
    """Élise@ and élise@ are one mailbox: SQL's lower() leaves É alone on SQLite, so the check compares the
    stored case-folded key instead."""
    make_webinar(app, capacity=5)
    assert register(client, form(email="Élise@example.org")).status_code == 303
    assert register(client, form(email="élise@example.org")).status_code == 303
    assert registrations(app) == [("Élise@example.org", "confirmed")]


def test_a_live_registration_the_check_missed_is_caught_by_the_unique_index_and_answered_as_a_duplicate(
    app, client, smtp_server, monkeypatch
):
    """Two registrations of one mailbox racing past the check (here: the check told it found nothing,
    as it would before the other one committed) meet the unique index: the second is answered as the
    duplicate it is, with the same page and its email again, never a 5xx."""
    make_webinar(app, capacity=5)
    first = register(client, form(email="ana@example.com"))
    assert first.status_code == 303
    real = operations.lock_and_load

    def missed(model, row_id, *columns, **kwargs):
        locked, *values = real(model, row_id, *columns, **kwargs)
        return (locked, *values[:-1], None)  # the live registration of the address: not seen

    monkeypatch.setattr(operations, "lock_and_load", missed)
    response = register(client, form(email="ANA@example.com", name="Ana again"))
    assert response.status_code == 303 and response.headers["Location"] == first.headers["Location"]
    assert registrations(app) == [("ana@example.com", "confirmed")]
    deliver(app)
    assert [m.subject.split(":")[0] for m in smtp_server.messages] == ["Registration confirmed"] * 2


# -- the times an email gives, and the invite as a file -----------------------------------------------------


def _time_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("When:", "Event time:"))]


def test_the_email_gives_one_time_line_when_the_registrant_is_in_the_webinars_zone(app, client, smtp_server):
    make_webinar(app, capacity=10)  # Paris time
    assert register(client, form(email="paris@example.com", timezone="Europe/Paris")).status_code == 303
    assert register(client, form(email="rio@example.com")).status_code == 303  # São Paulo
    deliver(app)
    [paris], [rio] = smtp_server.messages_to("paris@example.com"), smtp_server.messages_to("rio@example.com")
    [when] = _time_lines(paris.body())  # "When" and "Event time" would say the same thing twice
    assert when.startswith("When: ") and when.endswith("(Paris, France)")
    assert "Event time" not in paris.body("html")
    assert [line.split(":")[0] for line in _time_lines(rio.body())] == ["When", "Event time"]
    assert "Event time" in rio.body("html")


def test_a_range_that_ends_after_midnight_says_so_in_the_email_and_on_the_manage_page(app, client, smtp_server):
    from webinars.timezones import localize

    webinar_id = make_webinar(app, capacity=10)
    with app.app_context():
        webinar = db.session.get(Webinar, webinar_id)
        day = (utcnow() + timedelta(days=10)).date()
        webinar.starts_at = localize(datetime.combine(day, time(23, 0)), "Europe/Paris")
        webinar.ends_at = webinar.starts_at + timedelta(minutes=75)
        db.session.commit()
    register(client, form(email="paris@example.com", timezone="Europe/Paris"))
    register(client, form(email="rio@example.com"))  # 19:00 - 20:15 in São Paulo: one day
    deliver(app)
    [paris], [rio] = smtp_server.messages_to("paris@example.com"), smtp_server.messages_to("rio@example.com")
    assert re.search(r"When: [^\n]*, 23:00 - 00:15 \(the next day\) CES?T \(Paris, France\)", paris.body())
    assert "23:00 - 00:15 (the next day) CE" in paris.body("html")
    assert "the next day" not in _time_lines(rio.body())[0]
    assert re.search(r"Event time: [^\n]*, 23:00 - 00:15 \(the next day\) CES?T", rio.body())
    page = client.get(manage_link(paris)).get_data(as_text=True)
    assert "23:00 - 00:15 (the next day) CE" in page


@pytest.mark.parametrize("method", ["REQUEST", "CANCEL"])
def test_the_invite_is_also_attached_as_invite_ics_and_the_calendar_part_still_comes_first(
    app, client, smtp_server, method
):
    """The text says the invitation is attached: clients without iMIP support (or that hide the
    text/calendar alternative) show the file; Gmail and Outlook still find the METHOD in the first
    text/calendar part."""
    make_webinar(app, capacity=10)
    register(client, form())
    deliver(app)
    if method == "CANCEL":
        link = manage_link(smtp_server.wait_for(1)[0])
        client.post(link, data={"csrf_token": csrf_token(client, link)})
        deliver(app)
    received = smtp_server.wait_for(1 if method == "REQUEST" else 2)[-1]
    message = received.message
    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = message.iter_parts()
    assert [part.get_content_type() for part in alternative.iter_parts()] == [
        "text/plain",
        "text/html",
        "text/calendar",
    ]
    assert attachment.get_content_type() == "application/ics"
    assert attachment.get_content_disposition() == "attachment" and attachment.get_filename() == "invite.ics"
    first = next(part for part in message.walk() if part.get_content_type() in ("text/calendar", "application/ics"))
    assert first.get_content_type() == "text/calendar" and first.get_param("method") == method
    inline, attached = first.get_content().encode(), attachment.get_payload(decode=True)
    assert attached.replace(b"\r\n", b"\n") == inline.replace(b"\r\n", b"\n")
    assert f"METHOD:{method}" in attached.decode()
    for name, parse in PARSERS.items():
        assert parse(attached) == parse(inline), name
    if method == "REQUEST":
        assert "The calendar invitation is attached" in received.body()
