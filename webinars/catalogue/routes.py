"""Public pages: the catalogue, the archive, one webinar page."""

from flask import Blueprint, abort, current_app, jsonify, make_response, render_template, request, url_for
from markupsafe import Markup

from .. import signals
from ..cache import app_cache, cacheable_context, personal, rendering_for_cache, slot
from ..database import utcnow
from ..templating import page_locale
from ..timezones import zone_links
from . import calendars, queries
from .viewer import ViewerZone, remember, viewer_zone

blueprint = Blueprint("catalogue", __name__)


def _page_number(name: str = "page") -> int:
    raw = request.args.get(name, "1")
    return int(raw) if raw.isdigit() and 0 < len(raw) < 7 and int(raw) > 0 else 1


CATALOGUE_CACHE_SIZE = 256
# Rendered cards kept per process: every webinar of the first pages in every language, and then some.
CARD_CACHE_SIZE = 4096


def _catalogue_version(now) -> tuple:
    return queries.recent_catalogue_version(now)


def _cards(webinars, now, viewer) -> list[Markup]:
    """Each webinar's card, rendered once per webinar version, language and state (live, over, open
    for registration), the same for every visitor (their zone is a slot: `viewer` is the page's
    slot viewer): a catalogue page that is not in the cache is then a few queries and these pieces
    put together. Topics are loaded only for the cards being rendered."""
    locale = page_locale()
    cache = app_cache("cards", CARD_CACHE_SIZE)

    def key(webinar) -> tuple:
        states = (webinar.is_live(now), webinar.is_past(now), webinar.registration_open(now))
        return (webinar.id, webinar.updated_at, locale, states)

    queries.load_topics([webinar for webinar in webinars if key(webinar) not in cache])
    template = current_app.jinja_env.get_template("catalogue/_card.html")

    def card(webinar) -> Markup:
        return cache.get_or_build(
            key(webinar), lambda: Markup(template.render(webinar=webinar, now=now, viewer=viewer))
        )

    return [card(webinar) for webinar in webinars]


@blueprint.get("/")
def index():
    now = utcnow()
    choice = viewer_zone(request)
    raw_topic = request.args.get("topic")
    topic = queries.topic_by_slug(raw_topic)
    page, soon = _page_number(), _page_number("upcoming")
    # The page is rendered for every visitor at once: where it shows the visitor's zone (each card's
    # "your time", the zone picker) it holds a slot that personal() fills for each request.
    shown = ViewerZone(zone=slot("zone"), error=choice.error)

    def render() -> tuple[str, object]:
        """The page, and the moment it changes by itself (see queries.Page.next_change)."""
        upcoming = queries.upcoming_page(now, soon, current_app.config["UPCOMING_PAGE_SIZE"], topic)
        archive = queries.archive(now, page, current_app.config["ARCHIVE_PAGE_SIZE"], topic)
        with rendering_for_cache():
            body = render_template(
                "catalogue/index.html",
                upcoming=upcoming,
                upcoming_cards=_cards(upcoming.items, now, shown),
                archive=archive,
                archive_cards=_cards(archive.items, now, shown),
                topics=queries.topics_in_use(),
                topic=topic,
                topic_unknown=bool(raw_topic) and topic is None,
                viewer=shown,
                now=now,
            )
        return body, upcoming.next_change

    if choice.error or (raw_topic and topic is None):
        body, _ = render()  # echoes what the visitor typed: not worth caching
    else:
        # The page changes when a webinar does (the version) or by itself (a webinar starts, stops
        # taking registrations, or ends and moves to the archive): rendered once per process for each,
        # then served from memory until then, whatever the visitor's zone and address.
        key = (
            _catalogue_version(now),
            topic.slug if topic else None,
            page,
            soon,
            page_locale(),
            bool(request.args.get("lang")),  # the zone picker then carries ?lang= along
        )
        cache = app_cache("catalogue", CATALOGUE_CACHE_SIZE)
        body, changes_at = cache.get_or_build(key, render)
        if changes_at is not None and now >= changes_at:
            body, changes_at = render()
            cache.put(key, (body, changes_at))
    response = make_response(personal(body, zone=choice.zone))
    return remember(response, choice, current_app.config.get("SESSION_COOKIE_SECURE", False))


# Rendered webinar pages kept per process: one per webinar version, seats figure, zone and language.
WEBINAR_PAGE_CACHE_SIZE = 512


def _page_key(webinar, choice, now) -> tuple:
    """What a webinar page shows, beside the visitor's CSRF token: the webinar's row (every edit moves
    updated_at), what other parts put on it (the seats figure), the visitor's zone and language, the
    address (links back to it), and the three things the clock changes (live, over, open for registration)."""
    return (
        webinar.id,
        webinar.updated_at,
        webinar.sequence,
        webinar.status,
        tuple(signals.values_from(signals.webinar_page_version, webinar, now=now)),
        choice.zone,
        page_locale(),
        request.full_path,  # the language switch's links back here, the zone picker's kept ?lang=
        webinar.is_live(now),
        webinar.is_past(now),
        webinar.registration_open(now),
    )


@blueprint.get("/webinars/<slug>")
def webinar(slug: str):
    return webinar_page(queries.public_webinar_or_404(slug))


def webinar_page(webinar, *, preview_url: str | None = None):
    """A webinar's public page. With `preview_url` (the organisers' preview, which may show a draft):
    marked as a preview, the zone picker staying on that address, no calendar links, and the
    registration form shown as the public will get it but not usable."""
    now = utcnow()
    choice = viewer_zone(request)

    preview = preview_url is not None

    def render() -> str:
        queries.load_page(webinar)
        # Other parts' panels (registration, related content) come through a signal: the catalogue
        # does not import them.
        panels = signals.panels_from(
            signals.values_from(signals.webinar_page, webinar, viewer_zone=choice.zone, now=now, preview=preview)
        )
        context = {name: value for panel in panels for name, value in panel.context.items()}
        return render_template(
            "catalogue/webinar.html",
            webinar=webinar,
            viewer=choice,
            now=now,
            is_past=webinar.is_past(now),
            preview=preview,
            page_address=preview_url or url_for("catalogue.webinar", slug=webinar.slug),
            calendar_links=calendars.calendar_links(webinar),
            panels=panels,
            **context,
            **cacheable_context(),
        )

    if choice.error or preview:
        body = render()  # echoes what the visitor typed, or an organiser's preview: not worth caching
    else:
        body = app_cache("webinar-page", WEBINAR_PAGE_CACHE_SIZE).get_or_build(_page_key(webinar, choice, now), render)
    response = make_response(personal(body))
    return remember(response, choice, current_app.config.get("SESSION_COOKIE_SECURE", False))


def _calendar_response(etag: str, last_modified, filename: str | None, build, *, build_gzip=None):
    """A calendar answer, conditional on If-None-Match / If-Modified-Since: `build()` runs only for a 200.
    With `build_gzip`, a client that accepts gzip gets that representation (with its own ETag)."""
    response = make_response(b"")
    compressed = build_gzip is not None and request.accept_encodings["gzip"] > 0
    if build_gzip is not None:
        response.vary.add("Accept-Encoding")
    if compressed:
        etag, build = f"{etag}-gzip", build_gzip
        response.headers["Content-Encoding"] = "gzip"
    response.set_etag(etag)
    if last_modified is not None:
        response.last_modified = last_modified
    response.headers["Cache-Control"] = "public, max-age=300"
    response.mimetype = "text/calendar"
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    if filename:
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response = response.make_conditional(request)
    if response.status_code == 304:
        response.set_data(b"")
        return response
    response.set_data(build())
    return response


@blueprint.get("/calendar.ics")
def feed():
    """Subscribable feed; revalidation answers 304 after one aggregate query, without building. Clients
    that accept gzip (most calendar clients) get it compressed."""
    now = utcnow()
    topic = queries.topic_by_slug(request.args.get("topic"))
    if request.args.get("topic") and topic is None:
        abort(404)
    etag, last_modified = calendars.feed_version(now, topic)
    return _calendar_response(
        etag,
        last_modified,
        None,
        lambda: calendars.cached_feed_bytes(etag, now, topic),
        build_gzip=lambda: calendars.cached_feed_gzip(etag, now, topic),
    )


@blueprint.get("/webinars/<slug>.ics")
def download(slug: str):
    """One webinar's file: its row decides the ETag, so a 304 costs one indexed query; the body is built
    once per webinar version and process."""
    webinar = queries.public_webinar_or_404(slug)
    etag = calendars.download_version(webinar)
    return _calendar_response(
        etag, webinar.updated_at, f"{webinar.slug}.ics", lambda: calendars.cached_download_bytes(webinar, etag)
    )


@blueprint.get("/time-zones.json")
def zone_names():
    """{"links": {old or alternative zone name: current name}} for the browser's zone offer
    (static/js/timezone.js): Intl reports names such as Asia/Calcutta that the pickers list as Asia/Kolkata."""
    response = jsonify(links=zone_links())
    # The same for every visitor until the next deploy brings a newer tz database.
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response
