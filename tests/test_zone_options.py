"""The zone <select>s come from a per-process cache: the same HTML as rendering them option by option."""

import pytest
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from wtforms.widgets import Select

from webinars.registrations.forms import RegistrationForm
from webinars.templating import zone_picker_options
from webinars.timezones import selectable_zones

SELECTIONS = [None, "Europe/Paris", "America/New_York", "America/Argentina/Buenos_Aires", "Mars/Olympus", ""]


@pytest.mark.parametrize("selected", SELECTIONS)
def test_registration_zone_field_renders_as_wtforms_select_does(sqlite_app, selected):
    with sqlite_app.test_request_context("/"):
        form = RegistrationForm(formdata=None, timezone=selected)
        cached = form.timezone(required=True, **{"aria-describedby": "timezone-help"})
        plain = Select()(form.timezone, required=True, **{"aria-describedby": "timezone-help"})
    assert cached == plain
    assert cached.count(" selected ") == (1 if selected in selectable_zones() else 0)


@pytest.mark.parametrize("selected", SELECTIONS)
def test_zone_picker_options_match_the_template_loop(selected):
    expected = Markup("").join(
        Markup('<option value="{}"{}>{}</option>').format(
            name, Markup(" selected") if name == selected else "", name.replace("_", " ")
        )
        for name in selectable_zones()
    )
    assert zone_picker_options(selected) == expected


@pytest.mark.parametrize(("zone", "valid"), [("Europe/Paris", True), ("Mars/Olympus", False), ("", False)])
def test_registration_zone_is_checked_against_the_choices(sqlite_app, zone, valid):
    with sqlite_app.test_request_context("/", method="POST"):
        form = RegistrationForm(
            MultiDict({"name": "Ada", "email": "ada@example.org", "timezone": zone}), meta={"csrf": False}
        )
        assert form.validate() is valid
        assert form.timezone.errors == ([] if valid else ["Choose a time zone from the list."])
