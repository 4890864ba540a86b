"""The .ics download and the subscribable feed as served, read back with real parsers."""

from datetime import datetime, timedelta

import pytz
import vobject
from icalendar import Calendar
from sqlalchemy import select

from tests._support.icaljs import parse_with_icaljs
from tests.factories import make_topic, make_webinar
from webinars.catalogue.models import Webinar
from webinars.database import utcnow
from webinars.extensions import db


def _utc(value: datetime) -> datetime:
    return value.astimezone(pytz.utc)


def test_download_is_a_calendar_file_that_every_parser_reads_at_the_right_instant(app, client):
    with app.app_context():
        make_webinar(slug="seed", local_start=datetime(2023, 10, 27, 16, 0), timezone="Europe/Paris", minutes=75)
        db.session.commit()
    response = client.get("/webinars/seed.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="seed.ics"'
    data = response.data
    assert b"METHOD:PUBLISH" in data and b"\r\n" in data
    expected = pytz.utc.localize(datetime(2023, 10, 27, 14, 0))

    event = Calendar.from_ical(data).walk("VEVENT")[0]
    assert _utc(event.decoded("DTSTART")) == expected
    assert _utc(vobject.readOne(data.decode()).vevent.dtstart.value) == expected
    parsed = parse_with_icaljs(data)["events"][0]
    assert parsed["start"].startswith("2023-10-27T14:00:00")
    # The page and the file name the same permanent UID.
    assert b"https://meet.example.org" not in data  # the join link is for registrants only


def test_download_of_unknown_or_draft_webinar_is_404(app, client):
    with app.app_context():
        make_webinar(slug="hidden", status="draft")
        db.session.commit()
    assert client.get("/webinars/hidden.ics").status_code == 404
    assert client.get("/webinars/nothing.ics").status_code == 404


def test_feed_lists_recent_and_upcoming_keeps_cancelled_and_revalidates(app, client):
    now = utcnow()
    with app.app_context():
        coops = make_topic()
        make_webinar(slug="soon", title="Soon", starts_at=now + timedelta(days=3), topics=[coops])
        make_webinar(slug="gone", title="Gone", starts_at=now + timedelta(days=5), status="cancelled")
        make_webinar(slug="ancient", title="Ancient", starts_at=now - timedelta(days=500))
        make_webinar(slug="draft", title="Draft", starts_at=now + timedelta(days=5), status="draft")
        make_webinar(slug="recent", title="Recent", starts_at=now - timedelta(days=100))
        db.session.commit()
        uid_soon = db.session.scalar(select(Webinar.ical_uid).where(Webinar.slug == "soon"))

    response = client.get("/calendar.ics")
    assert response.status_code == 200
    cal = Calendar.from_ical(response.data)
    summaries = {str(e["SUMMARY"]): e for e in cal.walk("VEVENT")}
    # A cancelled entry says so in its title too: subscribed calendars (Google's) keep showing it.
    assert set(summaries) == {"Soon", "Cancelled: Gone", "Recent"}
    assert str(summaries["Cancelled: Gone"]["STATUS"]) == "CANCELLED"
    assert str(summaries["Soon"]["UID"]) == uid_soon
    assert b"X-WR-CALNAME:" in response.data and b"\r\nNAME:" in response.data
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H" in response.data
    assert {e["uid"] for e in parse_with_icaljs(response.data)["events"]} == {str(e["UID"]) for e in cal.walk("VEVENT")}

    download = Calendar.from_ical(client.get("/webinars/soon.ics").data).walk("VEVENT")[0]
    assert str(download["UID"]) == uid_soon

    etag = response.headers["ETag"]
    assert response.headers["Last-Modified"]
    again = client.get("/calendar.ics", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    # Unchanged data gives byte-identical output, so the ETag holds.
    assert client.get("/calendar.ics").data == response.data

    with app.app_context():
        soon = db.session.scalar(select(Webinar).where(Webinar.slug == "soon"))
        soon.title = "Soon, renamed"
        soon.touch()
        db.session.commit()
    changed = client.get("/calendar.ics", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and b"Soon\\, renamed" in changed.data

    by_topic = Calendar.from_ical(client.get("/calendar.ics?topic=cooperatives").data)
    assert [str(e["SUMMARY"]) for e in by_topic.walk("VEVENT")] == ["Soon, renamed"]
    assert client.get("/calendar.ics?topic=unknown").status_code == 404


def test_webinar_page_offers_download_google_outlook_and_webcal(app, client):
    with app.app_context():
        make_webinar(slug="links", local_start=datetime(2030, 1, 8, 9, 0), timezone="Asia/Tokyo")
        db.session.commit()
    html = client.get("/webinars/links").get_data(as_text=True)
    assert 'href="/webinars/links.ics"' in html
    assert "dates=20300108T000000Z/20300108T010000Z" in html
    assert "startdt=2030-01-08T00:00:00Z" in html
    assert "http://webinars.test/webinars/links" in html
    assert 'href="webcal://webinars.test/calendar.ics"' in html


def test_feed_built_once_per_etag_still_follows_a_topic_rename(app, client):
    # The built feed is kept per process under its ETag; renaming a topic does not touch its webinars.
    with app.app_context():
        coops = make_topic()
        make_webinar(slug="soon", title="Soon", starts_at=utcnow() + timedelta(days=3), topics=[coops])
        db.session.commit()
    first = client.get("/calendar.ics?topic=cooperatives")
    assert b"X-WR-CALNAME:" in first.data and b"Co-operatives" in first.data
    assert client.get("/calendar.ics?topic=cooperatives").data == first.data
    with app.app_context():
        make_topic().name = "Cooperatives and mutuals"
        db.session.commit()
    renamed = client.get("/calendar.ics?topic=cooperatives")
    assert renamed.headers["ETag"] == first.headers["ETag"]
    assert b"Cooperatives and mutuals" in renamed.data
