"""Atom feeds of content items, site-wide and per topic, built with feedgen."""

from __future__ import annotations

from datetime import datetime, time

import pytz
from feedgen.feed import FeedGenerator
from flask import current_app
from flask_babel import gettext as _

from ..catalogue.models import Topic
from ..database import utcnow
from ..markup import markdown_to_html
from ..templating import page_locale
from ..urls import external_url, service_domain
from . import queries
from .models import ContentItem

FEED_LENGTH = 50


def item_url(item: ContentItem) -> str | None:
    """Where an item leads: its own page when it has a body, else its external link, else nowhere."""
    if item.has_page:
        return external_url("content.item", slug=item.slug)
    return item.external_url or None


def _entry_id(item: ContentItem) -> str:
    # Stable whatever the item's address becomes (RFC 4151 tag URI).
    return f"tag:{service_domain()},2026:content-item:{item.id}"


def _published(item: ContentItem) -> datetime | None:
    # The item's own date is a calendar date; Atom wants an instant: midnight UTC of that day.
    if item.published_on is None:
        return None
    return pytz.utc.localize(datetime.combine(item.published_on, time(0, 0)))


def atom_bytes(topic: Topic | None = None) -> bytes:
    items = queries.feed_items(topic, FEED_LENGTH)
    site = current_app.config["SITE_NAME"]
    if topic is None:
        page, self_url, title = (
            external_url("content.listing"),
            external_url("content.feed"),
            _("News and publications"),
        )
    else:
        page = external_url("content.topic", slug=topic.slug)
        self_url = external_url("content.topic_feed", slug=topic.slug)
        title = topic.name
    feed = FeedGenerator()
    feed.id(self_url)
    feed.title(f"{title} · {site}")
    feed.author({"name": site})
    feed.link(href=page, rel="alternate")
    feed.link(href=self_url, rel="self")
    feed.language(page_locale().split("_")[0])
    if topic is not None and topic.description:
        feed.subtitle(topic.description)
    feed.updated(max((item.updated_at for item in items), default=utcnow()))
    for item in items:
        entry = feed.add_entry(order="append")
        entry.id(_entry_id(item))
        entry.title(item.title)
        entry.updated(item.updated_at)
        if (published := _published(item)) is not None:
            entry.published(published)
        if (url := item_url(item)) is not None:
            entry.link(href=url, rel="alternate")
        entry.category(term=item.type, label=item.type_label)
        if item.label:
            entry.category(term=item.label)
        if item.summary:
            entry.summary(item.summary)
        if item.has_page:
            entry.content(str(markdown_to_html(item.body)), type="html")
        elif url is None:
            # Atom wants a link or a content element; an item known only by its title and summary says so.
            entry.content(item.summary or item.title, type="text")
    return feed.atom_str(pretty=False)
