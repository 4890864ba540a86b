"""Every name of the tz database that pytz ships (zones and links, as tzdata.zi lists them) goes through
every place a zone name comes in from outside: the visitor's `?tz=` and cookie on the public pages, the
registration form, the organisers' webinar form (save and preview, then the edit page) and the zones
preview endpoint. None may answer 5xx: each name is either taken under a canonical zone or refused with
a clear message beside the field.

The names are read from the file here, not through webinars.timezones, so that a name the module
mishandles (tzdata.zi's `Factory`, which pytz refuses) cannot drop out of the test unseen.
"""

from __future__ import annotations

import html
from importlib.resources import files

import pytest
from sqlalchemy import select

from tests._support.forms import csrf_token
from tests.factories import make_topic, make_webinar
from tests.test_admin import signed_in
from tests.test_admin_webinars import webinar_form
from webinars.catalogue.models import Webinar
from webinars.extensions import db
from webinars.registrations.models import Registration
from webinars.timezones import canonical_zone_or_none, is_known_zone


def _tzdata_names() -> list[str]:
    text = files("pytz").joinpath("zoneinfo", "tzdata.zi").read_text(encoding="utf-8")
    names = []
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "Z":
            names.append(fields[1])
        elif fields and fields[0] == "L" and len(fields) == 3:
            names.append(fields[2])
    return sorted(set(names))


TZDATA_NAMES = _tzdata_names()
UNKNOWN_ZONE = "We do not know the time zone"
CHOOSE_FROM_LIST = "Choose a time zone from the list."


def test_the_tz_database_lists_names_pytz_refuses():
    # What makes this file necessary: tzdata.zi defines `Factory`, a zone pytz does not load.
    assert len(TZDATA_NAMES) > 500
    assert "Factory" in TZDATA_NAMES and not is_known_zone("Factory")


def test_every_name_is_a_zone_pytz_loads_or_no_zone_at_all():
    for name in TZDATA_NAMES:
        canonical = canonical_zone_or_none(name)
        assert canonical is None or is_known_zone(canonical), name
        assert (canonical is not None) == is_known_zone(name), name


# Each test takes the names in a few slices, so that parallel workers share the work.
SLICES = 3


def _slice(number: int) -> list[str]:
    return TZDATA_NAMES[number::SLICES]


def _public_site(app) -> str:
    with app.app_context():
        topic = make_topic("cooperatives", "Co-operatives")
        webinar = make_webinar(title="Every zone welcome", topics=[topic], display_zones=["Europe/Paris", "Asia/Tokyo"])
        db.session.commit()
        return webinar.slug


def _assert_zone_taken_or_explained(response, name: str, where: str) -> None:
    page = response.get_data(as_text=True)
    assert response.status_code == 200, f"{where} ?tz={name}: {response.status_code}"
    canonical = canonical_zone_or_none(name)
    if canonical is None:
        assert UNKNOWN_ZONE in html.unescape(page), f"{where}: {name} neither taken nor refused"
    else:
        assert f'selected value="{canonical}"' in page, f"{where}: {name} is not the selected zone"


def _bare_webinar_form(**fields) -> dict:
    """The organisers' form with only what the zones need: no agenda, partners or topics to store."""
    return webinar_form(agenda="", partners="", new_topics="", capacity="", **fields)


# Reading a zone from the address or a cookie stores nothing: SQLite is enough for these two.


@pytest.mark.parametrize("part", range(SLICES))
def test_every_tz_database_name_on_the_public_pages(sqlite_app, part):
    slug = _public_site(sqlite_app)
    client = sqlite_app.test_client()
    for name in _slice(part):
        for url in ("/", "/topics/cooperatives", f"/webinars/{slug}"):
            _assert_zone_taken_or_explained(client.get(url, query_string={"tz": name}), name, url)
        # The same name from the cookie: used when it names a zone, otherwise ignored.
        client.set_cookie("tz", name)
        response = client.get("/")
        assert response.status_code == 200, f"cookie tz={name}: {response.status_code}"
        canonical = canonical_zone_or_none(name)
        if canonical is not None:
            assert f'selected value="{canonical}"' in response.get_data(as_text=True), name
        client.delete_cookie("tz")


@pytest.mark.parametrize("part", range(SLICES))
def test_every_tz_database_name_in_the_organisers_previews(sqlite_app, part):
    organiser = signed_in(sqlite_app, sqlite_app.test_client())
    token = csrf_token(organiser, "/admin/webinars/new")
    for name in _slice(part):
        canonical = canonical_zone_or_none(name)
        fields = _bare_webinar_form(timezone=name, display_zones=name, csrf_token=token, action="preview")
        preview = organiser.post("/admin/webinars/new", data=fields)
        page = html.unescape(preview.get_data(as_text=True))
        if canonical is None:
            assert preview.status_code == 422, f"{name}: {preview.status_code}"
            assert CHOOSE_FROM_LIST in page and f"Unknown time zone: {name}." in page, name
        else:
            assert preview.status_code == 200, f"{name}: {preview.status_code}"
            assert f'selected value="{canonical}"' in page, name
        # The live preview beside the fields, as the page's script asks for it.
        answer = organiser.get(
            "/admin/preview/zones", query_string={"date": "2030-03-12", "time": "10:00", "zone": name, "zones": name}
        )
        assert answer.status_code == 200, f"{name}: {answer.status_code}"
        if canonical is None:
            assert answer.get_json() == {"line": "", "error": CHOOSE_FROM_LIST}, name
        else:
            assert answer.get_json()["error"] is None and answer.get_json()["line"], name


# What is stored, on both databases.


@pytest.mark.parametrize("part", range(SLICES))
@pytest.mark.app_config(REGISTRATIONS_PER_CLIENT=100_000, MAIL_UNCONFIRMED_PER_ADDRESS=100_000)
def test_every_tz_database_name_through_the_registration_form(app, part):
    slug = _public_site(app)
    client = app.test_client()
    token = csrf_token(client, f"/webinars/{slug}")
    expected = {}
    for number, name in enumerate(_slice(part)):
        email = f"zone{number}@example.org"
        data = {"csrf_token": token, "name": "Zoe", "email": email, "timezone": name}
        response = client.post(f"/webinars/{slug}/register", data=data)
        canonical = canonical_zone_or_none(name)
        if canonical is None:
            assert response.status_code == 422, f"{name}: {response.status_code}"
            assert CHOOSE_FROM_LIST in response.get_data(as_text=True), name
        else:
            assert response.status_code == 303, f"{name}: {response.status_code}"
            expected[email] = canonical
    with app.app_context():
        stored = dict(db.session.execute(select(Registration.email, Registration.timezone)).all())
    assert stored == expected


@pytest.mark.parametrize("part", range(SLICES))
def test_every_tz_database_name_through_the_organisers_webinar_form(app, part):
    organiser = signed_in(app, app.test_client())
    token = csrf_token(organiser, "/admin/webinars/new")
    for name in _slice(part):
        canonical = canonical_zone_or_none(name)
        fields = _bare_webinar_form(timezone=name, display_zones=name, csrf_token=token)
        saved = organiser.post("/admin/webinars/new", data=fields)
        if canonical is None:
            assert saved.status_code == 422, f"{name}: {saved.status_code}"
            page = html.unescape(saved.get_data(as_text=True))
            assert CHOOSE_FROM_LIST in page and f"Unknown time zone: {name}." in page, name
            continue
        assert saved.status_code == 302, f"{name}: {saved.status_code}"
        # The stored webinar's own pages read the zone back.
        edit = organiser.get(saved.headers["Location"].rstrip("/") + "/edit")
        assert edit.status_code == 200, f"{name}: the edit page answered {edit.status_code}"
        assert f'selected value="{canonical}"' in edit.get_data(as_text=True), name
    with app.app_context():
        zones = set(db.session.scalars(select(Webinar.timezone)))
    assert zones == {canonical_zone_or_none(name) for name in _slice(part)} - {None}
