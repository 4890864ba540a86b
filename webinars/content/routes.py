"""Public pages of the content part: topic pages, the listing of items, item pages, Atom feeds.

Query values come from anyone: a page number that is not one, an unknown type or topic get a
sentence on the page (or a 404 for a topic or page that does not exist), never a 5xx.
"""

from __future__ import annotations

import hashlib

from flask import Blueprint, abort, current_app, make_response, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from ..cache import app_cache
from ..catalogue import queries as catalogue_queries
from ..catalogue.viewer import remember, viewer_zone
from ..database import utcnow
from ..templating import page_locale
from . import feeds, queries
from .models import ITEM_TYPES, TYPE_LABELS

blueprint = Blueprint("content", __name__)


def _page_number() -> tuple[int, str | None]:
    """(page, what to tell the visitor about a value that is not a page number)."""
    raw = request.args.get("page")
    if raw is None or raw == "":
        return 1, None
    if raw.isascii() and raw.isdigit() and 0 < int(raw) <= queries.MAX_PAGE:
        return int(raw), None
    shown = raw if len(raw) <= 20 else raw[:20] + "…"
    return 1, _("“%(page)s” is not a page number; here is the first page.", page=shown)


def _item_type() -> tuple[str | None, str | None]:
    raw = request.args.get("type")
    if not raw:
        return None, None
    if raw in ITEM_TYPES:
        return raw, None
    shown = raw if len(raw) <= 40 else raw[:40] + "…"
    return None, _("We have no type “%(type)s”; showing every type.", type=shown)


def _type_choices() -> list[tuple[str, str]]:
    return [(name, str(TYPE_LABELS[name])) for name in ITEM_TYPES]


def _listing_context() -> dict:
    """What numbered listings need once per page rather than once per entry: each type's label in the
    page's language and the address prefix of item pages."""
    return {
        "type_labels": {name: str(TYPE_LABELS[name]) for name in ITEM_TYPES},
        "item_prefix": url_for("content.item", slug="x")[:-1],
    }


def _listing_status(page) -> int:
    # A page past the end is not found (crawlers stop there); the page still says where to go.
    return 404 if page.page > 1 and not page.items else 200


TOPIC_WEBINARS_CACHE_SIZE = 256


def _topic_webinars(topic, choice, now) -> Markup:
    """The topic's upcoming and recorded webinars. They are the same on every page and type of the
    topic's content, so they are rendered once per process for each topic, visitor zone, catalogue
    version and minute (when a webinar moves to the past), as the catalogue page is."""

    def render() -> Markup:
        return Markup(
            render_template(
                "content/_topic_webinars.html",
                topic=topic,
                upcoming=catalogue_queries.upcoming(now, topic),
                recorded=catalogue_queries.recorded(now, topic),
                viewer=choice,
                now=now,
            )
        )

    if choice.error:
        return render()  # echoes what the visitor typed: not worth caching
    key = (
        catalogue_queries.recent_catalogue_version(now),
        now.strftime("%Y%m%d%H%M"),
        topic.id,
        topic.slug,
        topic.name,
        choice.zone,
        page_locale(),
    )
    return app_cache("topic-webinars", TOPIC_WEBINARS_CACHE_SIZE).get_or_build(key, render)


@blueprint.get("/topics/<slug>")
def topic(slug: str):
    topic = catalogue_queries.topic_by_slug(slug)
    if topic is None:
        abort(404)
    now = utcnow()
    choice = viewer_zone(request)
    page_number, page_notice = _page_number()
    item_type, type_notice = _item_type()
    page = queries.listing(page_number, item_type=item_type, topic=topic)
    body = render_template(
        "content/topic.html",
        topic=topic,
        webinars_html=_topic_webinars(topic, choice, now),
        page=page,
        item_type=item_type,
        types=_type_choices(),
        notices=[n for n in (page_notice, type_notice) if n],
        **_listing_context(),
    )
    response = make_response(body, _listing_status(page))
    return remember(response, choice, current_app.config.get("SESSION_COOKIE_SECURE", False))


@blueprint.get("/topics/")
def topics():
    return render_template("content/topics.html", topics=catalogue_queries.all_topics())


@blueprint.get("/content/")
def listing():
    page_number, page_notice = _page_number()
    item_type, type_notice = _item_type()
    raw_topic = request.args.get("topic")
    topic = catalogue_queries.topic_by_slug(raw_topic)
    topic_notice = None
    if raw_topic and topic is None:
        shown = raw_topic if len(raw_topic) <= 40 else raw_topic[:40] + "…"
        topic_notice = _("We have no topic “%(topic)s”; showing every topic.", topic=shown)
    page = queries.listing(page_number, item_type=item_type, topic=topic)
    body = render_template(
        "content/listing.html",
        page=page,
        item_type=item_type,
        topic=topic,
        types=_type_choices(),
        topics=catalogue_queries.all_topics(),
        notices=[n for n in (page_notice, type_notice, topic_notice) if n],
        **_listing_context(),
    )
    return make_response(body, _listing_status(page))


@blueprint.get("/content/<slug>")
def item(slug: str):
    item = queries.public_item_or_404(slug)
    return render_template("content/item.html", item=item)


def _feed_response(topic=None):
    version = queries.feed_version(topic)
    key = repr((version, topic.slug if topic else None, topic.name if topic else None, page_locale()))
    key += current_app.config["BASE_URL"] + current_app.config["SITE_NAME"]
    etag = hashlib.sha256(key.encode()).hexdigest()[:32]
    if etag in request.if_none_match:
        response = make_response(b"", 304)
        response.set_etag(etag)
        return response
    response = make_response(feeds.atom_bytes(topic))
    response.headers["Content-Type"] = "application/atom+xml; charset=utf-8"
    response.headers["Cache-Control"] = "public, max-age=300"
    response.set_etag(etag)
    return response


@blueprint.get("/content/feed.atom")
def feed():
    return _feed_response()


@blueprint.get("/topics/<slug>/feed.atom")
def topic_feed(slug: str):
    topic = catalogue_queries.topic_by_slug(slug)
    if topic is None:
        abort(404)
    return _feed_response(topic)
