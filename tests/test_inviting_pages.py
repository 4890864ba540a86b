"""Pages that invite people in: the visitor's time on every card, a webinar page whose first screen says
what, when, who and what to do, and a page after registering that says what this submission got."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from tests._support.forms import post_form
from tests.factories import make_topic, make_webinar
from tests.test_catalogue import SEED_1, text_of
from tests.test_registrations import deliver, form, manage_link
from tests.test_registrations import make_webinar as make_registrable
from webinars.catalogue.demo import load_demo_data
from webinars.database import utcnow
from webinars.extensions import db
from webinars.timezones import localize


@pytest.fixture
def demo(app):
    with app.app_context():
        load_demo_data()
    return app


# -- the visitor's zone on every card ------------------------------------------------------------------


def test_every_card_shows_the_visitors_time_once_their_zone_is_known(demo, client):
    response = client.get("/?tz=America/Sao_Paulo")
    page = text_of(response)
    # The seed of 12 March 2024, 10:00 in Paris, is 06:00 in São Paulo, in the archive.
    assert "Your time: 06:00 São Paulo time, Tuesday 12 March 2024" in page
    assert page.count("Your time:") >= 6  # every card, upcoming and past
    assert "America/Sao_Paulo" not in page and "Sao_Paulo" not in page
    assert "tz=America/Sao_Paulo" in response.headers["Set-Cookie"]
    # Remembered: the topic filter and the next visit show it too, without ?tz=.
    assert "Your time:" in text_of(client.get("/?topic=cooperatives"))
    assert "Your time:" not in text_of(demo.test_client().get("/"))  # nobody chose a zone


def test_a_card_marks_a_visitor_whose_day_is_not_the_events(app, client):
    with app.app_context():
        make_webinar(slug="late", title="Late in Paris", local_start=datetime(2030, 6, 4, 23, 0))
        make_webinar(
            slug="early", title="Early in Tokyo", local_start=datetime(2030, 6, 5, 7, 0), timezone="Asia/Tokyo"
        )
        db.session.commit()
    tokyo = text_of(client.get("/?tz=Asia/Tokyo"))
    assert "Your time: 06:00 Tokyo time, Wednesday 5 June 2030 (the next day)" in tokyo
    new_york = text_of(client.get("/?tz=America/New_York"))
    assert "Your time: 18:00 New York time, Tuesday 4 June 2030 (the day before)" in new_york


def test_the_catalogue_offers_the_zone_picker_and_the_browsers_zone(demo, client):
    page = client.get("/?topic=cooperatives").get_data(as_text=True)
    assert '<select id="tz" name="tz" class="zone-select">' in page
    assert '<input type="hidden" name="topic" value="cooperatives">' in page  # the filter survives the picker
    assert 'class="browser-zone" hidden' in page and "js/timezone.js" in page and "js/zone-search.js" in page
    assert '<optgroup label="Americas">' in page


# -- cards ------------------------------------------------------------------------------------------


def test_cards_have_a_date_block_topic_chips_and_upcoming_looks_unlike_past(app, client):
    now = utcnow()
    with app.app_context():
        topic = make_topic("cooperatives", "Co-operatives")
        make_webinar(slug="soon", title="Soon", starts_at=now + timedelta(days=3), topics=[topic])
        make_webinar(slug="done", title="Done", starts_at=now - timedelta(days=3), recording_url="https://v.example/r")
        make_webinar(slug="live", title="On air", starts_at=now - timedelta(minutes=5))
        db.session.commit()
    page = client.get("/").get_data(as_text=True)
    cards = {
        slug: classes
        for classes, slug in re.findall(r'<article class="card ([^"]*)">.*?/webinars/([a-z]+)"', page, re.S)
    }
    assert "card-upcoming" in cards["soon"] and "card-past" in cards["done"] and "card-live" in cards["live"]
    assert page.count('class="date-block" aria-hidden="true"') == 3
    soon = page.split("/webinars/soon")[0].rsplit("<article", 1)[1]
    assert '<span class="date-day">' in soon
    text = text_of(client.get("/"))
    assert "Live now" in text and "Past webinar" in text and "Watch the recording" in text
    assert 'href="/?topic=cooperatives">Co-operatives</a>' in page


# -- the webinar page's first screen ----------------------------------------------------------------


def test_the_first_screen_holds_title_date_times_speakers_and_a_register_button(app, client):
    with app.app_context():
        make_webinar(
            slug="panel",
            title="Panel",
            starts_at=utcnow() + timedelta(days=8),
            summary="A long summary.",
            speakers=[("Keiko Tanaka", "Researcher", "JILPT", "Japan"), ("Claire Dubois", "", "OECD", "")],
        )
        db.session.commit()
    page = client.get("/webinars/panel?tz=Asia/Tokyo").get_data(as_text=True)
    hero = page.split('<header class="webinar-hero">', 1)[1].split("</header>", 1)[0]
    for part in ("<h1>Panel</h1>", 'class="when"', 'class="zones"', 'id="your-time"', "Keiko Tanaka", "Claire Dubois"):
        assert part in hero
    assert '<a class="button button-primary" href="#register">Register</a>' in hero
    # The summary and the zone picker come after; the button leads to the form, which takes focus.
    end_of_hero = page.index("</header>", page.index("webinar-hero"))
    assert end_of_hero < page.index("A long summary.") < page.index('class="zone-picker"')
    assert '<section class="registration" id="register" tabindex="-1"' in page


def test_a_past_webinar_leads_with_its_recording(app, client):
    with app.app_context():
        make_webinar(
            slug="old",
            starts_at=utcnow() - timedelta(days=30),
            recording_url="https://video.example.org/rec",
            description="The long description.",
        )
        db.session.commit()
    page = client.get("/webinars/old").get_data(as_text=True)
    hero = page.split('<header class="webinar-hero hero-past">', 1)[1].split("</header>", 1)[0]
    assert 'class="button button-primary" href="https://video.example.org/rec"' in hero
    assert page.index('id="recording-heading"') < page.index("The long description.")
    assert "Add to calendar" not in page and 'name="email"' not in page


def test_a_webinar_under_way_says_live_now_with_join_instructions_and_no_link(app, client):
    with app.app_context():
        make_webinar(slug="now", starts_at=utcnow() - timedelta(minutes=10), minutes=90)
        db.session.commit()
    response = client.get("/webinars/now")
    text = text_of(response)
    assert "Live now" in text and "The webinar is under way." in text
    assert "open your registration page from that email: it shows the link to join" in text
    assert "meet.example.org" not in response.get_data(as_text=True)  # the join link is for registrants only


def test_the_manage_page_shows_a_confirmed_registrant_how_to_join(app, client, smtp_server):
    make_registrable(app, starts_in=timedelta(minutes=30))
    post_form(client, "/webinars/tax-talk/register", form(), form_url="/webinars/tax-talk")
    deliver(app)
    [message] = smtp_server.messages
    path = manage_link(message)
    page = client.get(path).get_data(as_text=True)
    assert 'href="https://meet.example.org/secret-room"' in page and "How to join" in page
    assert "Live now" not in text_of(client.get(path))
    # While the webinar is under way, the page says so, with the link.
    with app.app_context():
        from webinars.catalogue.models import Webinar

        webinar = db.session.query(Webinar).one()
        webinar.starts_at = utcnow() - timedelta(minutes=5)
        webinar.ends_at = utcnow() + timedelta(minutes=55)
        db.session.commit()
    live = client.get(path).get_data(as_text=True)
    assert "Live now" in live and 'href="https://meet.example.org/secret-room"' in live


def test_add_to_calendar_offers_the_file_google_outlook_and_office_365(app, client):
    with app.app_context():
        make_webinar(slug="cal", starts_at=localize(datetime(2030, 1, 8, 9, 0), "Asia/Tokyo"), timezone="Asia/Tokyo")
        db.session.commit()
    page = client.get("/webinars/cal").get_data(as_text=True)
    assert 'href="/webinars/cal.ics"' in page
    assert "https://calendar.google.com/calendar/render?" in page
    assert "https://outlook.live.com/calendar/0/action/compose?" in page
    assert "https://outlook.office.com/calendar/0/action/compose?" in page
    assert "startdt=2030-01-08T00:00:00Z" in page


# -- the page after registering ---------------------------------------------------------------------


def _register(client, **overrides):
    response = post_form(client, "/webinars/tax-talk/register", form(**overrides), form_url="/webinars/tax-talk")
    assert response.status_code == 303
    return response.headers["Location"]


def test_the_page_after_registering_says_confirmed_with_calendar_links_and_how_to_join(app, client):
    make_registrable(app, capacity=5)
    page = client.get(_register(client))
    text = text_of(page)
    assert "Your seat is confirmed." in text and "How to join" in text
    assert "The link to join is private" in text
    html = page.get_data(as_text=True)
    assert "outlook.office.com" in html and "calendar.google.com" in html and "/webinars/tax-talk.ics" in html
    assert "meet.example.org" not in html  # the browser has not shown it owns the mailbox


def test_the_page_after_registering_says_waitlisted_when_the_webinar_is_full(app, client):
    make_registrable(app, capacity=1)
    _register(client, email="first@example.org")
    text = text_of(client.get(_register(client, email="second@example.org")))
    assert "The webinar is full: you are on the waiting list." in text
    assert "How to join" not in text and "Add to calendar" not in text


def test_the_page_after_registering_says_nothing_about_an_address_registered_before(app):
    """Registering an address that is already registered answers exactly as registering a new one: the
    same redirect and the same page, whatever the earlier registration's state."""
    make_registrable(app, capacity=2)
    first, again, newcomer = app.test_client(), app.test_client(), app.test_client()
    known = _register(first, email="known@example.org")
    repeated = _register(again, email="known@example.org")  # the existing registration stands
    fresh = _register(newcomer, email="fresh@example.org")
    assert known == repeated == fresh
    assert again.get(repeated).get_data() == newcomer.get(fresh).get_data()
    # Now full: a new address and a known confirmed one both read "waiting list", never "you already have a seat".
    full_known = _register(app.test_client(), email="known@example.org")
    full_new = _register(app.test_client(), email="third@example.org")
    assert full_known == full_new
    assert "you are on the waiting list" in text_of(app.test_client().get(full_new))


def test_a_forged_or_foreign_outcome_gets_the_neutral_page(app, client):
    make_registrable(app)
    make_registrable(app, slug="other")
    location = _register(client)
    token = location.split("outcome=", 1)[1]
    forged = client.get(f"/webinars/tax-talk/registered?outcome={token[:-3]}xyz")
    other = client.get(f"/webinars/other/registered?outcome={token}")
    for response in (forged, other, client.get("/webinars/tax-talk/registered")):
        text = text_of(response)
        assert response.status_code == 200 and "Thank you for registering" in text
        assert "Your seat is confirmed" not in text and "waiting list." not in text.split("The email says")[0]


def test_the_seed_page_reads_as_before_in_the_new_layout(demo, client):
    text = text_of(client.get(SEED_1))
    assert "Recording and materials" in text and "10:00 Paris time | 18:00 Tokyo time" in text
