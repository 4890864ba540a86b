"""Public pages: the catalogue, the archive, one webinar page."""

from flask import Blueprint, current_app, make_response, render_template, request

from ..database import utcnow
from ..timezones import selectable_zones
from . import queries
from .viewer import remember, viewer_zone

blueprint = Blueprint("catalogue", __name__)


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < len(raw) < 7 else 1


@blueprint.get("/")
def index():
    now = utcnow()
    choice = viewer_zone(request)
    topic = queries.topic_by_slug(request.args.get("topic"))
    archive = queries.archive(now, _page_number(), current_app.config["ARCHIVE_PAGE_SIZE"], topic)
    body = render_template(
        "catalogue/index.html",
        upcoming=queries.upcoming(now, topic),
        archive=archive,
        topics=queries.topics_in_use(),
        topic=topic,
        topic_unknown=bool(request.args.get("topic")) and topic is None,
        viewer=choice,
        zones=selectable_zones(),
        now=now,
    )
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
        zones=selectable_zones(),
        now=now,
        is_past=webinar.is_past(now),
        **registration_context(webinar, choice.zone, now),
    )
    return remember(make_response(body), choice, current_app.config.get("SESSION_COOKIE_SECURE", False))
