"""Jinja globals and filters: time labels, Markdown, the current instant."""

from flask import Flask, current_app
from flask_babel import get_locale

from . import timezones
from .database import utcnow
from .markup import markdown_to_html
from .urls import webcal_url


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
    )
    env.filters["utc_iso"] = timezones.utc_iso
    env.filters["markdown"] = markdown_to_html
    env.globals["webcal_url"] = webcal_url
