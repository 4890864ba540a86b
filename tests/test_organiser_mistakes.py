"""One organiser's mistake never takes the site down.

What can be stored is bounded (dates from 2000 to 2100, capacity up to a million, every id in a URL,
the size of a request), each refusal explained beside its field; a row that cannot be shown (written
before the bounds, or by hand) is left out of public pages and feeds, flagged in the admin, and can
be fixed or cancelled there; two organisers saving the same slug at once get a calm 409.
"""

from __future__ import annotations

import icalendar
import pytest
import pytz
from sqlalchemy import func, select

from tests._support.forms import csrf_token, post_form
from tests.test_admin import signed_in
from tests.test_admin_webinars import webinar_form
from webinars.catalogue.models import Webinar
from webinars.extensions import db

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
