"""The public catalogue and webinar pages, on SQLite and PostgreSQL."""

import re
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from tests.factories import make_topic, make_webinar
from webinars.catalogue.demo import load_demo_data
from webinars.catalogue.models import Webinar
from webinars.database import utcnow
from webinars.extensions import db

SEED_1 = "/webinars/worker-co-operatives-across-continents"
SEED_2 = "/webinars/platform-cooperatives-good-jobs-great-places"


def text_of(response) -> str:
    """The page's visible text, whitespace collapsed, so assertions read like what a person sees."""
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r"</?(strong|em|a|span|time|b|i|abbr)\b[^>]*>", "", html)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def demo(app):
    with app.app_context():
        load_demo_data()
    return app


def test_seed_webinars_show_their_times_as_the_seeds_state_them(demo, client):
    first = text_of(client.get(SEED_1))
    assert "Worker co-operatives across continents: Policy and practical experiences from Japan and beyond" in first
    assert "Tuesday 12 March 2024" in first
    assert "10:00 Paris time | 18:00 Tokyo time" in first
    for heading in ("Opening remarks", "Setting the scene", "Panel discussion", "International experiences"):
        assert heading in first
    assert "Japan Institute for Labour Policy and Training" in first

    second = text_of(client.get(SEED_2))
    assert "Friday 27 October 2023" in second
    assert "16:00 - 17:15 CEST" in second
    assert "Amal Chevreau, Policy Analyst, Local Employment, Skills and Social Innovation Division, OECD" in second
    assert "Paul Leinster, Councillor, Glasgow, Scotland, United Kingdom" in second


def test_your_time_line_for_new_york_and_cookie_remembers_it(demo, client):
    response = client.get(SEED_1 + "?tz=America/New_York")
    assert response.status_code == 200
    page = text_of(response)
    assert "Your time (New York, United States): Tuesday 12 March 2024, 05:00 - 07:00 EDT" in page
    assert "tz=America/New_York" in response.headers["Set-Cookie"]
    # The cookie brings the zone back without the query string.
    assert "Your time (New York, United States)" in text_of(client.get(SEED_2))


def test_unknown_zone_gives_a_clear_message_and_the_normal_page(demo, client):
    for bad in ["Mars/Olympus", "<script>alert(1)</script>", "x" * 5000, "Europe/Paris%00"]:
        response = client.get(SEED_1, query_string={"tz": bad})
        assert response.status_code == 200
        body = response.get_data(as_text=True)
        assert "We do not know the time zone" in body
        assert "<script>alert(1)</script>" not in body
        assert "10:00 Paris time | 18:00 Tokyo time" in text_of(response)
        assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize(
    ("asked", "current", "shown", "line"),
    [
        ("Asia/Calcutta", "Asia/Kolkata", "Kolkata, India", "14:30 - 16:30 IST"),
        ("asia/katmandu", "Asia/Kathmandu", "Kathmandu, Nepal", "14:45 - 16:45 UTC+05:45"),
        ("US/Eastern", "America/New_York", "New York, United States", "05:00 - 07:00 EDT"),
        ("utc", "UTC", "UTC", "09:00 - 11:00 UTC"),
    ],
)
def test_old_and_odd_zone_names_are_shown_and_remembered_under_their_current_name(
    demo, client, asked, current, shown, line
):
    response = client.get(SEED_1, query_string={"tz": asked})
    page = text_of(response)
    assert f"Your time ({shown}): Tuesday 12 March 2024, {line}" in page
    assert "We do not know the time zone" not in page
    assert f"tz={current}" in response.headers["Set-Cookie"]
    # The picker shows the zone as chosen rather than "Choose a time zone…".
    assert f'<option selected value="{current}">' in response.get_data(as_text=True)


def test_a_cookie_with_an_old_zone_name_is_read_and_rewritten(demo, client):
    client.set_cookie("tz", "Asia/Saigon")
    response = client.get(SEED_1)
    assert "Your time (Ho Chi Minh City, Vietnam)" in text_of(response)
    assert "tz=Asia/Ho_Chi_Minh" in response.headers["Set-Cookie"]


def test_the_browser_script_gets_every_zone_link_from_the_server(demo, client):
    response = client.get("/time-zones.json")
    assert response.status_code == 200
    links = response.get_json()["links"]
    assert links["Asia/Calcutta"] == "Asia/Kolkata" and links["America/Godthab"] == "America/Nuuk"
    assert "public" in response.headers["Cache-Control"]
    page = client.get(SEED_1).get_data(as_text=True)
    assert 'data-zone-links="/time-zones.json"' in page


def test_a_cancelled_webinars_page_offers_no_calendar_downloads(app, client):
    with app.app_context():
        live = make_webinar(local_start=datetime(2030, 5, 1, 10, 0))
        gone = make_webinar(local_start=datetime(2030, 5, 2, 10, 0), status="cancelled")
        db.session.commit()
        slugs = live.slug, gone.slug
    page = client.get(f"/webinars/{slugs[0]}").get_data(as_text=True)
    assert f"/webinars/{slugs[0]}.ics" in page and "calendar.google.com" in page and "outlook.live.com" in page
    page = client.get(f"/webinars/{slugs[1]}").get_data(as_text=True)
    assert "This webinar has been cancelled." in page
    assert f"/webinars/{slugs[1]}.ics" not in page
    assert "calendar.google.com" not in page and "outlook.live.com" not in page
    assert "Add to calendar" not in page


def test_garbage_cookie_is_ignored(demo, client):
    client.set_cookie("tz", "Not/AZone")
    response = client.get(SEED_1)
    assert response.status_code == 200
    assert "Your time" not in text_of(response)


def test_past_webinars_say_they_took_place_and_offer_the_recording(app, client):
    with app.app_context():
        make_webinar(
            slug="old-one",
            local_start=datetime(2023, 5, 1, 10, 0),
            recording_url="https://video.example.org/rec",
        )
        db.session.commit()
    page = client.get("/webinars/old-one").get_data(as_text=True)
    assert "This webinar took place on Monday 1 May 2023" in page
    assert "https://video.example.org/rec" in page
    assert 'name="email"' not in page


def test_catalogue_lists_upcoming_soonest_first_and_archives_the_past(app, client):
    now = utcnow()
    with app.app_context():
        make_webinar(slug="later", title="Later one", starts_at=now + timedelta(days=20))
        make_webinar(slug="sooner", title="Sooner one", starts_at=now + timedelta(days=2))
        make_webinar(slug="draft", title="Secret draft", starts_at=now + timedelta(days=1), status="draft")
        make_webinar(slug="past", title="Past one", starts_at=now - timedelta(days=30))
        make_webinar(slug="live", title="Live now", starts_at=now - timedelta(minutes=10), minutes=60)
        db.session.commit()
    page = text_of(client.get("/"))
    assert page.index("Live now") < page.index("Sooner one") < page.index("Later one")
    assert "Secret draft" not in page
    assert page.index("Later one") < page.rindex("Past one")
    assert client.get("/webinars/draft").status_code == 404


def test_archive_is_paginated(app, client):
    now = utcnow()
    app.config["ARCHIVE_PAGE_SIZE"] = 3
    with app.app_context():
        for i in range(7):
            make_webinar(slug=f"past-{i}", title=f"Archived number {i}", starts_at=now - timedelta(days=10 + i))
        db.session.commit()
    first = text_of(client.get("/"))
    assert "Archived number 0" in first and "Archived number 2" in first and "Archived number 3" not in first
    assert "Page 1 of 3" in first
    third = text_of(client.get("/?page=3"))
    assert "Archived number 6" in third and "Archived number 0" not in third
    # Nonsense page numbers fall back to the first page rather than erroring.
    for page in ["0", "-1", "abc", "99999999999999", "9"]:
        assert client.get(f"/?page={page}").status_code == 200


def test_topic_filter(app, client):
    now = utcnow()
    with app.app_context():
        coops = make_topic("cooperatives", "Co-operatives")
        digital = make_topic("digital", "Digital economy")
        make_webinar(slug="a", title="About co-ops", starts_at=now + timedelta(days=3), topics=[coops])
        make_webinar(slug="b", title="About platforms", starts_at=now + timedelta(days=4), topics=[digital])
        db.session.commit()
    page = text_of(client.get("/?topic=cooperatives"))
    assert "About co-ops" in page and "About platforms" not in page
    unknown = text_of(client.get("/?topic=nothing-like-this"))
    assert "We have no topic by that name" in unknown and "About platforms" in unknown


def test_unknown_slug_is_a_friendly_404_in_the_site_layout(app, client):
    response = client.get("/webinars/does-not-exist")
    assert response.status_code == 404
    page = text_of(response)
    assert "Page not found" in page
    assert "Back to the list of webinars" in page
    assert "Sign up to our newsletter" in page  # the site's footer
    assert client.get("/webinars/" + "x" * 5000).status_code == 404


def test_footer_links_to_the_newsletter_on_every_page(demo, client):
    for url in ["/", SEED_1, "/webinars/missing"]:
        assert "Sign up to our newsletter" in client.get(url).get_data(as_text=True)


def test_page_markup_is_accessible(demo, client):
    html = client.get(SEED_1).get_data(as_text=True)
    assert '<html lang="en">' in html
    assert 'class="skip-link" href="#main"' in html
    assert '<label for="tz">' in html
    assert '<time datetime="2024-03-12T09:00:00Z"' in html
    headings = [int(level) for level in re.findall(r"<h([1-6])\b", html)]
    assert headings[0] == 1 and all(b - a <= 1 for a, b in zip(headings, headings[1:], strict=False))
    assert "<script>" not in html  # CSP forbids inline script


def test_description_markdown_is_sanitised(app, client):
    with app.app_context():
        make_webinar(
            slug="md",
            starts_at=utcnow() + timedelta(days=5),
            description="**Bold** <script>alert(1)</script> [x](javascript:alert(1))",
        )
        db.session.commit()
    html = client.get("/webinars/md").get_data(as_text=True)
    assert "<strong>Bold</strong>" in html
    assert "<script>alert(1)</script>" not in html
    assert 'href="javascript:' not in html


def test_security_headers_on_every_response(demo, client):
    for url in ["/", SEED_1, "/missing", "/calendar.ics"]:
        headers = client.get(url).headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"]


def test_machine_time_zone_does_not_change_the_page(demo, client, monkeypatch):
    def render():
        return client.get(SEED_1 + "?tz=America/New_York").get_data(as_text=True)

    baseline = render()
    monkeypatch.setenv("TZ", "Pacific/Chatham")
    time.tzset()
    try:
        assert time.strftime("%z") in ("+1245", "+1345")
        assert render() == baseline
    finally:
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()


def test_demo_command_loads_once_and_dates_upcoming_webinars_from_today(app, runner):
    first = runner.invoke(args=["demo", "load", "--if-empty"])
    assert first.exit_code == 0, first.output
    assert "Loaded" in first.output
    again = runner.invoke(args=["demo", "load", "--if-empty"])
    assert "nothing loaded" in again.output
    with app.app_context():
        webinars = db.session.scalars(select(Webinar)).all()
        upcoming = [w for w in webinars if w.starts_at > utcnow()]
        assert len(upcoming) >= 3
        assert {w.timezone for w in upcoming} >= {"Asia/Tokyo", "America/New_York", "Australia/Sydney"}
        assert all(w.registration_open(utcnow()) for w in upcoming)
        assert len({w.ical_uid for w in webinars}) == len(webinars)


@pytest.mark.app_config(CATALOGUE_VERSION_SECONDS=0)
def test_cached_catalogue_shows_a_change_at_once(app, client):
    now = utcnow()
    with app.app_context():
        make_webinar(slug="first", title="First talk", starts_at=now + timedelta(days=3))
        db.session.commit()
    assert "First talk" in text_of(client.get("/"))
    assert "Second talk" not in text_of(client.get("/"))  # served from the cache this time
    with app.app_context():
        make_webinar(slug="second", title="Second talk", starts_at=now + timedelta(days=4))
        first = db.session.scalar(select(Webinar).where(Webinar.slug == "first"))
        first.status = "cancelled"
        first.touch()
        db.session.commit()
    page = text_of(client.get("/"))
    assert "Second talk" in page
    assert "Cancelled" in page


def test_cached_catalogue_shows_a_change_within_the_version_interval(app, client, monkeypatch):
    from webinars.catalogue import routes

    now = utcnow()
    app.config["CATALOGUE_VERSION_SECONDS"] = 2
    monkeypatch.setattr(routes, "utcnow", lambda: now)
    with app.app_context():
        make_webinar(slug="first", title="First talk", starts_at=now + timedelta(days=3))
        db.session.commit()
    assert "First talk" in text_of(client.get("/"))
    with app.app_context():
        make_webinar(slug="second", title="Second talk", starts_at=now + timedelta(days=4))
        db.session.commit()
    # Within the interval the page may be the one already rendered; once it has passed, never.
    monkeypatch.setattr(routes, "utcnow", lambda: now + timedelta(seconds=2.5))
    assert "Second talk" in text_of(client.get("/"))


def test_a_cached_catalogue_moves_a_webinar_to_the_archive_at_its_end_and_not_before(app, client, monkeypatch):
    from webinars.catalogue import routes

    now = utcnow().replace(microsecond=0)
    with app.app_context():
        make_webinar(slug="live", title="Ending soon", starts_at=now - timedelta(minutes=30), minutes=45)
        db.session.commit()

    def upcoming_titles() -> str:
        page = text_of(client.get("/"))
        return page.rsplit("Past webinars", 1)[0]  # before the archive's heading (the menu has it too)

    renders = []
    real = routes.queries.upcoming_page
    monkeypatch.setattr(routes.queries, "upcoming_page", lambda *a, **k: renders.append(1) or real(*a, **k))
    for minutes in (0, 5, 14):  # served from the cache until the webinar's end, however the clock moves
        monkeypatch.setattr(routes, "utcnow", lambda minutes=minutes: now + timedelta(minutes=minutes))
        assert "Ending soon" in upcoming_titles()
    assert len(renders) == 1
    monkeypatch.setattr(routes, "utcnow", lambda: now + timedelta(minutes=15, seconds=1))
    page = text_of(client.get("/"))
    coming, past = page.rsplit("Past webinars", 1)
    assert "Ending soon" not in coming and "Ending soon" in past


def test_a_cached_catalogue_says_live_when_a_webinar_starts(app, client, monkeypatch):
    """The card's own states (live, open for registration) change with the clock: the page kept in the
    cache is rendered again at the start, not served with a stale card."""
    from webinars.catalogue import routes

    now = utcnow().replace(microsecond=0)
    with app.app_context():
        make_webinar(slug="soon", title="Starting soon", starts_at=now + timedelta(minutes=10), minutes=60)
        db.session.commit()
    monkeypatch.setattr(routes, "utcnow", lambda: now)
    before = client.get("/").get_data(as_text=True)
    assert "Starting soon" in before and "Live now" not in before and "#register" in before
    monkeypatch.setattr(routes, "utcnow", lambda: now + timedelta(minutes=10, seconds=1))
    after = client.get("/").get_data(as_text=True)
    assert "Live now" in after and "#register" not in after
