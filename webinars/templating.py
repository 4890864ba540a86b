"""Jinja globals and filters: time labels, Markdown, the current instant."""

from functools import lru_cache

from flask import Flask, current_app
from flask_babel import get_locale
from markupsafe import Markup
from wtforms.fields.choices import Choice
from wtforms.widgets import Select

from . import timezones
from .database import utcnow
from .markup import markdown_to_html
from .urls import webcal_url

# The zone <select>s list ~430 zones: rendered option by option they were ~40% of a webinar page's CPU.
# The option list depends only on which zone is selected, so each variant is built once per process.
ZONE_OPTIONS_CACHE_SIZE = 128


def _selected_zone(selected: str | None) -> str | None:
    # A value that is not a zone selects nothing; mapping it to None keeps arbitrary input out of the cache.
    return selected if isinstance(selected, str) and selected in timezones.selectable_zone_set() else None


def zone_picker_options(selected: str | None) -> Markup:
    """The zone picker's <option>s (templates/_macros/time.html), `selected` marked. A zone that the
    list leaves out (Etc/GMT+5) comes first, selected, so that the picker shows what the page shows."""
    listed = _selected_zone(selected)
    if listed is None and selected and timezones.canonical_zone_or_none(selected) == selected:
        extra = Markup('<option value="{}" selected>{}</option>').format(selected, selected.replace("_", " "))
        return extra + _zone_picker_options(None)
    return _zone_picker_options(listed)


@lru_cache(maxsize=ZONE_OPTIONS_CACHE_SIZE)
def _zone_picker_options(selected: str | None) -> Markup:
    option = Markup('<option value="{}"{}>{}</option>')
    return Markup("").join(
        option.format(value, Markup(" selected") if value == selected else "", label)
        for value, label in timezones.zone_choices()
    )


def zone_field_options(selected: str | None) -> Markup:
    """The same options as WTForms's Select widget writes them (attributes sorted: selected, value)."""
    return _zone_field_options(_selected_zone(selected))


@lru_cache(maxsize=ZONE_OPTIONS_CACHE_SIZE)
def _zone_field_options(selected: str | None) -> Markup:
    return Markup("").join(
        Select.render_option(Choice(value, label, value == selected, None)) for value, label in timezones.zone_choices()
    )


def page_locale() -> str:
    try:
        return str(get_locale() or timezones.DEFAULT_LOCALE)
    except RuntimeError:  # outside a request (e.g. rendering an email from the CLI)
        return current_app.config.get("BABEL_DEFAULT_LOCALE", timezones.DEFAULT_LOCALE)


def register(app: Flask) -> None:
    @app.context_processor
    def inject_helpers():
        return {
            "now": utcnow,
            "site_name": app.config["SITE_NAME"],
            "page_locale": page_locale(),
        }

    env = app.jinja_env
    env.globals.update(
        zone_times=lambda instant, zones: timezones.zone_times(instant, zones, page_locale()),
        zone_time=lambda instant, zone: timezones.zone_time(instant, zone, page_locale()),
        zone_times_line=lambda instant, zones: timezones.zone_times_line(instant, zones, page_locale()),
        time_range=lambda start, end, zone: timezones.time_range(start, end, zone, page_locale()),
        zone_label=lambda zone: timezones.zone_label(zone, page_locale()),
        day_date=lambda day: timezones.day_date(day, page_locale()),
    )
    env.filters["utc_iso"] = timezones.utc_iso
    env.filters["utc_text"] = timezones.utc_text
    env.filters["markdown"] = markdown_to_html
    env.globals["webcal_url"] = webcal_url
    env.globals["zone_picker_options"] = zone_picker_options
    env.globals["selectable_zones"] = timezones.selectable_zones
