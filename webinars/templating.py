"""Jinja globals and filters: time labels, Markdown, addresses as people read them, the current instant."""

from datetime import datetime
from functools import lru_cache
from types import SimpleNamespace

import pytz
from flask import Flask, get_template_attribute
from markupsafe import Markup, escape
from wtforms.fields.choices import Choice
from wtforms.widgets import Select, html_params

from . import timezones
from .addresses import shown_address
from .cache import Slot, app_cache, register_slot, slot
from .database import utcnow
from .labels import label
from .language import current_language
from .markup import markdown_to_html
from .urls import webcal_url

# The zone <select>s list ~420 zones: rendered option by option they were ~40% of a webinar page's CPU.
# The options depend only on the selected zone, the language and the quarter hour (the offsets shown),
# so each variant is built once per process.
ZONE_OPTIONS_CACHE_SIZE = 256


def _selected_zone(selected: str | None) -> str | None:
    # A value that is not a zone selects nothing; mapping it to None keeps arbitrary input out of the cache.
    return selected if isinstance(selected, str) and selected in timezones.selectable_zone_set() else None


def zone_options(selected: str | None, now=None) -> Markup:
    """The <optgroup>s and <option>s of every zone <select> (the visitor's picker, the registration
    form, the organisers' forms): 'Kolkata, India (UTC+05:30)' grouped by region, in the page's
    language, `selected` marked, written as WTForms's Select writes them. A zone that the list leaves
    out (Etc/GMT+5) comes first, selected, so that the select shows what the page shows. In a page
    rendered for the cache (`selected` the visitor's zone slot) a slot, filled for each visitor."""
    if isinstance(selected, Slot):
        return slot("zone-options")
    at = timezones.offsets_moment(now or utcnow())
    locale = page_locale()
    listed = _selected_zone(selected)
    options = _zone_options(listed, at, locale)
    if listed is None and selected and timezones.canonical_zone_or_none(selected) == selected:
        label = timezones.zone_option_label(selected, at, locale)
        return Select.render_option(Choice(selected, label, True, None)) + options
    return options


@lru_cache(maxsize=ZONE_OPTIONS_CACHE_SIZE)
def _zone_options(selected: str | None, at, locale: str) -> Markup:
    html = []
    for region, choices in timezones.zone_groups(at, locale):
        html.append(Markup("<optgroup {}>").format(Markup(html_params(label=region))))
        html.extend(Select.render_option(Choice(value, label, value == selected, None)) for value, label in choices)
        html.append(Markup("</optgroup>"))
    return Markup("").join(html)


# "Your time" lines of catalogue cards kept per process: (start, event zone, visitor's zone, language).
CARD_TIME_CACHE_SIZE = 8192


def your_time_on_card(webinar, zone) -> Markup:
    """A card's "Your time: ..." line (the card_your_time macro); in a card rendered for the cache
    (`zone` the visitor's zone slot) a slot, so that the card is the same for every zone."""
    if isinstance(zone, Slot):
        start = webinar.starts_at.astimezone(pytz.utc).replace(tzinfo=None).isoformat()  # naive UTC
        return slot("card-time", start, webinar.timezone)
    return get_template_attribute("_macros/time.html", "card_your_time")(webinar, zone)


def _fill_card_time(visitor: dict, start: str, event_zone: str) -> str:
    zone = visitor.get("zone")
    if not zone:
        return ""
    if "card-times" not in visitor:  # looked up once per page, not once per card
        visitor["card-times"] = (app_cache("card-times", CARD_TIME_CACHE_SIZE), page_locale())
    cache, locale = visitor["card-times"]

    def build() -> Markup:
        webinar = SimpleNamespace(starts_at=pytz.utc.localize(datetime.fromisoformat(start)), timezone=event_zone)
        return your_time_on_card(webinar, zone)

    return cache.get_or_build((start, event_zone, zone, locale), build)


def _fill_zone(visitor: dict) -> str:
    return str(escape(visitor.get("zone") or ""))


def _fill_zone_options(visitor: dict) -> str:
    return zone_options(visitor.get("zone"))


def page_locale() -> str:
    """The language of what is being rendered: the page's, or the recipient's while an email is written."""
    return timezones.current_locale()


def webinar_title(webinar) -> str:
    """The webinar's title in the reader's language (its French title for French readers, when it has one)."""
    return webinar.title_in(current_language())


def webinar_summary(webinar) -> str:
    return webinar.summary_in(current_language())


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
        zone_times=timezones.zone_times,
        zone_time=timezones.zone_time,
        zone_times_line=timezones.zone_times_line,
        time_range=timezones.time_range,
        zone_label=timezones.zone_label,
        zone_place=timezones.zone_place,
        day_shift=timezones.day_shift,
        date_block=timezones.date_block,
        day_date=timezones.day_date,
    )
    env.filters["utc_iso"] = timezones.utc_iso
    env.filters["utc_text"] = timezones.utc_text
    env.globals["label"] = label
    env.filters["markdown"] = markdown_to_html
    env.filters["address"] = shown_address  # marie@bücher.example, never xn--: what people read
    env.globals["webcal_url"] = webcal_url
    env.globals["zone_options"] = zone_options
    env.globals["webinar_title"] = webinar_title
    env.globals["webinar_summary"] = webinar_summary
    env.globals["your_time_on_card"] = your_time_on_card
    # The visitor's parts of pages kept in the cache (cache.py): their zone, the zone list with it chosen.
    register_slot("zone", _fill_zone)
    register_slot("zone-options", _fill_zone_options)
    register_slot("card-time", _fill_card_time)
