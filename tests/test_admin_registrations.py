"""Organisers follow registrations: counts, the list, cancelling and promoting by hand, a safe CSV export."""

import csv
import io
import re
from datetime import datetime

import pytest
from sqlalchemy import select

from tests._support.forms import post_form
from tests.factories import make_webinar
from tests.test_admin import signed_in
from webinars.admin.exports import safe_cell
from webinars.database import utcnow
from webinars.extensions import db
from webinars.outbox.sender import deliver_due
from webinars.registrations.models import Registration
from webinars.registrations.operations import register


@pytest.fixture
def organiser_client(app, client):
    return signed_in(app, client)


def _webinar_with_registrations(app, people, capacity=2):
    with app.app_context():
        webinar = make_webinar(local_start=datetime(2030, 6, 4, 10, 0), capacity=capacity, title="Full house")
        ids = {}
        for name, email in people:
            registration = db.session.get(
                Registration, register(webinar, name=name, email=email, timezone="Europe/Paris", now=utcnow()).id
            )
            ids[email] = registration.id
        db.session.commit()
        return webinar.id, ids


PEOPLE = [
    ("Ann", "ann@example.org"),
    ("Bob", "bob@example.org"),
    ("Cat", "cat@example.org"),
    ("Dan", "dan@example.org"),
]


def test_registrations_page_shows_counts_and_the_list(app, organiser_client):
    webinar_id, _ids = _webinar_with_registrations(app, PEOPLE)
    page = organiser_client.get(f"/admin/webinars/{webinar_id}/registrations").get_data(as_text=True)
    assert '<span class="count-confirmed">2</span>' in page
    assert '<span class="count-waitlisted">2</span>' in page
    assert '<span class="count-cancelled">0</span>' in page
    for _name, email in PEOPLE:
        assert email in page
    waiting = organiser_client.get(f"/admin/webinars/{webinar_id}/registrations?status=waitlisted")
    text = waiting.get_data(as_text=True)
    assert "cat@example.org" in text and "ann@example.org" not in text
    summary = organiser_client.get(f"/admin/webinars/{webinar_id}").get_data(as_text=True)
    assert "Confirmed: 2" in summary and "Waiting list: 2" in summary


def test_cancelling_a_confirmed_registration_by_hand_moves_the_first_waiting_person_up(
    app, organiser_client, smtp_server
):
    webinar_id, ids = _webinar_with_registrations(app, PEOPLE)
    with app.app_context():
        deliver_due()
    smtp_server.clear()
    url = f"/admin/registrations/{ids['ann@example.org']}/cancel"
    response = post_form(organiser_client, url)  # from the confirmation page
    assert response.status_code == 302
    page = organiser_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Cat moved up from the waiting list" in page
    with app.app_context():
        statuses = dict(db.session.execute(select(Registration.email, Registration.status)).all())
        assert statuses["ann@example.org"] == "cancelled"
        assert statuses["cat@example.org"] == "confirmed"
        assert statuses["dan@example.org"] == "waitlisted"
        deliver_due()
    smtp_server.wait_for(2)
    assert smtp_server.messages_to("ann@example.org") and smtp_server.messages_to("cat@example.org")


def test_promoting_by_hand_gives_a_seat_beyond_capacity(app, organiser_client, smtp_server):
    webinar_id, ids = _webinar_with_registrations(app, PEOPLE)
    with app.app_context():
        deliver_due()
    smtp_server.clear()
    url = f"/admin/registrations/{ids['dan@example.org']}/promote"
    # The webinar is full: the confirmation page asks, and only a ticked box goes beyond capacity.
    assert post_form(organiser_client, url).status_code == 422
    assert post_form(organiser_client, url, {"beyond_capacity": "y"}).status_code == 302
    with app.app_context():
        assert db.session.get(Registration, ids["dan@example.org"]).status == "confirmed"
        deliver_due()
    [message] = smtp_server.wait_for(1)
    assert message.rcpt_tos == ("dan@example.org",)
    # A confirmed registration cannot be "promoted" again.
    post_form(organiser_client, url, {"beyond_capacity": "y"}, form_url=f"/admin/webinars/{webinar_id}/registrations")
    with app.app_context():
        assert db.session.get(Registration, ids["dan@example.org"]).status == "confirmed"


def test_cancel_and_promote_need_a_post_with_the_csrf_token(app, organiser_client):
    _webinar_id, ids = _webinar_with_registrations(app, PEOPLE)
    # Opening them only shows the confirmation step.
    assert organiser_client.get(f"/admin/registrations/{ids['ann@example.org']}/cancel").status_code == 200
    assert organiser_client.get(f"/admin/registrations/{ids['dan@example.org']}/promote").status_code == 200
    assert organiser_client.post(f"/admin/registrations/{ids['ann@example.org']}/cancel").status_code == 400
    assert organiser_client.post(f"/admin/registrations/{ids['dan@example.org']}/promote").status_code == 400
    with app.app_context():
        assert db.session.get(Registration, ids["ann@example.org"]).status == "confirmed"
        assert db.session.get(Registration, ids["dan@example.org"]).status == "waitlisted"


def test_csv_export_has_a_bom_and_neutralises_formulas(app, organiser_client):
    people = [
        ('=HYPERLINK("http://evil.example","click")', "eve@example.org"),
        ("+SUM(1,2)", "plus@example.org"),
        ("-2+3", "minus@example.org"),
        ("@cmd", "at@example.org"),
        ("\tTabbed", "tab@example.org"),
        ("Zoë 日本", "zoe@example.org"),
    ]
    webinar_id, _ids = _webinar_with_registrations(app, people, capacity=None)
    response = organiser_client.get(f"/admin/webinars/{webinar_id}/registrations.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    raw = response.data
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == ["id", "name", "email"]
    names = [row[1] for row in rows[1:]]
    assert names == [
        '\'=HYPERLINK("http://evil.example","click")',
        "'+SUM(1,2)",
        "'-2+3",
        "'@cmd",
        "'\tTabbed",
        "Zoë 日本",
    ]
    for row in rows[1:]:
        assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in row)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("\r=1", "'\r'=1"),  # a line break is a separator too
        ("a;=b", "a;'=b"),
        ("a, @b", "a, '@b"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        (None, ""),
        (True, "yes"),
        (3, "3"),
    ],
)
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


def test_csv_quotes_every_field_neutralises_formulas_after_any_separator_and_writes_readable_dates(
    app, organiser_client
):
    """European spreadsheets split on ";": a formula hidden after a separator inside a cell must be
    neutralised too, and dates come out as "2030-06-04 08:00:00", which spreadsheets read as dates."""
    people = [
        ('Ann;=HYPERLINK("http://evil.example","x")', "semi@example.org"),
        ("Bob,+SUM(1;2)", "comma@example.org"),
        ("Cat; -2+3", "space@example.org"),
        ('Dan;"@cmd', "quote@example.org"),
        ("Eve|=1", "pipe@example.org"),
    ]
    webinar_id, _ids = _webinar_with_registrations(app, people, capacity=None)
    text = organiser_client.get(f"/admin/webinars/{webinar_id}/registrations.csv").data.decode("utf-8-sig")
    lines = text.split("\r\n")[:-1]
    assert len(lines) == 1 + len(people)
    field = r'"(?:[^"]|"")*"'
    for line in lines:
        assert re.fullmatch(rf"{field}(,{field})*", line), line  # every field quoted
        for separator in ",;\t|":
            for piece in line.split(separator):
                assert piece.strip(' "')[:1] not in ("=", "+", "-", "@"), (separator, piece, line)
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    for row in rows[1:]:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[header.index("registered at (UTC)")])
    assert rows[1][1] == 'Ann;\'=HYPERLINK("http://evil.example","x")'  # readable, and inert
