"""One organiser's mistake never takes the site down.

What can be stored is bounded (dates from 2000 to 2100, capacity up to a million, every id in a URL,
the size of a request), each refusal explained beside its field; a row that cannot be shown (written
before the bounds, or by hand) is left out of public pages and feeds, flagged in the admin, and can
be fixed or cancelled there; two organisers saving the same slug at once get a calm 409.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import datetime, timedelta

import icalendar
import pytest
import pytz
from sqlalchemy import event, func, insert, select
from sqlalchemy.orm import Session

from tests._support.forms import csrf_token, post_form
from tests.factories import make_topic, make_webinar
from tests.test_admin import signed_in
from tests.test_admin_webinars import webinar_form
from webinars.audit import AuditEvent
from webinars.catalogue.models import Topic, Webinar, new_ical_uid
from webinars.database import utcnow
from webinars.extensions import db
from webinars.outbox.models import OutboxMessage
from webinars.outbox.sender import deliver_due
from webinars.registrations.models import Registration

HUGE = "99999999999999999999"


@pytest.fixture
def organiser_client(app, client):
    return signed_in(app, client)


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


# -- what can be stored is bounded ---------------------------------------------------------------


def test_an_id_too_large_for_the_database_in_a_url_is_a_404(app, organiser_client):
    for path in (
        f"/admin/webinars/{HUGE}",
        f"/admin/webinars/{HUGE}/edit",
        f"/admin/webinars/{HUGE}/registrations",
        f"/admin/webinars/{HUGE}/registrations.csv",
        f"/admin/newsletter/campaigns/{HUGE}",
        f"/admin/newsletter/campaigns/new?webinar={HUGE}",
        "/admin/webinars/2147483648",
    ):
        assert organiser_client.get(path).status_code == 404, path
    token = csrf_token(organiser_client, "/admin/")
    for path in (f"/admin/webinars/{HUGE}/publish", f"/admin/registrations/{HUGE}/cancel"):
        assert organiser_client.post(path, data={"csrf_token": token}).status_code == 404, path


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"start_date": "9999-12-31", "start_time": "23:30", "timezone": "Europe/Paris"}, "start_date"),
        ({"start_date": "0001-01-01", "start_time": "00:00", "timezone": "Asia/Tokyo"}, "start_date"),
        ({"start_date": "1999-12-31", "deadline_date": "", "deadline_time": ""}, "start_date"),
        ({"start_date": "2101-01-01", "deadline_date": "", "deadline_time": ""}, "start_date"),
        ({"deadline_date": "1999-12-31"}, "deadline_date"),
    ],
)
def test_dates_outside_2000_to_2100_are_refused_beside_the_field(app, organiser_client, overrides, field):
    response = post_form(organiser_client, "/admin/webinars/new", webinar_form(**overrides))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'id="{field}-error"' in page
    assert "Choose a date from 2000 to 2100." in page
    assert f'value="{overrides.get(field, "")}"' in page  # the input is kept
    assert _count(app, Webinar) == 0


@pytest.mark.parametrize("capacity", [str(10**19), "1000001", HUGE])
def test_a_capacity_above_a_million_is_refused_beside_the_field(app, organiser_client, capacity):
    response = post_form(organiser_client, "/admin/webinars/new", webinar_form(capacity=capacity))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="capacity-error"' in page and "at most 1,000,000" in page
    assert _count(app, Webinar) == 0


def test_a_capacity_of_a_million_is_accepted(app, organiser_client):
    assert post_form(organiser_client, "/admin/webinars/new", webinar_form(capacity="1000000")).status_code == 302


def test_the_zones_preview_refuses_dates_outside_the_range(organiser_client):
    for day in ("0001-01-01", "9999-12-31", "1999-12-31"):
        for zone in ("Etc/GMT-14", "Etc/GMT+12", "Asia/Tokyo"):
            response = organiser_client.get(f"/admin/preview/zones?date={day}&time=00:00&zone={zone}&zones=Asia/Tokyo")
            assert response.status_code == 200
            assert response.get_json() == {"line": "", "error": "Choose a date from 2000 to 2100."}


@pytest.mark.parametrize(
    ("day", "clock", "zone", "others"),
    [
        ("2000-01-01", "00:00", "Etc/GMT-14", "Etc/GMT+12 Pacific/Pago_Pago"),
        ("2100-12-31", "23:30", "Etc/GMT+12", "Pacific/Kiritimati Asia/Tokyo"),
    ],
)
def test_the_edges_of_the_range_work_everywhere(app, organiser_client, day, clock, zone, others):
    form = webinar_form(
        start_date=day,
        start_time=clock,
        timezone=zone,
        display_zones=others,
        duration_minutes=str(24 * 60),
        deadline_date="",
        deadline_time="",
        slug="edge",
    )
    response = post_form(organiser_client, "/admin/webinars/new", form)
    assert response.status_code == 302, response.get_data(as_text=True)
    webinar_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    post_form(organiser_client, f"/admin/webinars/{webinar_id}/publish", form_url=f"/admin/webinars/{webinar_id}")
    for path in (
        "/",
        "/webinars/edge",
        "/calendar.ics",
        "/webinars/edge.ics",
        "/admin/",
        f"/admin/webinars/{webinar_id}",
    ):
        response = organiser_client.get(path)
        assert response.status_code == 200, path
    [event] = icalendar.Calendar.from_ical(organiser_client.get("/webinars/edge.ics").data).walk("VEVENT")
    with app.app_context():
        assert event.decoded("DTSTART").astimezone(pytz.utc) == db.session.get(Webinar, webinar_id).starts_at


def test_the_cli_refuses_ids_beyond_the_database(app, runner):
    for command in ("progress", "resume"):
        result = runner.invoke(args=["newsletter", command, HUGE])
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert "is not in the range" in result.output


def test_a_request_body_too_large_gets_a_413_page_in_the_layout(app, client):
    response = client.post("/newsletter", data={"email": "a@example.org", "name": "x" * (5 * 1024 * 1024)})
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "Too large" in page and 'class="site-header"' in page


def test_the_longest_webinar_form_still_fits(app, organiser_client):
    """50,000 characters of Japanese in the description and in the agenda: 900 kB once URL-encoded."""
    form = webinar_form(description="日" * 50000, agenda="日本の協同組合\n" + "> " + "日" * 49000)
    response = post_form(organiser_client, "/admin/webinars/new", form)
    assert response.status_code == 302, response.status_code


# -- a row that cannot be shown never takes a page down ----------------------------------------

UTC = pytz.utc
BAD_ROWS = {
    # The case: 23:30 Paris on the last day of 9999 is 08:30 on 1 January 10000 in Tokyo.
    "year-9999": {"starts_at": datetime(9999, 12, 31, 22, 30, tzinfo=UTC), "timezone": "Europe/Paris"},
    "year-1": {"starts_at": datetime(1, 1, 1, 0, 0, tzinfo=UTC), "timezone": "Asia/Tokyo"},
    # A zone the tz database no longer has (US/Pacific-New went in 2020).
    "lost-zone": {"starts_at": datetime(2030, 6, 4, 8, 0, tzinfo=UTC), "timezone": "US/Pacific-New"},
}


def _bad_row(app, kind: str, status: str = "published") -> tuple[int, str]:
    """A good webinar, and a bad one written straight to the database (as an old row or a hand edit
    would be), with a topic, one registrant and one person on the waiting list."""
    with app.app_context():
        topic = make_topic()
        make_webinar(title="A good one", slug="good", topics=[topic], display_zones=["Europe/Paris", "Asia/Tokyo"])
        data = BAD_ROWS[kind]
        webinar = make_webinar(
            starts_at=data["starts_at"],
            timezone=data["timezone"],
            minutes=60,
            display_zones=[data["timezone"], "Asia/Tokyo"],
            title="Mistaken",
            slug="mistaken",
            status=status,
            capacity=1,
            topics=[topic],
        )
        for email, state in (("ana@example.org", "confirmed"), ("bo@example.org", "waitlisted")):
            db.session.add(
                Registration(webinar_id=webinar.id, email=email, name=email[:2], status=state, timezone="Asia/Tokyo")
            )
        db.session.commit()
        return webinar.id, webinar.ical_uid


@pytest.mark.parametrize("status", ["published", "cancelled"])
@pytest.mark.parametrize("kind", sorted(BAD_ROWS))
def test_a_row_that_cannot_be_shown_is_left_out_of_public_pages_and_logged(app, client, caplog, kind, status):
    _webinar_id, uid = _bad_row(app, kind, status)
    with caplog.at_level(logging.ERROR):
        home = client.get("/")
        feeds = [client.get("/calendar.ics"), client.get("/calendar.ics?topic=cooperatives")]
        assert client.get("/webinars/mistaken").status_code == 404
        assert client.get("/webinars/mistaken.ics").status_code == 404
        assert client.get("/webinars/good").status_code == 200
    assert home.status_code == 200
    page = home.get_data(as_text=True)
    assert "A good one" in page and "Mistaken" not in page
    for feed in feeds:
        assert feed.status_code == 200
        calendar = icalendar.Calendar.from_ical(feed.data)
        assert [str(e["SUMMARY"]) for e in calendar.walk("VEVENT")] == ["A good one"]
        assert uid not in feed.get_data(as_text=True)
    assert any(
        "mistaken" in record.getMessage() and "cannot be shown" in record.getMessage() for record in caplog.records
    )
    # Its registrants' own pages still open (without times no clock can show), and cancelling works.
    with app.app_context():
        from webinars.registrations.notifications import manage_token

        token = manage_token(db.session.scalar(select(Registration).where(Registration.email == "ana@example.org")))
    manage = client.get(f"/registrations/{token}")
    assert manage.status_code == 200 and "Mistaken" in manage.get_data(as_text=True)
    # Cancelling is answered calmly (a 409 when a past or cancelled webinar leaves nothing to cancel).
    assert post_form(client, f"/registrations/{token}", form_url="/webinars/good").status_code in (303, 409)
    # Registering for it is refused like for any webinar that is not public, without a 500.
    response = post_form(
        client, "/webinars/mistaken/register", {"name": "Cy", "email": "cy@example.org"}, form_url="/webinars/good"
    )
    assert response.status_code == 404


@pytest.mark.parametrize("kind", sorted(BAD_ROWS))
def test_the_admin_flags_a_row_that_cannot_be_shown_and_lets_the_organiser_fix_it(
    app, organiser_client, smtp_server, kind
):
    webinar_id, uid = _bad_row(app, kind)
    index = organiser_client.get("/admin/")
    assert index.status_code == 200
    assert "Mistaken" in index.get_data(as_text=True) and "cannot be shown" in index.get_data(as_text=True)
    for path in ("", "/registrations", "/registrations.csv", "/cancel"):
        assert organiser_client.get(f"/admin/webinars/{webinar_id}{path}").status_code == 200, path
    assert "cannot be shown" in organiser_client.get(f"/admin/webinars/{webinar_id}").get_data(as_text=True)
    # No announcement of a date that cannot be written: the organiser is told why, on the webinar's page.
    announce = organiser_client.get(f"/admin/newsletter/campaigns/new?webinar={webinar_id}")
    assert announce.status_code == 303 and announce.headers["Location"].endswith(f"/admin/webinars/{webinar_id}")
    assert "cannot be announced" in organiser_client.get(announce.headers["Location"]).get_data(as_text=True)
    edit = organiser_client.get(f"/admin/webinars/{webinar_id}/edit")
    assert edit.status_code == 200 and "cannot be shown" in edit.get_data(as_text=True)

    form = webinar_form(
        title="Mistaken no more",
        slug="mistaken",
        start_date="2030-06-04",
        start_time="10:00",
        timezone="Europe/Paris",
        display_zones="Asia/Tokyo",
        capacity="1",
        deadline_date="",
        deadline_time="",
        new_topics="",
        notify="y",
    )
    response = post_form(organiser_client, f"/admin/webinars/{webinar_id}/edit", form)
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        [details] = db.session.scalars(
            select(AuditEvent.details).where(AuditEvent.webinar_id == webinar_id, AuditEvent.action == "rescheduled")
        ).all()
        old = BAD_ROWS[kind]["starts_at"]
        was = f"{old.year:04d}-{old.month:02d}-{old.day:02d} {old:%H:%M} UTC"  # no zone's clock may show it
        if kind == "lost-zone":  # 10:00 Paris is the instant stored: only the zone and the end change
            assert "Time zone: US/Pacific-New → Paris, France" in details
        else:
            assert f"Start: {was} → 2030-06-04 10:00 (Paris, France, CEST)" in details
        deliver_due()
    # The registrant hears of the new time, and of the old one as it was stored.
    [update] = smtp_server.messages_to("ana@example.org")
    assert "17:00 Tokyo time" in update.body()
    assert (was in update.body()) == (kind != "lost-zone")
    assert "Mistaken no more" in organiser_client.get("/").get_data(as_text=True)
    assert organiser_client.get("/webinars/mistaken.ics").status_code == 200


@pytest.mark.parametrize("kind", sorted(BAD_ROWS))
def test_cancelling_a_row_that_cannot_be_shown_works_and_tells_the_registrants(
    app, organiser_client, smtp_server, kind
):
    webinar_id, _uid = _bad_row(app, kind)
    response = post_form(organiser_client, f"/admin/webinars/{webinar_id}/cancel", {"confirm": "y"})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Webinar, webinar_id).status == "cancelled"
        deliver_due()
    assert smtp_server.messages_to("ana@example.org") and smtp_server.messages_to("bo@example.org")
    assert "the organisers have cancelled this webinar" in smtp_server.messages_to("ana@example.org")[0].body()
    assert organiser_client.get("/").status_code == 200
    assert organiser_client.get(f"/admin/webinars/{webinar_id}").status_code == 200


def test_reminders_skip_a_row_that_cannot_be_shown_and_send_the_others(app, runner, smtp_server):
    with app.app_context():
        soon = utcnow().replace(microsecond=0)
        good = make_webinar(starts_at=soon + timedelta(minutes=30), slug="soon-good")
        bad = make_webinar(starts_at=soon + timedelta(minutes=30), timezone="US/Pacific-New", slug="soon-bad")
        for webinar, email in ((good, "good@example.org"), (bad, "bad@example.org")):
            db.session.add(
                Registration(
                    webinar_id=webinar.id,
                    email=email,
                    name="X",
                    status="confirmed",
                    created_at=soon - timedelta(days=3),
                    confirmed_at=soon - timedelta(days=3),
                )
            )
        db.session.commit()
    result = runner.invoke(args=["reminders", "send"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        deliver_due()
    assert smtp_server.messages_to("good@example.org") and not smtp_server.messages_to("bad@example.org")


def test_the_operations_refuse_what_the_forms_refuse(app):
    from webinars.catalogue.operations import OutOfRange, WebinarFields, create_webinar

    start = datetime(2030, 6, 4, 8, 0, tzinfo=pytz.utc)
    cases = [
        {
            "starts_at": datetime(9999, 12, 31, 22, 0, tzinfo=pytz.utc),
            "ends_at": datetime(9999, 12, 31, 23, tzinfo=pytz.utc),
        },
        {"capacity": 10**19},
        {"ends_at": start},
    ]
    with app.app_context():
        for case in cases:
            fields = {
                "title": "T",
                "starts_at": start,
                "ends_at": start + timedelta(hours=1),
                "timezone": "UTC",
                **case,
            }
            with pytest.raises(OutOfRange):
                create_webinar(WebinarFields(**fields), by=None, now=utcnow())
            db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Webinar)) == 0


# -- two organisers save the same thing at the same moment -----------------------------------------


@contextmanager
def another_organiser_saves_first(app, table, **row):
    """Right before this request writes, a second database session commits a row with the same unique
    key (`row`): the race of two organisers pressing Save at the same moment, made certain."""
    done = []

    def rival(session, flush_context, instances):
        if done or not any(getattr(obj, "__table__", None) is table for obj in session.new):
            return
        done.append(True)
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(insert(table).values(**row))

    event.listen(Session, "before_flush", rival)
    try:
        yield
    finally:
        event.remove(Session, "before_flush", rival)
    assert done, "the rival never wrote"


def _rival_webinar(slug: str) -> dict:
    now = utcnow()
    return {
        "slug": slug,
        "ical_uid": new_ical_uid("webinars.test"),
        "title": "The other organiser's",
        "starts_at": now,
        "ends_at": now + timedelta(hours=1),
        "timezone": "UTC",
        "status": "draft",
        "created_at": now,
        "updated_at": now,
    }


def test_two_organisers_saving_the_same_slug_at_once_get_a_calm_409(app, organiser_client):
    form = webinar_form(slug="same-slug", new_topics="")
    page = organiser_client.get("/admin/webinars/new")  # the form is open; then both press Save
    assert page.status_code == 200
    with another_organiser_saves_first(app, Webinar.__table__, **_rival_webinar("same-slug")):
        response = post_form(organiser_client, "/admin/webinars/new", form)
    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert 'id="slug-error"' in body and "Another webinar already uses this slug." in body
    assert 'value="Worker co-operatives across continents"' in body  # nothing typed is lost
    assert "Temporarily unavailable" not in body
    with app.app_context():
        assert db.session.scalars(select(Webinar.title)).all() == ["The other organiser's"]


def test_two_organisers_creating_the_same_new_topic_at_once_get_a_calm_409(app, organiser_client):
    form = webinar_form(new_topics="Care economy")
    with another_organiser_saves_first(app, Topic.__table__, slug="care-economy", name="Care economy"):
        response = post_form(organiser_client, "/admin/webinars/new", form)
    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert "at the same moment" in body and 'value="Care economy"' in body
    # Saving again works: the topic now exists and is reused.
    assert post_form(organiser_client, "/admin/webinars/new", form).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Topic)) == 1
