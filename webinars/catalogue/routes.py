"""Public pages: the catalogue, the archive, one webinar page."""

from flask import Blueprint, abort, current_app, jsonify, make_response, render_template, request

from ..cache import app_cache
from ..database import utcnow
from ..templating import page_locale
from ..timezones import zone_links
from . import calendars, queries
from .viewer import remember, viewer_zone

blueprint = Blueprint("catalogue", __name__)


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < len(raw) < 7 else 1


CATALOGUE_CACHE_SIZE = 256


def _catalogue_version(now) -> tuple:
    return queries.recent_catalogue_version(now)


@blueprint.get("/")
def index():
    now = utcnow()
    choice = viewer_zone(request)
    raw_topic = request.args.get("topic")
    topic = queries.topic_by_slug(raw_topic)
    page = _page_number()

    def render() -> str:
        return render_template(
            "catalogue/index.html",
            upcoming=queries.upcoming(now, topic),
            archive=queries.archive(now, page, current_app.config["ARCHIVE_PAGE_SIZE"], topic),
            topics=queries.topics_in_use(),
            topic=topic,
            topic_unknown=bool(raw_topic) and topic is None,
            viewer=choice,
            now=now,
        )

    if choice.error or (raw_topic and topic is None):
        body = render()  # echoes what the visitor typed: not worth caching
    else:
        # The page changes when a webinar does (the version) or when one moves from upcoming to the
        # archive (the minute): rendered once per process for each, then served from memory.
        key = (
            _catalogue_version(now),
            now.strftime("%Y%m%d%H%M"),
            choice.zone,
            topic.slug if topic else None,
            page,
            page_locale(),
        )
        body = app_cache("catalogue", CATALOGUE_CACHE_SIZE).get_or_build(key, render)
    return remember(make_response(body), choice, current_app.config.get("SESSION_COOKIE_SECURE", False))


@blueprint.get("/webinars/<slug>")
def webinar(slug: str):
    now = utcnow()
    webinar = queries.public_webinar_or_404(slug)
    choice = viewer_zone(request)
    from ..registrations.routes import registration_context

    body = render_template(
        "catalogue/webinar.html",
        webinar=webinar,
        viewer=choice,
        now=now,
        is_past=webinar.is_past(now),
        calendar_links=calendars.calendar_links(webinar),
        **registration_context(webinar, choice.zone, now),
    )
    return remember(make_response(body), choice, current_app.config.get("SESSION_COOKIE_SECURE", False))


def _calendar_response(body_or_none, etag: str, last_modified, filename: str | None):
    response = make_response(body_or_none() if callable(body_or_none) else b"")
    response.set_etag(etag)
    if last_modified is not None:
        response.last_modified = last_modified
    response.headers["Cache-Control"] = "public, max-age=300"
    response.mimetype = "text/calendar"
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    if filename:
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@blueprint.get("/calendar.ics")
def feed():
    """Subscribable feed; revalidation (If-None-Match) answers 304 after one aggregate query."""
    now = utcnow()
    topic = queries.topic_by_slug(request.args.get("topic"))
    if request.args.get("topic") and topic is None:
        abort(404)
    etag, last_modified = calendars.feed_version(now, topic)
    if etag in request.if_none_match:
        response = _calendar_response(None, etag, last_modified, None)
        response.status_code = 304
        response.set_data(b"")
        return response
    response = _calendar_response(lambda: calendars.cached_feed_bytes(etag, now, topic), etag, last_modified, None)
    return response.make_conditional(request)


@blueprint.get("/webinars/<slug>.ics")
def download(slug: str):
    webinar = queries.public_webinar_or_404(slug)
    etag = calendars.download_version(webinar)
    response = _calendar_response(
        lambda: calendars.download_bytes(webinar), etag, webinar.updated_at, f"{webinar.slug}.ics"
    )
    return response.make_conditional(request)


@blueprint.get("/time-zones.json")
def zone_names():
    """{"links": {old or alternative zone name: current name}} for the browser's zone offer
    (static/js/timezone.js): Intl reports names such as Asia/Calcutta that the pickers list as Asia/Kolkata."""
    response = jsonify(links=zone_links())
    # The same for every visitor until the next deploy brings a newer tz database.
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response
