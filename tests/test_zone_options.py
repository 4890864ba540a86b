"""The zone <select>s: named, grouped options from a per-process cache, the same HTML as WTForms writes."""

import re
from datetime import datetime

import pytest
import pytz
from werkzeug.datastructures import MultiDict
from wtforms.widgets import Select

from webinars.forms import zone_choices
from webinars.language import in_language
from webinars.registrations.forms import RegistrationForm
from webinars.templating import zone_options
from webinars.timezones import selectable_zones, zone_groups

SELECTIONS = [None, "Europe/Paris", "America/New_York", "America/Argentina/Buenos_Aires", "Mars/Olympus", ""]


@pytest.mark.parametrize("selected", SELECTIONS)
def test_registration_zone_field_renders_as_wtforms_select_does(sqlite_app, selected):
    with sqlite_app.test_request_context("/"):
        form = RegistrationForm(formdata=None, timezone=selected)
        cached = form.timezone(required=True, **{"aria-describedby": "timezone-help"})
        form.timezone.choices = zone_choices(form.timezone.data)
        plain = Select()(form.timezone, required=True, **{"aria-describedby": "timezone-help", "class": "zone-select"})
    assert cached == plain
    assert cached.count(" selected ") == (1 if selected in selectable_zones() else 0)
    assert "<optgroup" in cached


def test_a_zone_the_list_leaves_out_comes_first_and_selected(sqlite_app):
    with sqlite_app.test_request_context("/"):
        form = RegistrationForm(formdata=None, timezone="Etc/GMT+5")
        html = str(form.timezone())
    first_option = html.split("<option ", 2)[1]
    assert first_option.startswith('selected value="Etc/GMT+5">UTC\u221205:00<')


def test_options_name_each_zone_by_city_country_and_offset_in_the_page_language(sqlite_app):
    march = datetime(2024, 3, 12, 9, 0, tzinfo=pytz.utc)
    with sqlite_app.test_request_context("/"):
        english = str(zone_options("America/Sao_Paulo", now=march))
        with in_language("fr"):
            french = str(zone_options("America/Sao_Paulo", now=march))
    assert '<option selected value="America/Sao_Paulo">São Paulo, Brazil (UTC\u221203:00)</option>' in english
    assert '<option value="Asia/Kolkata">Kolkata, India (UTC+05:30)</option>' in english
    assert '<optgroup label="Americas">' in english and '<optgroup label="Universal time">' in english
    assert '<option selected value="America/Sao_Paulo">São Paulo, Brésil (UTC\u221203:00)</option>' in french
    assert '<option value="Asia/Kolkata">Calcutta, Inde (UTC+05:30)</option>' in french
    assert '<optgroup label="Amériques">' in french
    # What people read never carries an IANA id or an underscore.
    for html in (english, french):
        labels = re.findall(r"<option[^>]*>([^<]*)</option>", html)
        assert len(labels) == len(selectable_zones())
        assert not [label for label in labels if "_" in label or "/" in label]


def test_offsets_follow_the_season(sqlite_app):
    january, july = datetime(2024, 1, 15, tzinfo=pytz.utc), datetime(2024, 7, 15, tzinfo=pytz.utc)
    with sqlite_app.test_request_context("/"):
        assert "Paris, France (UTC+01:00)" in zone_options(None, now=january)
        assert "Paris, France (UTC+02:00)" in zone_options(None, now=july)
        assert "New York, United States (UTC\u221205:00)" in zone_options(None, now=january)


def test_every_selectable_zone_is_listed_once_under_one_region(sqlite_app):
    with sqlite_app.test_request_context("/"):
        groups = zone_groups(datetime(2024, 3, 12, tzinfo=pytz.utc))
    listed = [zone for _region, options in groups for zone, _label in options]
    assert sorted(listed) == sorted(selectable_zones())
    labels = [label for _region, options in groups for _zone, label in options]
    assert len(set(labels)) == len(labels)  # no two zones read the same
    assert groups[0][1][0] == ("UTC", "UTC")


@pytest.mark.parametrize(("zone", "valid"), [("Europe/Paris", True), ("Mars/Olympus", False), ("", False)])
def test_registration_zone_is_checked_against_the_choices(sqlite_app, zone, valid):
    with sqlite_app.test_request_context("/", method="POST"):
        form = RegistrationForm(
            MultiDict({"name": "Ada", "email": "ada@example.org", "timezone": zone}), meta={"csrf": False}
        )
        assert form.validate() is valid
        assert form.timezone.errors == ([] if valid else ["Choose a time zone from the list."])
